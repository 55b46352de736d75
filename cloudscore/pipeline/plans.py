"""A file's split size, fixed by the first launch that plans it and reused by every later one.

The load job ids of a split name its extent, so a job run again over the same file must cut it
at the same places: with another --split_bytes, its splits would load under other ids and add
their rows a second time. The first launch to plan a file (generation, model version) records
its split size with a does-not-exist precondition, as the batch function claims a file
(`shared.scoring.claims`); a later or concurrent launch reads that record and cuts the file as
it says. Records live in the inbox bucket under `_plans/`, outside `incoming/`, so they never
trigger scoring; with `--output_dir`, in that directory's `_plans/`.

    plans_for(job) -> Plans
    Plans.split_bytes(key, file, wanted) -> the split size the file is cut by
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from shared.retryable import transient_errors

if TYPE_CHECKING:
    from cloudscore.pipeline.inputs import InputFile
    from cloudscore.pipeline.options import JobSettings

PLANS_PREFIX: Final = "_plans/"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlanRecord:
    source_uri: str
    source_generation: int
    key: str  # `shared.scoring.claims.run_key`: the file, its generation and the model version
    split_bytes: int


class Plans(Protocol):
    def record(self, plan: PlanRecord) -> PlanRecord:
        """`plan` if it is the first for its key, else the one recorded first."""
        ...


def plans_for(job: JobSettings) -> Plans:
    if job.output_dir is not None:
        return DirectoryPlans(Path(job.output_dir) / PLANS_PREFIX)
    from shared.clients import storage_client

    cloud = job.cloud
    return GcsPlans(storage_client(cloud.project).bucket(cloud.inbox_bucket))


def split_bytes(plans: Plans, key: str, file: InputFile, wanted: int) -> int:
    """The split size `file` is cut by under `key`: `wanted` unless a launch before chose."""
    recorded = plans.record(PlanRecord(file.uri, file.generation, key, wanted))
    if recorded.split_bytes != wanted:
        _log.warning(
            "%s#%d: cut into splits of %d bytes, as a launch before this one planned it "
            "(not %d: the splits already loaded must not load again under other ids)",
            file.uri,
            file.generation,
            recorded.split_bytes,
            wanted,
        )
    return recorded.split_bytes


class GcsPlans:
    def __init__(self, bucket: Any) -> None:
        self.bucket = bucket

    def record(self, plan: PlanRecord) -> PlanRecord:
        from google.api_core import exceptions as api_exceptions

        blob = self.bucket.blob(f"{PLANS_PREFIX}{plan.key}.json")
        with transient_errors(f"recording the splits of {plan.source_uri}"):
            try:
                blob.upload_from_string(
                    json.dumps(asdict(plan)),
                    content_type="application/json",
                    if_generation_match=0,
                )
                return plan
            except api_exceptions.PreconditionFailed:
                return PlanRecord(**json.loads(blob.download_as_bytes()))


class DirectoryPlans:
    def __init__(self, root: Path) -> None:
        self.root = root

    def record(self, plan: PlanRecord) -> PlanRecord:
        path = self.root / f"{plan.key}.json"
        self.root.mkdir(parents=True, exist_ok=True)
        # Written whole under another name, then linked: a reader never sees half a record.
        partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.partial")
        partial.write_text(json.dumps(asdict(plan)))
        try:
            os.link(partial, path)
        except FileExistsError:
            return PlanRecord(**json.loads(path.read_text()))
        finally:
            partial.unlink()
        return plan
