"""Score one file from the inbox into BigQuery: the use case behind the `score_file` function.

    claim (run id, model version and chunk size, fixed at the first attempt)
      └─► above the hand-off size: launch the pipeline on Dataflow, record `handed_off` (handoff)
      └─► stream the object's exact generation in chunks, from the first chunk not yet done
            └─► validate + score a chunk ─► load its predictions and rejected rows, once
            └─► save the progress (counts, drift statistics) beside the claim
      └─► copy the file to processed/ (or quarantine/) ─► one `scoring_runs` row ─► delete it

Every attempt, whether a redelivered event, a retry after a crash or the next slice of a file
larger than one attempt's time budget, carries on where the saved progress says. Loads are keyed
by chunk, so a chunk whose progress was not saved before a crash is loaded once anyway.

How a file ends, in `scoring_runs.status`:
    succeeded            every row scored
    partially_rejected   some rows rejected (each in `rejected_rows` with its reason)
    rejected             every row rejected (each in `rejected_rows`; the file goes to
                         processed/), or the file as a whole (not a format we read, no required
                         column, empty, unreadable from its start): nothing of it loaded, the
                         file goes to quarantine/
    failed               it could not be finished: unreadable or deleted part way, its model
                         version cannot be loaded, BigQuery refused the rows. The reason says
                         which rows were loaded; the file (if it still exists) goes to quarantine/
Transient failures (5xx, 429, timeouts) and an exhausted time budget raise `TransientError`
instead, so the platform delivers the event again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

import pandas as pd
from google.api_core import exceptions as api_exceptions

from shared.config import BatchConfig
from shared.drift import DriftCounts
from shared.errors import DataError, RegistryError, SinkError, TransientError, VersionNotFound
from shared.events import INCOMING_PREFIX, StorageObject
from shared.model_cache import ModelCache
from shared.registry import ModelVersion
from shared.retryable import transient_errors
from shared.scoring.bigquery_sink import BigQuerySink, job_id
from shared.scoring.claims import Claim, Progress, claim_file, read_progress, save_progress
from shared.scoring.core import HEAD_BYTES, RunInfo, row_days, score_stream
from shared.scoring.gone import NO_ROW_LOADED, gone_reason
from shared.scoring.handoff import HANDED_OFF, Handoff
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
    status: str  # succeeded, partially_rejected, rejected, failed, already_scored, handed_off
    reason: str | None
    rows_in: int
    rows_scored: int
    rows_rejected: int
    moved_to: str


@dataclass(frozen=True)
class _Ending:
    """Why a run ended before its last chunk was scored, or with nothing to score."""

    status: str  # rejected or failed
    reason: str


_DEFAULTS: Final = BatchConfig()


def score_object(
    obj: StorageObject,
    storage: storage.Client,
    sink: BigQuerySink,
    models: ModelCache,
    *,
    settings: BatchConfig = _DEFAULTS,
    clock: Callable[[], float] = time.monotonic,
    handoff: Handoff | None = None,
) -> RunOutcome:
    started = clock()
    try:
        # Read now, not from the cache: a file dropped after a promotion is scored by the new
        # champion (one small read per file; the model itself stays cached).
        champion = models.resolve("champion", fresh=True)
    except VersionNotFound as exc:
        # Not the file's fault: it waits, retried by the platform, until a model is promoted.
        raise TransientError(f"{obj.key} cannot be scored yet: {exc}") from exc
    claim, _ = claim_file(storage, obj, models.registry.model_name, champion, settings.chunk_rows)
    run = _FileRun(obj, storage, sink, claim)
    # A file the function began stays the function's: the pipeline would cut it otherwise.
    if handoff is not None and handoff.wanted(obj) and run.progress.chunks_done == 0:
        # Whether the pipeline recorded the run is read from its job (running, or done: then
        # it has), never from the load of the run's row, a job of the workers' account that
        # this function's may not read (a 403, retried until the event is given up on).
        handed = handoff.hand_off(obj, claim, sink, storage)
        if handed is not None:
            return RunOutcome(
                claim.run_id, claim.model_version, HANDED_OFF, f"Dataflow job {handed.job_id}",
                0, 0, 0, "",
            )  # fmt: skip
        # Gone before a job was launched on it: ended below as any file gone before it is read.
    if sink.is_done(job_id(claim.key, "run")):
        # Scored already (a redelivery, or a crash before the move): only the move may be left.
        _log.info("%s was already scored by run %s", obj.key, claim.run_id)
        delete_original(storage, obj)
        return RunOutcome(claim.run_id, claim.model_version, "already_scored", None, 0, 0, 0, "")
    try:
        loaded = models.get_version(claim.model_version)
    except RegistryError as exc:
        # The claim fixed this version for the whole file: another one would mix two models.
        return run.finish(
            _Ending("failed", f"model version {claim.model_version} cannot be loaded: {exc}")
        )
    # This instance scores one file at a time: all its cores are the model's.
    loaded.model.set_threads(os.cpu_count() or 1)
    ending: _Ending | None = None
    try:
        run.score_chunks(loaded, deadline=started + settings.time_budget_s, clock=clock)
    except (DataError, SinkError, api_exceptions.NotFound) as exc:
        ending = run.ending_of(exc)
    else:
        if run.progress.chunks_done == 0:
            ending = _Ending("rejected", f"{obj.uri}: the file is empty (no header, no rows)")
    return run.finish(ending)


class _FileRun:
    """One attempt at one file: its claim, the progress saved so far, its drift statistics."""

    def __init__(
        self, obj: StorageObject, storage: storage.Client, sink: BigQuerySink, claim: Claim
    ) -> None:
        self.obj = obj
        self.storage = storage
        self.sink = sink
        self.claim = claim
        self.started_at = datetime.now(UTC)
        self.progress, self._saved_generation = read_progress(storage, obj)
        self.drift: DriftCounts | None = None

    def score_chunks(
        self, loaded: ModelVersion, *, deadline: float, clock: Callable[[], float]
    ) -> None:
        """Score the chunks not yet done, saving the progress after each."""
        obj, claim = self.obj, self.claim
        contract = loaded.contract
        reference = loaded.reference
        drift = (
            DriftCounts.from_state(reference, self.progress.drift)
            if self.progress.drift
            else DriftCounts(reference)
        )
        self.drift = drift
        run = RunInfo(
            model_name=claim.model_name,
            model_version=claim.model_version,
            source_uri=obj.uri,
            source_generation=obj.generation,
            run_id=claim.run_id,
            scored_at=self.started_at,
        )
        blob = self.storage.bucket(obj.bucket).blob(obj.name, generation=obj.generation)
        with transient_errors(f"reading {obj.key}"), blob.open("rb") as stream:
            head = stream.read(HEAD_BYTES)
            stream.seek(0)
            fmt = detect_format(obj.name, obj.content_type, head)
            chunks = score_stream(
                stream,
                fmt,
                contract,
                loaded.model,
                run,
                name=obj.uri,
                chunk_rows=claim.chunk_rows,
                start_chunk=self.progress.chunks_done,
            )
            for index, scored in chunks:
                self.sink.load_once(PREDICTIONS, scored.predictions, job_id(claim.key, "p", index))
                self.sink.load_once(REJECTED_ROWS, scored.rejections, job_id(claim.key, "r", index))
                drift.add(
                    scored.features,
                    scored.predictions["score"].to_numpy(dtype="float64"),
                    row_days(scored.predictions),
                )
                progress = self.progress.after_chunk(
                    scored.rows_in, scored.rows_scored, scored.rows_rejected, drift.state()
                )
                self._saved_generation = save_progress(
                    self.storage, obj, progress, self._saved_generation
                )
                self.progress = progress
                if clock() > deadline:
                    raise TransientError(
                        f"{obj.key}: time budget reached after chunk {index} "
                        f"({progress.rows_in} rows); the next attempt carries on from there"
                    )

    def ending_of(self, exc: Exception) -> _Ending:
        obj, done = self.obj, self.progress
        if isinstance(exc, api_exceptions.NotFound):
            gone = gone_reason(obj.uri, obj.generation)
            return _Ending("failed", f"{gone}; {_loaded_rows(done)}")
        if isinstance(exc, SinkError) or done.chunks_done > 0:
            return _Ending("failed", f"{exc}; {_loaded_rows(done)}")
        # Unusable as a whole (not a format we read, no required column, garbled from the
        # start): nothing of it was loaded.
        return _Ending("rejected", str(exc))

    def finish(self, ending: _Ending | None) -> RunOutcome:
        obj, claim, progress = self.obj, self.claim, self.progress
        if ending is not None:
            status, reason = ending.status, ending.reason
        elif progress.rows_rejected == 0:
            status, reason = "succeeded", None
        elif progress.rows_scored == 0:
            status, reason = "rejected", "every row was rejected; see rejected_rows"
        else:
            status, reason = "partially_rejected", None
        # A file that was not scored in full waits in quarantine/ for someone to look at it.
        target_prefix = QUARANTINE_PREFIX if ending is not None else PROCESSED_PREFIX
        # Copy, record, then delete: a retry after a crash anywhere in between either scores
        # the file again (the original is still there) or finds the run recorded and the copy.
        moved_to = copy_generation(self.storage, obj, target_prefix)
        drift = None
        if self.drift is not None and self.drift.rows:
            # The bin counts too: monitoring adds them up over many files, which gives the
            # drift of all their rows together (PSIs of single files do not add up).
            drift = {**self.drift.summary(), "counts": self.drift.state()}
        row = {
            "run_id": claim.run_id,
            "source_uri": obj.uri,
            "source_generation": obj.generation,
            "model_version": claim.model_version,
            "status": status,
            "reason": reason,
            "rows_in": progress.rows_in,
            "rows_scored": progress.rows_scored,
            "rows_rejected": progress.rows_rejected,
            "bytes_in": obj.size,
            "started_at": self.started_at,
            "ended_at": datetime.now(UTC),
            "drift_summary": json.dumps(drift) if drift else None,
        }
        self.sink.load_once(SCORING_RUNS, pd.DataFrame([row]), job_id(claim.key, "run"))
        delete_original(self.storage, obj)
        log = _log.warning if status in ("rejected", "failed") else _log.info
        log(
            "%s %s: %d rows in, %d scored, %d rejected; %s%s",
            obj.key,
            status,
            progress.rows_in,
            progress.rows_scored,
            progress.rows_rejected,
            f"moved to {moved_to}" if moved_to else "nothing left to move",
            f"; {reason}" if reason else "",
            # A field of its own, for the deployment's log-based metric (infra/monitoring.tf).
            extra={"run_status": status},
        )
        return RunOutcome(
            run_id=claim.run_id,
            model_version=claim.model_version,
            status=status,
            reason=reason,
            rows_in=progress.rows_in,
            rows_scored=progress.rows_scored,
            rows_rejected=progress.rows_rejected,
            moved_to=moved_to,
        )


def _loaded_rows(done: Progress) -> str:
    if done.rows_in == 0:
        return NO_ROW_LOADED
    return (
        f"data rows 1-{done.rows_in} were loaded ({done.rows_scored} scored, "
        f"{done.rows_rejected} rejected) and the rest was not"
    )


def _destination(obj: StorageObject, prefix: str) -> str:
    return f"{prefix}{obj.generation}/{obj.name.removeprefix(INCOMING_PREFIX)}"


def copy_generation(storage: storage.Client, obj: StorageObject, prefix: str) -> str:
    """Copy the scored generation to `prefix/<generation>/<name>`; safe to repeat. The empty
    string when the generation no longer exists and no earlier attempt copied it."""
    bucket = storage.bucket(obj.bucket)
    destination = _destination(obj, prefix)
    with transient_errors(f"copying {obj.key} to {destination}"):
        source = bucket.blob(obj.name, generation=obj.generation)
        try:
            bucket.copy_blob(
                source,
                bucket,
                destination,
                source_generation=obj.generation,
                if_generation_match=0,
            )
        except api_exceptions.PreconditionFailed:
            pass  # a copy made by an earlier attempt is kept as it is
        except api_exceptions.NotFound:
            if bucket.get_blob(destination) is None:
                return ""
    return f"gs://{obj.bucket}/{destination}"


def delete_original(storage: storage.Client, obj: StorageObject) -> None:
    # Already gone, or overwritten by a newer generation, which is a file of its own.
    gone = (api_exceptions.NotFound, api_exceptions.PreconditionFailed)
    with transient_errors(f"deleting {obj.key}"), contextlib.suppress(*gone):
        storage.bucket(obj.bucket).delete_blob(obj.name, if_generation_match=obj.generation)
