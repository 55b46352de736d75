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
from shared.scoring.handoff import HANDED_OFF


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
    """The `scoring_runs` row of each dropped (URI, generation), in order, once all are there
    (for a file the batch function handed to the pipeline, the pipeline's row of its run).

    Fails, saying why from the stack's own records, after `timeout_s`, or as soon as a file's
    event is dead-lettered (no run can come after that)."""
    from google.cloud import bigquery

    bq = clients.bigquery_client(settings.project, settings.endpoints())
    table = f"{settings.project}.{settings.dataset}.scoring_runs"
    deadline = time.monotonic() + timeout_s
    found: dict[tuple[str, int], dict[str, Any]] = {}
    while True:
        pending = sorted({uri for key in dropped if key not in found for uri in key[:1]})
        uris = bigquery.ArrayQueryParameter("uris", "STRING", pending)
        rows = bq.query(
            f"SELECT * FROM `{table}` WHERE source_uri IN UNNEST(@uris)",
            job_config=bigquery.QueryJobConfig(query_parameters=[uris]),
        ).result()
        for row in rows:
            key = (row["source_uri"], int(row["source_generation"]))
            # A file handed to the pipeline has its run recorded by the pipeline, later.
            if key in dropped and row["status"] != HANDED_OFF:
                found.setdefault(key, dict(row))
        if len(found) == len(dropped):
            return [found[key] for key in dropped]
        waiting = [key for key in dropped if key not in found]
        given_up = [key for key in waiting if _dead_letter(settings, *key) is not None]
        if given_up or time.monotonic() > deadline:
            shown = (given_up + [key for key in waiting if key not in given_up])[:_SHOWN]
            said = "; ".join(f"{uri}: {why_not_scored(settings, uri, g)}" for uri, g in shown)
            if len(waiting) > len(shown):
                said += f"; and {len(waiting) - len(shown)} more"
            raise LocalStackError(
                "score_file",
                f"no scoring run for {len(waiting)} of {len(dropped)} file(s) after "
                f"{timeout_s if not given_up else timeout_s - (deadline - time.monotonic()):.0f} "
                f"s: {said}",
            )
        time.sleep(0.5)


_SHOWN = 5  # files whose reason a failed wait spells out


def why_not_scored(settings: StackSettings, uri: str, generation: int) -> str:
    """What the stack's own records say of a file with no run yet: the batch function's last
    warning about it in its structured log, and whether its event was dead-lettered."""
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    key = f"{bucket}/{name}#{generation}"
    said = [
        entry["message"]
        for entry in _log_entries(settings.logs_dir / "score_file.log")
        if entry.get("severity") in ("WARNING", "ERROR")
        and (entry.get(_LABELS, {}).get("source") == key or key in str(entry.get("message")))
    ]
    function_said = f"the batch function said: {said[-1]}" if said else ""
    record = _dead_letter(settings, uri, generation)
    if record is not None:
        gave_up = (
            f"its event was dead-lettered after {record.get('attempts')} attempts "
            f"({settings.dead_letter_file})"
        )
        return f"{gave_up}; {function_said or 'the last attempt: ' + str(record['last_error'])}"
    if function_said:
        return f"{function_said} (see `cloudscore local logs score_file`)"
    return (
        "the batch function has logged nothing about it; see `cloudscore local status` and "
        "`cloudscore local logs bridge`"
    )


_LABELS = "logging.googleapis.com/labels"


def _dead_letter(settings: StackSettings, uri: str, generation: int) -> dict[str, Any] | None:
    """The dead-letter record of the file's event, if it was given up on."""
    _, _, name = uri.removeprefix("gs://").partition("/")
    for record in reversed(dead_letters(settings)):
        resource = _notified_object(record)
        if resource.get("name") == name and str(resource.get("generation")) == str(generation):
            return record
    return None


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
