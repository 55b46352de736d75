"""The claim on a file: which run scores it, with which model version, fixed at the first attempt.

Storage events arrive at least once, and a retried or crashed attempt must carry on with the same
model version even if the champion moved meanwhile. The first attempt creates a small claim object
with a does-not-exist precondition; every later attempt (or a concurrent duplicate delivery) reads
that claim and adopts its run id and version. Claims live in the inbox bucket under `_claims/`,
outside `incoming/`, so they never trigger scoring.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

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

    @property
    def key(self) -> str:
        """Short, stable name of (file, generation, version): job ids are derived from it."""
        text = f"{self.source_uri}#{self.source_generation}@{self.model_name}:{self.model_version}"
        return hashlib.sha256(text.encode()).hexdigest()[:24]


def claim_path(obj: StorageObject) -> str:
    digest = hashlib.sha256(obj.key.encode()).hexdigest()[:32]
    return f"{CLAIMS_PREFIX}{digest}.json"


def claim_file(
    client: storage.Client, obj: StorageObject, model_name: str, choose_version: str
) -> tuple[Claim, bool]:
    """The claim on this object generation: a new one with `choose_version`, or the existing one
    (the bool says whether this call created it)."""
    blob = client.bucket(obj.bucket).blob(claim_path(obj))
    claim = Claim(
        source_uri=obj.uri,
        source_generation=obj.generation,
        model_name=model_name,
        model_version=choose_version,
        run_id=str(uuid.uuid4()),
        claimed_at=datetime.now(UTC).isoformat(),
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
