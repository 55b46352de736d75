"""A file too large for the batch function's attempts goes to the scoring pipeline on Dataflow.

One attempt scores for CLOUDSCORE_BATCH_TIME_BUDGET_S; a file longer than that is carried on
attempt after attempt, one instance at a time. Above CLOUDSCORE_BATCH_HANDOFF_BYTES the function
launches the pipeline instead (`cloudscore.pipeline`, the same readers, contract, model and
tables) and records the file's run as `handed_off`, naming the job; the pipeline scores the file
under the same claim (run id and model version) and writes the run's final row.

Idempotent: the job is named after the claim's key (file, generation, model version), so a
redelivered event, or two deliveries at once, find the job launched first instead of starting
another (`PipelineLauncher.launch_once`), and the `handed_off` row is one load job keyed by the
claim. A job that failed or was cancelled is launched again by the next delivery of the event.

A generation gone before any job was launched on it (deleted or overwritten between its event
and the hand-off) launches none: the function records the run `failed`, as it records any file
gone before it is read. One gone after the launch is the job's to record (`cloudscore.pipeline`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

import pandas as pd

from shared.dataflow import PipelineLauncher, file_job_name, pipeline_parameters
from shared.events import StorageObject
from shared.scoring.bigquery_sink import BigQuerySink, job_id
from shared.scoring.claims import Claim
from shared.scoring.gone import generation_exists
from shared.tables import SCORING_RUNS

if TYPE_CHECKING:
    from google.cloud import storage

HANDED_OFF: Final = "handed_off"

_log = logging.getLogger(__name__)


def exact_source(obj: StorageObject) -> str:
    """The object's URI with its generation (`gs://bucket/name#generation`, as gcloud writes
    an object's version): the pipeline scores exactly the generation the event named."""
    return f"{obj.uri}#{obj.generation}"


@dataclass(frozen=True)
class Handoff:
    """What a hand-off needs: the size above which it happens, the pipeline's launcher (built
    on first use: the Dataflow client is imported only by an instance that hands off) and the
    CLOUDSCORE_* settings the pipeline's workers read."""

    above_bytes: int
    launcher: Callable[[], PipelineLauncher]
    worker_settings: Mapping[str, str]

    def wanted(self, obj: StorageObject) -> bool:
        return obj.size > self.above_bytes

    def hand_off(
        self, obj: StorageObject, claim: Claim, sink: BigQuerySink, storage: storage.Client
    ) -> HandedOff | None:
        """The file's job, launched now or found launched; None when its generation is gone
        and no job was ever launched on it: nothing of it was read, and no job would find
        anything to read (the caller records the run as it records any file gone unread)."""
        name = file_job_name(claim.key)
        bucket = storage.bucket(obj.bucket)
        launcher = self.launcher()
        if not generation_exists(bucket, obj.name, obj.generation) and not launcher.named(name):
            _log.info("%s is gone: no Dataflow job launched on it", obj.key)
            return None
        parameters = pipeline_parameters(
            [exact_source(obj)],
            self.worker_settings,
            model_version=claim.model_version,
            handoff_run_id=claim.run_id,
        )
        job, launched = launcher.launch_once(name, parameters)
        now = datetime.now(UTC)
        row = {
            "run_id": claim.run_id,
            "source_uri": obj.uri,
            "source_generation": obj.generation,
            "model_version": claim.model_version,
            "status": HANDED_OFF,
            "reason": (
                f"{obj.size} bytes, above CLOUDSCORE_BATCH_HANDOFF_BYTES ({self.above_bytes}): "
                f"scored by Dataflow job {job.id} ({name})"
            ),
            "rows_in": 0,
            "rows_scored": 0,
            "rows_rejected": 0,
            "bytes_in": obj.size,
            "started_at": now,
            "ended_at": None,
            "drift_summary": None,
        }
        sink.load_once(SCORING_RUNS, pd.DataFrame([row]), job_id(claim.key, HANDED_OFF))
        _log.info(
            "%s handed off to Dataflow job %s (%s, %s, %s)",
            obj.key,
            job.id,
            name,
            job.state,
            "launched now" if launched else "launched by an earlier delivery",
            extra={"run_status": HANDED_OFF, "pipeline_job": job.id},
        )
        return HandedOff(job.id, name, launched)


@dataclass(frozen=True)
class HandedOff:
    job_id: str
    job_name: str
    launched: bool
