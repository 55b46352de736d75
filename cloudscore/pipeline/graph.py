"""The pipeline's graph and its launch (see `cloudscore.pipeline` for the interface).

    files ─► plan ─┬─► splits (Parquet row groups; one whole split) ─────────────┐
                   ├─► byte ranges ─► count ─► group by file ─► number ─► splits ─┤
                   └─► file starts ─────────────────────────────────────┐         │
                                                                        │  read ◄─┘
                                                                        │   └─► RunInference
                                                                        │        └─► write split
                                                    group by file ◄─────┴─────────────┘
                                                        └─► finish: scoring_runs row, file moved

Exactly once: each split's predictions and rejected rows are one load job per table, with an id
derived from (file, generation, model version, split); every launch cuts a file as the first
one to plan it recorded (`cloudscore.pipeline.plans`), whatever its own --split_bytes. A file's
run row is one load job whose id (`run_key`, "run") is the batch function's for the same file
and version. A retried bundle, a job run again, or a second launch finds those jobs done and
loads nothing twice; a file whose run row exists is not read at all.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import apache_beam as beam
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.ml.inference.base import RunInference
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from google.api_core import exceptions as api_exceptions

from cloudscore.pipeline.inputs import InputFile, Range, expand, open_input
from cloudscore.pipeline.model_handler import ChunkWork, ModelRef, ScoringModelHandler
from cloudscore.pipeline.options import JobSettings, LaunchOptions, parse
from cloudscore.pipeline.outputs import output_for
from cloudscore.pipeline.plans import plans_for, split_bytes
from cloudscore.pipeline.runner import runner_for
from cloudscore.pipeline.splits import (
    Split,
    count_range,
    number_text_splits,
    plan_parquet,
    plan_table,
    text_ranges,
    with_header,
)
from cloudscore.pipeline.table_source import estimated_size, table_chunks, table_header
from cloudscore.pipeline.work import FileJob, FileStart, SplitResult, Task
from shared.contract import DataContract
from shared.drift import DriftCounts
from shared.errors import DataError, VersionNotFound
from shared.scoring.bigquery_sink import arrow_schema, job_id
from shared.scoring.claims import run_key
from shared.scoring.core import HEAD_BYTES, RunInfo, check_header
from shared.scoring.gone import NO_ROW_LOADED, gone_reason
from shared.scoring.readers import Chunk, FileFormat, detect_format, iter_chunks
from shared.scoring.readers.csv import header_end
from shared.tables import PREDICTIONS, REJECTED_ROWS

_log = logging.getLogger(__name__)
# Run ids of files scored without a hand-off derive from the file's key under this namespace.
_RUN_IDS: Final = uuid.UUID("5b1f4a52-53d6-4c1e-9a55-7c1d8b2f7e20")
# A split's output is kept in memory up to this size, then on disk until it is loaded.
_SPOOL_BYTES: Final = 32 * 1024 * 1024
# The bytes a CSV header is looked for in.
_HEADER_BYTES: Final = 1024 * 1024


@dataclass(frozen=True)
class FileOutcome:
    run_id: str
    source_uri: str
    source_generation: int
    model_version: str
    status: str
    reason: str | None
    rows_in: int
    rows_scored: int
    rows_rejected: int

    def line(self) -> str:
        text = (
            f"{self.source_uri}#{self.source_generation} {self.status}: {self.rows_in} rows in, "
            f"{self.rows_scored} scored, {self.rows_rejected} rejected (run {self.run_id}, "
            f"model version {self.model_version})"
        )
        return text + (f"; {self.reason}" if self.reason else "")


@dataclass(frozen=True)
class PipelineResult:
    model_version: str
    state: str  # Beam's: DONE, FAILED, RUNNING (a Dataflow job is not waited for)
    job_id: str | None
    files: list[FileOutcome]  # each file's run, as recorded in scoring_runs (local runners)


def run(argv: Sequence[str]) -> PipelineResult:
    launch = parse(argv)
    job = launch.job
    ref = _model_ref(launch)
    started_at = datetime.now(UTC)
    # A hand-off's file gone before this job started is still its run to record.
    files = expand(launch.sources, job, keep_gone=launch.handoff_run_id is not None)
    jobs = [_file_job(f, ref, launch, started_at, job) for f in files]
    options = PipelineOptions(list(launch.beam_args))
    pipeline = beam.Pipeline(runner=runner_for(options), options=options)
    build(pipeline, jobs, job, ref)
    result = pipeline.run()
    runner = options.view_as(StandardOptions).runner or "DirectRunner"
    if "dataflow" in str(runner).lower():
        return PipelineResult(ref.version, str(result.state), getattr(result, "job_id", None), [])
    state = result.wait_until_finish()
    recorded = output_for(job).runs([j.run.run_id for j in jobs])
    outcomes = [_outcome(row) for row in recorded]
    return PipelineResult(
        ref.version, str(state), None, sorted(outcomes, key=lambda o: o.source_uri)
    )


def build(pipeline: beam.Pipeline, jobs: list[FileJob], job: JobSettings, ref: ModelRef) -> None:
    """The graph of the module docstring, on `pipeline`."""
    planned = (
        pipeline
        | "Files" >> beam.Create(jobs)
        | "SpreadFiles" >> beam.Reshuffle()
        | "Plan" >> beam.ParDo(PlanFile(job, ref)).with_outputs("count", "start", main="score")
    )
    numbered = (
        planned.count
        | "SpreadRanges" >> beam.Reshuffle()
        | "Count" >> beam.ParDo(CountRange(job))
        | "RangesByFile" >> beam.GroupByKey()
        | "Number" >> beam.ParDo(NumberSplits()).with_outputs("start", main="score")
    )
    handler = ScoringModelHandler(ref, job.model_threads).with_no_batching()
    results = (
        (planned.score, numbered.score)
        | "Splits" >> beam.Flatten()
        | "SpreadSplits" >> beam.Reshuffle()
        | "Read" >> beam.ParDo(ReadSplit(job))
        | "Score" >> RunInference(handler)
        | "Write" >> beam.ParDo(WriteSplits(job, ref.reference))
    )
    starts = (planned.start, numbered.start) | "Starts" >> beam.Flatten()
    (
        (starts, results)
        | "Outcomes" >> beam.Flatten()
        | "ByFile" >> beam.GroupByKey()
        | "Finish" >> beam.ParDo(FinishFile(job, ref))
    )


def _model_ref(launch: LaunchOptions) -> ModelRef:
    """The version the job scores with, resolved once, now, and verified as a worker will."""
    job = launch.job
    if job.model_dir is not None:
        from cloudscore.cli.score_cmd import load_model_dir_version

        version = load_model_dir_version(Path(job.model_dir))
        return ModelRef(
            version.model_name,
            version.version,
            version.manifest_sha256,
            contract_document=version.contract_document,
            reference=dict(version.reference),
            model_dir=job.model_dir,
        )
    from shared.clients import storage_client
    from shared.registry import ModelRegistry

    cloud = job.cloud
    registry = ModelRegistry(storage_client(cloud.project), cloud.models_bucket, cloud.model_name)
    pointer = None
    if launch.model_version is None:
        pointer = registry.alias("champion")
        if pointer is None:
            raise VersionNotFound(
                f"model {cloud.model_name!r} has no champion yet (train one with "
                "`cloudscore train --promote`, or give --model_version)"
            )
    loaded = registry.load_version(launch.model_version or pointer.version)  # type: ignore[union-attr]
    if pointer is not None:
        pointer.check(loaded)  # as the functions check a version their alias points at
    return ModelRef(
        cloud.model_name,
        loaded.version,
        loaded.manifest_sha256,
        contract_document=loaded.contract_document,
        reference=dict(loaded.reference),
        models_bucket=cloud.models_bucket,
        project=cloud.project,
    )


def _file_job(
    item: InputFile,
    ref: ModelRef,
    launch: LaunchOptions,
    started_at: datetime,
    job: JobSettings,
) -> FileJob:
    key = run_key(item.uri, item.generation, ref.model_name, ref.version)
    run_id = launch.handoff_run_id or str(uuid.uuid5(_RUN_IDS, key))
    run = RunInfo(ref.model_name, ref.version, item.uri, item.generation, run_id, started_at)
    return FileJob(item, key, run, job.batch.chunk_rows)


class PlanFile(beam.DoFn):
    """A file's format, header and splits; or why it is not scored."""

    def __init__(self, job: JobSettings, ref: ModelRef) -> None:
        self.job = job
        self.ref = ref

    def setup(self) -> None:
        self.contract = DataContract.from_json(json.dumps(self.ref.contract_document))
        self.plans = plans_for(self.job)

    def process(self, file_job: FileJob) -> Iterator[Any]:
        output = output_for(self.job)
        key = file_job.key
        if output.is_done(job_id(key, "run")):
            yield beam.pvalue.TaggedOutput(
                "start", (key, FileStart(file_job, 0, already_scored=True))
            )
            return
        item = file_job.file
        if item.gone:
            yield self._gone(file_job)
            return
        try:
            if item.kind == "bigquery":
                yield from self._plan_table(file_job)
                return
            with contextlib.closing(open_input(item, self.job)) as stream:
                yield from self._plan(file_job, stream)
        except DataError as exc:
            ending = ("rejected", str(exc))
            yield beam.pvalue.TaggedOutput("start", (key, FileStart(file_job, 0, ending)))
        except api_exceptions.NotFound:
            yield self._gone(file_job)

    def _gone(self, file_job: FileJob) -> Any:
        """The file's run, failed: its generation is gone before this job read any of it."""
        ending = ("failed", f"{_gone_reason(file_job.file)}; {NO_ROW_LOADED}")
        return beam.pvalue.TaggedOutput("start", (file_job.key, FileStart(file_job, 0, ending)))

    def _plan_table(self, file_job: FileJob) -> Iterator[Any]:
        item, key = file_job.file, file_job.key
        header = table_header(item, self.job)
        check_header(Chunk(pd.DataFrame(columns=list(header)), 1, header), self.contract, item.uri)
        size = split_bytes(self.plans, key, item, self.job.split_bytes)
        splits = plan_table(replace(item, size=estimated_size(item, self.job)), size)
        yield beam.pvalue.TaggedOutput("start", (key, FileStart(file_job, len(splits))))
        for split in splits:
            yield Task(file_job, split)

    def _plan(self, file_job: FileJob, stream: Any) -> Iterator[Any]:
        item, key = file_job.file, file_job.key
        head = stream.read(HEAD_BYTES)
        stream.seek(0)
        fmt = detect_format(item.name, item.content_type, head)
        # A CSV header and a Parquet schema are the file's: one row shows them, where a whole
        # chunk would be read (and, for Parquet, decoded) twice. A JSONL file's columns are
        # its records' keys, judged on a first chunk as the batch function judges them.
        probe_rows = file_job.chunk_rows if fmt.kind == "jsonl" else 1
        chunks = iter_chunks(stream, fmt, probe_rows, item.uri)
        with contextlib.closing(chunks):
            first = next(chunks, None)
            if first is None:
                raise DataError(f"{item.uri}: the file is empty (no header, no rows)")
            check_header(first, self.contract, item.uri)
        start = FileStart(file_job, 1)
        whole = Split(item, fmt, 0, 1, "whole")
        size = split_bytes(self.plans, key, item, self.job.split_bytes)
        if fmt.compressed or item.size <= size:
            yield beam.pvalue.TaggedOutput("start", (key, start))
            yield Task(file_job, whole)
            return
        if fmt.kind == "parquet":
            import pyarrow.parquet as pq_

            stream.seek(0)
            splits = plan_parquet(item, fmt, pq_.ParquetFile(stream).metadata, size)
            yield beam.pvalue.TaggedOutput("start", (key, FileStart(file_job, len(splits))))
            for split in splits:
                yield Task(file_job, split)
            return
        stream.seek(0)
        header = stream.read(_HEADER_BYTES) if fmt.kind == "csv" else b""
        ends = header_end(header) if fmt.kind == "csv" else None
        header_bytes = header[:ends] if ends is not None else b""
        for begin, end in text_ranges(item.size, size):
            yield beam.pvalue.TaggedOutput(
                "count", (key, _Range(file_job, fmt, begin, end, ends, header_bytes))
            )


@dataclass(frozen=True)
class _Range:
    """A byte range of a text file to count."""

    job: FileJob
    fmt: FileFormat
    start: int
    end: int
    header_end: int | None
    header: bytes


class CountRange(beam.DoFn):
    """The counting pass of one byte range (`cloudscore.pipeline.splits.count_range`)."""

    def __init__(self, job: JobSettings) -> None:
        self.job = job

    def process(self, keyed: tuple[str, _Range]) -> Iterator[tuple[str, Any]]:
        key, piece = keyed
        with contextlib.closing(open_input(piece.job.file, self.job)) as stream:
            counted = count_range(stream, piece.start, piece.end, piece.fmt)
        yield key, (piece, counted)


class NumberSplits(beam.DoFn):
    """A file's splits with their first row numbers, from the counts of all its ranges."""

    def process(self, grouped: tuple[str, Any]) -> Iterator[Any]:
        key, pieces = grouped
        pieces = list(pieces)
        first = pieces[0][0]
        splits, note = number_text_splits(
            first.job.file, first.fmt, [counted for _, counted in pieces], first.header_end
        )
        yield beam.pvalue.TaggedOutput("start", (key, FileStart(first.job, len(splits), note=note)))
        for split in with_header(splits, first.header):
            yield Task(first.job, split)


class ReadSplit(beam.DoFn):
    """A split's rows in chunks, then a last element that closes the split (with the error
    that stopped it, if one did)."""

    def __init__(self, job: JobSettings) -> None:
        self.job = job

    def process(self, task: Task) -> Iterator[ChunkWork]:
        split, item = task.split, task.job.file
        error: str | None = None
        try:
            if split.kind == "rows":
                rows = table_chunks(item, self.job, split.start, split.end, task.job.chunk_rows)
                for chunk in rows:
                    yield ChunkWork(task, chunk)
                yield ChunkWork(task, None, last=True)
                return
            with contextlib.closing(open_input(item, self.job)) as stream:
                source: Any = stream
                if split.kind == "bytes":
                    raw = Range(stream, split.start, split.end, split.header)
                    source = io.BufferedReader(raw, 1 << 20)
                fmt = split.fmt
                assert fmt is not None  # files, not tables, are read as streams
                chunks = iter_chunks(source, fmt, task.job.chunk_rows, item.uri, split.part)
                with contextlib.closing(chunks):
                    for chunk in chunks:
                        yield ChunkWork(task, chunk)
        except DataError as exc:
            error = str(exc)
        except api_exceptions.NotFound:
            error = _gone_reason(item)
        yield ChunkWork(task, None, last=True, error=error)


class WriteSplits(beam.DoFn):
    """Each split's scored rows into one Parquet file per table (spooled to disk past
    `_SPOOL_BYTES`), loaded once when the split ends, by job ids of the split."""

    def __init__(self, job: JobSettings, reference: dict[str, Any]) -> None:
        self.job = job
        self.reference = reference

    def setup(self) -> None:
        self.output = output_for(self.job)

    def start_bundle(self) -> None:
        # A retried bundle starts again from nothing: its loads have the same ids.
        self.open: dict[str, _SplitOutput] = {}

    def process(self, work: ChunkWork) -> Iterator[tuple[str, SplitResult]]:
        key = work.task.split_key
        out = self.open.get(key)
        if out is None:
            out = self.open[key] = _SplitOutput(self.reference)
        if work.scored is not None:
            out.add(work)
        if not work.last:
            return
        del self.open[key]
        yield work.task.job.key, out.load(self.output, work)

    def finish_bundle(self) -> None:
        for out in self.open.values():
            out.discard()


class _SplitOutput:
    def __init__(self, reference: dict[str, Any]) -> None:
        self.files = {t.name: _ParquetSpool(t) for t in (PREDICTIONS, REJECTED_ROWS)}
        self.rows_in = self.rows_scored = self.rows_rejected = 0
        self.drift = DriftCounts(reference)

    def add(self, work: ChunkWork) -> None:
        scored = work.scored
        assert scored is not None
        self.files[PREDICTIONS.name].write(scored.predictions)
        self.files[REJECTED_ROWS.name].write(scored.rejections)
        self.rows_in += scored.rows_in
        self.rows_scored += scored.rows_scored
        self.rows_rejected += scored.rows_rejected
        self.drift.absorb(work.drift)

    def load(self, output: Any, work: ChunkWork) -> SplitResult:
        task = work.task
        ident = task.split.ident
        for table, letter in ((PREDICTIONS, "p"), (REJECTED_ROWS, "r")):
            spool = self.files[table.name]
            parquet = spool.finished()
            output.load_parquet_once(
                table, parquet, spool.rows, job_id(task.job.key, letter, ident)
            )
            spool.discard()
        return SplitResult(
            task.split.index,
            task.split.first_row_number,
            self.rows_in,
            self.rows_scored,
            self.rows_rejected,
            self.drift.state(),
            work.error,
        )

    def discard(self) -> None:
        for spool in self.files.values():
            spool.discard()


class _ParquetSpool:
    """A table's rows as one Parquet file, in memory while small, then on disk."""

    def __init__(self, table: Any) -> None:
        self.schema = arrow_schema(table)
        # "r+b", not the default "w+b": BigQuery's client uploads only a file opened to read.
        self.buffer = tempfile.SpooledTemporaryFile(_SPOOL_BYTES, mode="r+b")  # noqa: SIM115
        self.writer = pq.ParquetWriter(self.buffer, self.schema)
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        if len(frame):
            self.writer.write_table(
                pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
            )
            self.rows += len(frame)

    def finished(self) -> Any:
        self.writer.close()
        self.buffer.seek(0)
        return self.buffer

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()
        self.buffer.close()


class FinishFile(beam.DoFn):
    """A file's run: its splits' counts added up, its `scoring_runs` row, the file moved."""

    def __init__(self, job: JobSettings, ref: ModelRef) -> None:
        self.job = job
        self.ref = ref

    def process(self, grouped: tuple[str, Any]) -> Iterator[str]:
        from cloudscore.pipeline.accounting import finish_file

        key, items = grouped
        starts = [i for i in items if isinstance(i, FileStart)]
        results = [i for i in items if isinstance(i, SplitResult)]
        if len(starts) != 1:
            raise RuntimeError(f"file {key}: expected one plan, found {len(starts)}")
        output = output_for(self.job)
        yield finish_file(starts[0], results, self.job, output, self.ref.reference)


def _gone_reason(item: InputFile) -> str:
    """Why `item` could not be read in full: Cloud Storage or BigQuery answered 404."""
    if item.kind == "gcs":
        return gone_reason(item.uri, item.generation)
    return f"{item.uri} was deleted before it could be read in full"


def _outcome(row: dict[str, Any]) -> FileOutcome:
    return FileOutcome(
        run_id=row["run_id"],
        source_uri=row["source_uri"],
        source_generation=int(row["source_generation"]),
        model_version=row["model_version"],
        status=row["status"],
        reason=row["reason"],
        rows_in=int(row["rows_in"]),
        rows_scored=int(row["rows_scored"]),
        rows_rejected=int(row["rows_rejected"]),
    )
