"""Drop files in the local inbox and wait for their scoring runs, as a user of the cloud would:
upload to `incoming/`, then read `scoring_runs` until each (file, generation) has its row."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from pathlib import Path
from typing import Any

from local_emulator.settings import StackSettings
from local_emulator.stack import dead_letters
from shared import clients
from shared.errors import LocalStackError
from shared.events import INCOMING_PREFIX


def drop(settings: StackSettings, path: Path, name: str | None = None) -> tuple[str, int]:
    """Upload `path` as `incoming/<name or its file name>`; its gs:// URI and generation."""
    bucket = clients.storage_client(settings.project, settings.endpoints()).bucket(
        settings.inbox_bucket
    )
    blob = bucket.blob(INCOMING_PREFIX + (name or path.name))
    blob.upload_from_filename(str(path))
    return f"gs://{settings.inbox_bucket}/{blob.name}", int(blob.generation)


def wait_for_runs(
    settings: StackSettings, dropped: list[tuple[str, int]], timeout_s: float = 120.0
) -> list[dict[str, Any]]:
    """The `scoring_runs` row of each dropped (URI, generation), in order, once all are there."""
    bq = clients.bigquery_client(settings.project, settings.endpoints())
    table = f"{settings.project}.{settings.dataset}.scoring_runs"
    deadline = time.monotonic() + timeout_s
    found: dict[tuple[str, int], dict[str, Any]] = {}
    while True:
        for uri, generation in dropped:
            if (uri, generation) in found:
                continue
            rows = list(
                bq.query(
                    f"SELECT * FROM `{table}` WHERE source_uri = '{uri}' "
                    f"AND source_generation = {generation}"
                ).result()
            )
            if rows:
                found[(uri, generation)] = dict(rows[0])
        if len(found) == len(dropped):
            return [found[key] for key in dropped]
        if time.monotonic() > deadline:
            waiting = [
                f"{uri}: {why_not_scored(settings, uri, generation)}"
                for uri, generation in dropped
                if (uri, generation) not in found
            ]
            raise LocalStackError(
                "score_file",
                f"no scoring run after {timeout_s:.0f} s for " + "; ".join(waiting),
            )
        time.sleep(0.5)


def why_not_scored(settings: StackSettings, uri: str, generation: int) -> str:
    """What the stack's own records say of a file with no run yet: its dead-letter record, else
    the batch function's last warning about it in its structured log."""
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    for record in reversed(dead_letters(settings)):
        resource = _notified_object(record)
        if resource.get("name") == name and str(resource.get("generation")) == str(generation):
            return (
                f"its event was dead-lettered after {record.get('attempts')} attempts "
                f"({settings.dead_letter_file}); the last: {record.get('last_error')}"
            )
    key = f"{bucket}/{name}#{generation}"
    said = [
        entry["message"]
        for entry in _log_entries(settings.logs_dir / "score_file.log")
        if entry.get("severity") in ("WARNING", "ERROR") and key in str(entry.get("message"))
    ]
    if said:
        return f"the batch function said: {said[-1]} (see `cloudscore local logs score_file`)"
    return (
        "the batch function has logged nothing about it; see `cloudscore local status` and "
        "`cloudscore local logs bridge`"
    )


def _notified_object(record: dict[str, Any]) -> dict[str, Any]:
    """The object of a dead-lettered storage notification (its message's data)."""
    message = (record.get("data") or {}).get("message") or {}
    try:
        resource = json.loads(base64.b64decode(message.get("data") or ""))
    except ValueError:
        return {}
    return resource if isinstance(resource, dict) else {}


def _log_entries(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    entries = []
    for line in lines:
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict):
                entries.append(entry)
    return entries
