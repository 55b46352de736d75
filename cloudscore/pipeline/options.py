"""The pipeline's own options, parsed apart from Beam's (which get the rest of the arguments).

The job's settings travel as data (`JobSettings`, pickled with the transforms), never through the
workers' environment: a Dataflow worker has no per-job environment variables.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from shared.config import BatchConfig, FunctionConfig
from shared.errors import UsageError

# Input bytes per split: 1 GiB makes 1,024 load jobs per table for a 1 TB backfill, inside
# BigQuery's 1,500 per table and day with room for the batch function's own loads (the
# arithmetic: infra/README.md, "Backfills and large files").
DEFAULT_SPLIT_BYTES: Final = 1 << 30


@dataclass(frozen=True)
class JobSettings:
    """What every worker of one job needs to know, fixed at launch."""

    settings: Mapping[str, str]  # the CLOUDSCORE_* variables
    split_bytes: int
    model_threads: int
    model_dir: str | None
    output_dir: str | None

    @property
    def batch(self) -> BatchConfig:
        return BatchConfig.from_env(self.settings)

    @property
    def cloud(self) -> FunctionConfig:
        return FunctionConfig.from_env(self.settings)

    @property
    def needs_cloud(self) -> bool:
        return self.model_dir is None or self.output_dir is None


@dataclass(frozen=True)
class LaunchOptions:
    sources: tuple[str, ...]
    model_version: str | None
    handoff_run_id: str | None
    job: JobSettings
    beam_args: tuple[str, ...]


def parse(argv: Sequence[str]) -> LaunchOptions:
    parser = argparse.ArgumentParser(
        prog="python -m cloudscore.pipeline",
        description="Score files or a BigQuery table with the champion (or --model_version) "
        "on Apache Beam; every other option goes to Beam (--runner, --direct_num_workers, …).",
    )
    parser.add_argument(
        "--sources",
        required=True,
        help="comma-separated gs://bucket/object (#generation for one version of it), gs:// "
        "globs, bq://project.dataset.table, or "
        "local paths and globs (local runners only)",
    )
    parser.add_argument("--model_version", help="registry version (default: the champion)")
    parser.add_argument(
        "--handoff_run_id",
        help="the scoring_runs run recorded as handed_off by score_file for the one source",
    )
    parser.add_argument(
        "--settings",
        default="{}",
        help="JSON object of CLOUDSCORE_* settings, read as the functions read their environment",
    )
    parser.add_argument(
        "--split_bytes",
        type=int,
        default=DEFAULT_SPLIT_BYTES,
        help=f"input bytes per split (default {DEFAULT_SPLIT_BYTES}: one load job per table "
        "per GiB); a file an earlier launch planned keeps that launch's split size",
    )
    parser.add_argument(
        "--model_threads",
        type=int,
        default=0,
        help="threads of each worker's model (default: the cores per local worker; 1 on "
        "Dataflow, which runs a worker process per core)",
    )
    parser.add_argument("--model_dir", help="a version's files instead of the registry")
    parser.add_argument("--output_dir", help="write Parquet files here instead of BigQuery")
    known, beam_args = parser.parse_known_args(list(argv))
    try:
        settings = json.loads(known.settings)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--settings: expected a JSON object, found invalid JSON: {exc}") from exc
    if not isinstance(settings, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float) for k, v in settings.items()
    ):
        raise UsageError("--settings: expected a JSON object of CLOUDSCORE_* names to values")
    sources = tuple(s.strip() for s in known.sources.split(",") if s.strip())
    if not sources:
        raise UsageError("--sources: expected at least one source")
    if known.split_bytes < 1:
        raise UsageError(f"--split_bytes: expected at least 1, found {known.split_bytes}")
    if known.handoff_run_id and len(sources) != 1:
        raise UsageError("--handoff_run_id: expected exactly one source, the file handed off")
    if known.model_dir and known.model_version:
        raise UsageError("--model_dir and --model_version: give one or the other")
    job = JobSettings(
        settings={k: str(v) for k, v in settings.items()},
        split_bytes=known.split_bytes,
        model_threads=known.model_threads or _default_threads(beam_args),
        model_dir=str(Path(known.model_dir).resolve()) if known.model_dir else None,
        output_dir=str(Path(known.output_dir).resolve()) if known.output_dir else None,
    )
    # Checked now, at launch, with the variable's name: not on a worker an hour later.
    job.batch  # noqa: B018
    if job.needs_cloud:
        job.cloud  # noqa: B018
    return LaunchOptions(sources, known.model_version, known.handoff_run_id, job, tuple(beam_args))


def _default_threads(beam_args: Sequence[str]) -> int:
    parsed, _ = _beam_parser().parse_known_args(list(beam_args))
    if parsed.runner and "dataflow" in parsed.runner.lower():
        return 1
    workers = parsed.direct_num_workers if parsed.direct_num_workers > 0 else 1
    return max(1, (os.cpu_count() or 1) // workers)


def _beam_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--runner", default=None)
    parser.add_argument("--direct_num_workers", type=int, default=1)
    return parser
