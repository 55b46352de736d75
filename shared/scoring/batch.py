"""Score one file from the inbox into BigQuery: the use case behind the `score_file` function.

    claim (run id + model version, fixed at the first attempt)
      └─► stream the object's exact generation in chunks
            └─► validate + score each chunk ─► load predictions and rejected rows, once per chunk
      └─► one `scoring_runs` row ─► move the file to processed/ (or quarantine/)

A retry after a crash, a timeout or a redelivered event walks the file again from the start:
chunks whose load jobs already ran are not loaded again (their job ids say so), so the result has
no gap and no duplicate. The time budget stops an attempt at a chunk boundary with a
`TransientError`, so the platform retries and the next attempt carries on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

import pandas as pd

from shared.contract import DataContract
from shared.errors import DataError, TransientError, VersionNotFound
from shared.events import INCOMING_PREFIX, StorageObject
from shared.model_cache import ModelCache
from shared.retryable import transient_errors
from shared.scoring.bigquery_sink import BigQuerySink, job_id
from shared.scoring.claims import Claim, claim_file
from shared.scoring.core import HEAD_BYTES, RunInfo, score_stream
from shared.scoring.readers import detect_format
from shared.tables import PREDICTIONS, REJECTED_ROWS, SCORING_RUNS

if TYPE_CHECKING:
    from google.cloud import storage

PROCESSED_PREFIX: Final = "processed/"
QUARANTINE_PREFIX: Final = "quarantine/"

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    model_version: str
    status: str  # succeeded, partially_rejected, rejected
    reason: str | None
    rows_in: int
    rows_scored: int
    rows_rejected: int
    moved_to: str


@dataclass(frozen=True)
class BatchSettings:
    chunk_rows: int = 50_000
    # Event functions get 540 s at most; stop early enough to record progress and answer.
    time_budget_s: float = 480.0


def score_object(
    obj: StorageObject,
    storage: storage.Client,
    sink: BigQuerySink,
    models: ModelCache,
    *,
    settings: BatchSettings = BatchSettings(),
    clock: Callable[[], float] = time.monotonic,
) -> RunOutcome:
    started_clock, started_at = clock(), datetime.now(UTC)
    try:
        champion = models.resolve("champion")
    except VersionNotFound as exc:
        # Not the file's fault: it waits, retried by the platform, until a model is promoted.
        raise TransientError(f"{obj.key} cannot be scored yet: {exc}") from exc
    claim, _ = claim_file(storage, obj, models.registry.model_name, champion)
    if sink.is_done(job_id(claim.key, "run")):
        # Scored already (a redelivery, or a crash before the move): only the move may be left.
        _log.info("%s was already scored by run %s", obj.key, claim.run_id)
        _delete_original(storage, obj)
        return RunOutcome(claim.run_id, claim.model_version, "already_scored", None, 0, 0, 0, "")
    loaded = models.get_version(claim.model_version)
    contract = DataContract.from_json(json.dumps(loaded.artifacts["contract.json"]))
    blob = storage.bucket(obj.bucket).blob(obj.name, generation=obj.generation)
    totals = {"in": 0, "scored": 0, "rejected": 0}
    reason: str | None = None
    run = RunInfo(
        model_name=claim.model_name,
        model_version=claim.model_version,
        source_uri=obj.uri,
        source_generation=obj.generation,
        run_id=claim.run_id,
        scored_at=started_at,
    )
    with transient_errors(f"reading {obj.key}"), blob.open("rb") as stream:
        head = stream.read(HEAD_BYTES)
        stream.seek(0)
        try:
            fmt = detect_format(obj.name, obj.content_type, head)
            chunks = score_stream(
                stream,
                fmt,
                contract,
                loaded.model,
                run,
                name=obj.uri,
                chunk_rows=settings.chunk_rows,
            )
            for index, scored in chunks:
                # Every attempt scores every chunk (the counts must add up); only loads that
                # an earlier attempt made are skipped, by their job ids.
                sink.load_once(PREDICTIONS, scored.predictions, job_id(claim.key, "p", index))
                sink.load_once(REJECTED_ROWS, scored.rejections, job_id(claim.key, "r", index))
                totals["in"] += scored.rows_in
                totals["scored"] += scored.rows_scored
                totals["rejected"] += scored.rows_rejected
                if clock() - started_clock > settings.time_budget_s:
                    raise TransientError(
                        f"{obj.key}: time budget of {settings.time_budget_s:.0f} s reached after "
                        f"chunk {index} ({totals['in']} rows); the next attempt carries on"
                    )
        except DataError as exc:
            # The whole file is unusable (unknown format, missing columns): nothing of it loads.
            reason = str(exc)
    return _finish(
        obj=obj,
        storage=storage,
        sink=sink,
        claim=claim,
        totals=totals,
        file_reason=reason,
        started_at=started_at,
    )


def _finish(
    *,
    obj: StorageObject,
    storage: storage.Client,
    sink: BigQuerySink,
    claim: Claim,
    totals: dict[str, int],
    file_reason: str | None,
    started_at: datetime,
) -> RunOutcome:
    if file_reason is not None:
        status = "rejected"
    elif totals["rejected"] == 0:
        status = "succeeded"
    elif totals["scored"] == 0:
        status = "rejected"
    else:
        status = "partially_rejected"
    target_prefix = QUARANTINE_PREFIX if file_reason is not None else PROCESSED_PREFIX
    # Copy, record, then delete: a retry after a crash anywhere in between either scores the
    # file again (the original is still there) or finds the run recorded and the copy made.
    moved_to = _copy(storage, obj, target_prefix)
    run = pd.DataFrame(
        [
            {
                "run_id": claim.run_id,
                "source_uri": obj.uri,
                "source_generation": obj.generation,
                "model_version": claim.model_version,
                "status": status,
                "reason": file_reason,
                "rows_in": totals["in"],
                "rows_scored": totals["scored"],
                "rows_rejected": totals["rejected"],
                "bytes_in": obj.size,
                "started_at": started_at,
                "ended_at": datetime.now(UTC),
                "drift_summary": None,
            }
        ]
    )
    sink.load_once(SCORING_RUNS, run, job_id(claim.key, "run"))
    _delete_original(storage, obj)
    _log.info(
        "%s %s: %d rows in, %d scored, %d rejected; moved to %s",
        obj.key,
        status,
        totals["in"],
        totals["scored"],
        totals["rejected"],
        moved_to,
    )
    return RunOutcome(
        run_id=claim.run_id,
        model_version=claim.model_version,
        status=status,
        reason=file_reason,
        rows_in=totals["in"],
        rows_scored=totals["scored"],
        rows_rejected=totals["rejected"],
        moved_to=moved_to,
    )


def _destination(obj: StorageObject, prefix: str) -> str:
    return f"{prefix}{obj.generation}/{obj.name.removeprefix(INCOMING_PREFIX)}"


def _copy(storage: storage.Client, obj: StorageObject, prefix: str) -> str:
    """Copy the scored generation to `prefix/<generation>/<name>`; safe to repeat."""
    from google.api_core import exceptions as api_exceptions

    bucket = storage.bucket(obj.bucket)
    destination = _destination(obj, prefix)
    with transient_errors(f"copying {obj.key} to {destination}"):
        source = bucket.blob(obj.name, generation=obj.generation)
        # A copy made by an earlier attempt is kept as it is.
        with contextlib.suppress(api_exceptions.PreconditionFailed):
            bucket.copy_blob(
                source,
                bucket,
                destination,
                source_generation=obj.generation,
                if_generation_match=0,
            )
    return f"gs://{obj.bucket}/{destination}"


def _delete_original(storage: storage.Client, obj: StorageObject) -> None:
    from google.api_core import exceptions as api_exceptions

    # Already gone, or overwritten by a newer generation, which is a file of its own.
    gone = (api_exceptions.NotFound, api_exceptions.PreconditionFailed)
    with transient_errors(f"deleting {obj.key}"), contextlib.suppress(*gone):
        storage.bucket(obj.bucket).delete_blob(obj.name, if_generation_match=obj.generation)
