"""The claim on a file: which run scores it, with which model version, fixed at the first attempt.

Storage events arrive at least once, and a retried or crashed attempt must carry on with the same
model version even if the champion moved meanwhile. The first attempt creates a small claim object
with a does-not-exist precondition; every later attempt (or a concurrent duplicate delivery) reads
that claim and adopts its run id and version. Claims live in the inbox bucket under `_claims/`,
outside `incoming/`, so they never trigger scoring.

Beside the claim, the run's progress: how many chunks are scored and loaded, with their counts
and drift statistics. An attempt that stops (its time budget spent, the instance gone) leaves
it behind, and the next attempt starts at the first chunk not yet done. The chunk size is part
of the claim, so every attempt cuts the file at the same rows.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from google.api_core import exceptions as api_exceptions

from shared.events import StorageObject
from shared.retryable import transient_errors

if TYPE_CHECKING:
    from google.cloud import storage

CLAIMS_PREFIX: Final = "_claims/"


@dataclass(frozen=True)
class Claim:
    source_uri: str
    source_generation: int
    model_name: str
    model_version: str
    run_id: str
    claimed_at: str
    chunk_rows: int

    @property
    def key(self) -> str:
        """Short, stable name of (file, generation, version): job ids are derived from it."""
        return run_key(self.source_uri, self.source_generation, self.model_name, self.model_version)


def run_key(source_uri: str, generation: int, model_name: str, model_version: str) -> str:
    """The scoring of one file generation by one model version, named for its load job ids: the
    batch function and the pipeline derive the same ids, so neither loads what the other did."""
    text = f"{source_uri}#{generation}@{model_name}:{model_version}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def claim_path(obj: StorageObject) -> str:
    digest = hashlib.sha256(obj.key.encode()).hexdigest()[:32]
    return f"{CLAIMS_PREFIX}{digest}.json"


def claim_file(
    client: storage.Client,
    obj: StorageObject,
    model_name: str,
    choose_version: str,
    chunk_rows: int,
) -> tuple[Claim, bool]:
    """The claim on this object generation: a new one with `choose_version` and `chunk_rows`, or
    the existing one (the bool says whether this call created it)."""
    blob = client.bucket(obj.bucket).blob(claim_path(obj))
    claim = Claim(
        source_uri=obj.uri,
        source_generation=obj.generation,
        model_name=model_name,
        model_version=choose_version,
        run_id=str(uuid.uuid4()),
        claimed_at=datetime.now(UTC).isoformat(),
        chunk_rows=chunk_rows,
    )
    with transient_errors(f"claiming {obj.key}"):
        try:
            blob.upload_from_string(
                json.dumps(asdict(claim)), content_type="application/json", if_generation_match=0
            )
            return claim, True
        except api_exceptions.PreconditionFailed:
            existing = json.loads(blob.download_as_bytes())
            return Claim(**existing), False


@dataclass(frozen=True)
class Progress:
    """What the attempts of one run have scored and loaded so far: chunks 0 … chunks_done - 1."""

    chunks_done: int = 0
    rows_in: int = 0
    rows_scored: int = 0
    rows_rejected: int = 0
    drift: dict[str, Any] | None = None  # DriftCounts.state()

    def after_chunk(
        self, rows_in: int, rows_scored: int, rows_rejected: int, drift: dict[str, Any]
    ) -> Progress:
        return Progress(
            chunks_done=self.chunks_done + 1,
            rows_in=self.rows_in + rows_in,
            rows_scored=self.rows_scored + rows_scored,
            rows_rejected=self.rows_rejected + rows_rejected,
            drift=drift,
        )


def progress_path(obj: StorageObject) -> str:
    return claim_path(obj).removesuffix(".json") + ".progress.json"


def read_progress(client: storage.Client, obj: StorageObject) -> tuple[Progress, int]:
    """The saved progress (none yet: nothing done) and the generation to save the next over."""
    blob = client.bucket(obj.bucket).blob(progress_path(obj))
    with transient_errors(f"reading the progress of {obj.key}"):
        try:
            blob.reload()
            saved = json.loads(blob.download_as_bytes(if_generation_match=blob.generation))
        except (api_exceptions.NotFound, api_exceptions.PreconditionFailed):
            # None yet; or replaced between the two calls, and then the next save re-reads.
            return Progress(), 0
    return Progress(**saved), int(blob.generation)


def save_progress(
    client: storage.Client, obj: StorageObject, progress: Progress, over_generation: int
) -> int:
    """Save `progress` over the version read as `over_generation` (0: none); the new generation.

    Two attempts of one file may run at once (a duplicate delivery). Both score the same chunks
    the same way, so whichever saved further is right: a save that finds another attempt's
    newer progress keeps the one with more chunks done.
    """
    blob = client.bucket(obj.bucket).blob(progress_path(obj))
    document = json.dumps(asdict(progress))
    with transient_errors(f"saving the progress of {obj.key}"):
        while True:
            try:
                blob.upload_from_string(
                    document, content_type="application/json", if_generation_match=over_generation
                )
                return int(blob.generation)
            except api_exceptions.PreconditionFailed:
                theirs, over_generation = read_progress(client, obj)
                if theirs.chunks_done >= progress.chunks_done:
                    return over_generation
