"""Drop files in the local inbox and wait for their scoring runs, as a user of the cloud would:
upload to `incoming/`, then read `scoring_runs` until each (file, generation) has its row."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from local_emulator.settings import StackSettings
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
            waiting = ", ".join(
                uri for uri, generation in dropped if (uri, generation) not in found
            )
            raise LocalStackError(
                "score_file",
                f"no scoring run after {timeout_s:.0f} s for {waiting}; "
                "see `cloudscore local logs score_file` and `cloudscore local status`",
            )
        time.sleep(0.5)
