"""A file's run at the end of the pipeline: its splits' counts added up, one `scoring_runs` row
with the statuses of `score_file` (`shared.scoring.batch`), and a file of the inbox's incoming/
moved to processed/ or quarantine/ as `score_file` moves it.

    finish_file(start, results, job, output) -> a line saying how the file ended
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from cloudscore.pipeline.options import JobSettings
from cloudscore.pipeline.work import FileStart, SplitResult
from shared.drift import DriftCounts
from shared.events import INCOMING_PREFIX, StorageObject
from shared.scoring.batch import (
    PROCESSED_PREFIX,
    QUARANTINE_PREFIX,
    copy_generation,
    delete_original,
)
from shared.scoring.bigquery_sink import job_id
from shared.tables import SCORING_RUNS


def finish_file(
    start: FileStart,
    results: Sequence[SplitResult],
    job: JobSettings,
    output: Any,
    reference: dict[str, Any],
) -> str:
    file_job = start.job
    item, run = file_job.file, file_job.run
    if start.already_scored:
        return f"{item.uri}: scored already by run {run.run_id}"
    if start.ending is None and len(results) != start.splits:
        # Every split reports once per successful bundle; fewer is a bug, never a count to trust.
        raise RuntimeError(
            f"{item.uri}: {len(results)} of its {start.splits} splits reported; not recorded"
        )
    ordered = sorted(results, key=lambda r: r.index)
    rows_in = sum(r.rows_in for r in ordered)
    rows_scored = sum(r.rows_scored for r in ordered)
    rows_rejected = sum(r.rows_rejected for r in ordered)
    drift = DriftCounts(reference)
    for result in ordered:
        drift.absorb(result.drift)
    status, reason = _status(start, ordered, rows_scored, rows_rejected, rows_in)
    moved = _move(file_job.file, job, quarantine=status == "failed" or start.ending is not None)
    row = {
        "run_id": run.run_id,
        "source_uri": item.uri,
        "source_generation": item.generation,
        "model_version": run.model_version,
        "status": status,
        "reason": reason,
        "rows_in": rows_in,
        "rows_scored": rows_scored,
        "rows_rejected": rows_rejected,
        "bytes_in": None if item.gone else item.size,
        "started_at": run.scored_at,
        "ended_at": datetime.now(UTC),
        "drift_summary": _drift_summary(drift),
    }
    output.load_once(SCORING_RUNS, pd.DataFrame([row]), job_id(file_job.key, "run"))
    if moved is not None:
        delete_original(*moved)
    return f"{item.uri} {status}: {rows_in} rows in, {rows_scored} scored, {rows_rejected} rejected"


def _status(
    start: FileStart,
    results: Sequence[SplitResult],
    rows_scored: int,
    rows_rejected: int,
    rows_in: int,
) -> tuple[str, str | None]:
    if start.ending is not None:
        return start.ending
    failed = [r for r in results if r.error]
    if failed:
        first = failed[0]
        return "failed", (
            f"{first.error}; loaded: the rows read of each split ({rows_in} rows, "
            f"{rows_scored} scored, {rows_rejected} rejected), the rest of split "
            f"{first.index + 1} of {len(results)} (from row {first.first_row_number} on) was "
            "not read"
        )
    if rows_rejected == 0:
        status, reason = "succeeded", None
    elif rows_scored == 0:
        status, reason = "rejected", "every row was rejected; see rejected_rows"
    else:
        status, reason = "partially_rejected", None
    if start.note:
        reason = f"{reason}; {start.note}" if reason else start.note
    return status, reason


def _drift_summary(drift: DriftCounts) -> str | None:
    """As `score_file` writes it: PSIs and the bin counts behind them (which add up)."""
    if not drift.rows:
        return None
    return json.dumps({**drift.summary(), "counts": drift.state()})


def _move(item: Any, job: JobSettings, *, quarantine: bool) -> tuple[Any, StorageObject] | None:
    """A file of the inbox's incoming/ copied to processed/ or quarantine/ (the copy first, the
    delete after the run is recorded, as `score_file` does); other sources are left alone."""
    if item.kind != "gcs" or not job.needs_cloud:
        return None
    cloud = job.cloud
    if item.bucket != cloud.inbox_bucket or not item.name.startswith(INCOMING_PREFIX):
        return None
    from shared.clients import storage_client

    storage = storage_client(cloud.project)
    obj = StorageObject(item.bucket, item.name, item.generation, item.size, item.content_type, "")
    copy_generation(storage, obj, QUARANTINE_PREFIX if quarantine else PROCESSED_PREFIX)
    return storage, obj
