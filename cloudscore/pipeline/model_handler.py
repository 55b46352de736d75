"""The model as Beam's RunInference sees it: loaded once per worker process, verified as the
functions verify it, scoring one chunk of rows at a time with the batch function's own core.

`RunInference(ScoringModelHandler(...).with_no_batching())`: each element is already a chunk of
`CLOUDSCORE_BATCH_CHUNK_ROWS` rows (`ChunkWork`), read by the split reader, so Beam's
BatchElements, which would gather rows one at a time, is skipped. `run_inference` gives the
chunk to `shared.scoring.core.score_chunk`: contract validation, scoring, the output rows, all
as `score_file` does them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apache_beam.ml.inference.base import ModelHandler

from cloudscore.pipeline.work import Task
from shared.contract import DataContract
from shared.drift import DriftCounts
from shared.errors import ArtifactTampered
from shared.model import ScoringModel
from shared.scoring.core import ScoredChunk, row_days, score_chunk
from shared.scoring.readers import Chunk


@dataclass(frozen=True)
class ModelRef:
    """The version a job scores with, fixed at launch: where it is and which manifest it has."""

    model_name: str
    version: str
    manifest_sha256: str
    contract_document: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] = field(default_factory=dict)
    models_bucket: str = ""  # the registry's bucket; empty with `model_dir`
    project: str = ""
    model_dir: str | None = None


@dataclass
class LoadedModel:
    """What a worker holds once per process: the verified version's model, contract and
    reference statistics."""

    model: ScoringModel
    contract: DataContract
    reference: dict[str, Any]


@dataclass
class ChunkWork:
    """One chunk of one split on its way through RunInference; `last` marks the split's end
    (then `chunk` may be None), `error` a split that could not be read to its end."""

    task: Task
    chunk: Chunk | None
    last: bool = False
    error: str | None = None
    scored: ScoredChunk | None = None
    drift: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return 0 if self.chunk is None else len(self.chunk.frame)


class ScoringModelHandler(ModelHandler[ChunkWork, ChunkWork, LoadedModel]):
    def __init__(self, ref: ModelRef, threads: int) -> None:
        super().__init__()
        self.ref = ref
        self.threads = threads

    def load_model(self) -> LoadedModel:
        version = _load_version(self.ref)
        model = version.model
        # A worker process scores one chunk at a time: its share of the machine's cores.
        model.set_threads(self.threads)
        return LoadedModel(model, version.contract, dict(version.reference))

    def run_inference(
        self,
        batch: Sequence[ChunkWork],
        model: LoadedModel,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[ChunkWork]:
        # Pre-batched (`with_no_batching`): the element is the batch.
        work: ChunkWork = batch  # type: ignore[assignment]
        if work.chunk is None:
            return [work]
        run = work.task.job.run
        scored = score_chunk(
            work.chunk,
            model.contract,
            model.model,
            model_name=run.model_name,
            model_version=run.model_version,
            source_uri=run.source_uri,
            source_generation=run.source_generation,
            run_id=run.run_id,
            scored_at=run.scored_at,
        )
        drift = DriftCounts(model.reference)
        drift.add(
            scored.features,
            scored.predictions["score"].to_numpy(dtype="float64"),
            row_days(scored.predictions),  # per day of the data's time, as score_file counts
        )
        # The chunk's input and features are not needed past here: only its output rows go on.
        kept = ScoredChunk(
            scored.predictions,
            scored.rejections,
            scored.rows_in,
            scored.rows_scored,
            scored.rows_rejected,
        )
        return [ChunkWork(work.task, None, work.last, work.error, kept, drift.state())]

    def get_num_bytes(self, batch: Sequence[ChunkWork]) -> int:
        # Beam's default pickles the batch to measure it, which would cost a copy per chunk.
        work: ChunkWork = batch  # type: ignore[assignment]
        if work.chunk is None:
            return 0
        return int(work.chunk.frame.memory_usage(index=False, deep=False).sum())

    def get_metrics_namespace(self) -> str:
        return "cloudscore"


def _load_version(ref: ModelRef) -> Any:
    """The version's files, each checked against its manifest, and the manifest against the one
    recorded at launch (so every worker scores with the version the job was launched with)."""
    if ref.model_dir is not None:
        from cloudscore.cli.score_cmd import load_model_dir_version

        version = load_model_dir_version(Path(ref.model_dir))
    else:
        from shared.clients import storage_client
        from shared.registry import ModelRegistry

        registry = ModelRegistry(storage_client(ref.project), ref.models_bucket, ref.model_name)
        version = registry.load_version(ref.version)
    if version.manifest_sha256 != ref.manifest_sha256:
        raise ArtifactTampered(
            f"the manifest of version {ref.version} of {ref.model_name!r} is not the one the "
            f"job was launched with: sha256 {version.manifest_sha256}, at launch "
            f"{ref.manifest_sha256}; refusing to score with it"
        )
    return version
