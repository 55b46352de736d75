"""`cloudscore backfill SOURCE… [--version V]`: score files or a table with the pipeline, by hand.

The same Flex Template job the batch function launches for a file too large for it, on the
cloud named by the CLOUDSCORE_* variables (the pipeline's bucket and workers' account from
CLOUDSCORE_PIPELINE_*, as `terraform -chdir=infra output` shows them), else on the local cloud
started here (its local Dataflow runs the pipeline on Beam's DirectRunner). Launching is
idempotent: the job is named after its sources and version, so a second backfill of the same
sources while the first runs follows the first; once it has finished, a new job is launched,
and the pipeline's exactly-once loads add nothing that is there already.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.errors import UsageError

if TYPE_CHECKING:
    from shared.dataflow import PipelineLauncher

_TIMEOUT_HELP = "stop following the job after S seconds (it carries on; default: until it ends)"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backfill = subparsers.add_parser(
        "backfill",
        help="score files or BigQuery tables with the pipeline on Dataflow (or the local cloud)",
        description="Launch the scoring pipeline (a Dataflow Flex Template job; in the local "
        "cloud, Beam's DirectRunner) on SOURCE…, each a gs:// object (gs://BUCKET/NAME, "
        "#GENERATION for one version of it), a glob (gs://BUCKET/incoming/*.csv) or a BigQuery "
        "table (bq://PROJECT.DATASET.TABLE). Rows land in predictions and rejected_rows and "
        "each file's run in scoring_runs, exactly as the batch function would record them; a "
        "file scored already adds nothing. The job of the same sources and version is followed "
        "instead of launched again while it runs. Follows the job until it ends and exits 1 "
        "when it did not succeed.",
    )
    backfill.add_argument("sources", nargs="+", metavar="SOURCE")
    backfill.add_argument(
        "--version", help="registry version that scores every source (default: the champion)"
    )
    backfill.add_argument(
        "--no-wait", action="store_true", help="launch (or find) the job and return at once"
    )
    backfill.add_argument("--timeout", type=float, metavar="S", help=_TIMEOUT_HELP)
    backfill.set_defaults(run=_backfill)


@dataclass(frozen=True)
class _Cloud:
    launcher: PipelineLauncher
    worker_settings: dict[str, str]
    model_name: str
    description: str


def _cloud() -> _Cloud:
    from cloudscore.cli.target import resolve_target
    from shared import clients
    from shared.config import BatchConfig
    from shared.dataflow import PipelineLauncher, PipelineLocation
    from shared.errors import ConfigError

    target = resolve_target()
    if target.description == "the local cloud":
        from local_emulator.settings import StackSettings

        stack = StackSettings.load()
        pipeline = stack.pipeline_settings()
        bucket = pipeline["CLOUDSCORE_PIPELINE_BUCKET"]
        account = pipeline["CLOUDSCORE_PIPELINE_SERVICE_ACCOUNT"]
        chunk_rows = BatchConfig().chunk_rows
    else:
        batch = BatchConfig.from_env()
        bucket, account = batch.pipeline_bucket, batch.pipeline_service_account
        chunk_rows = batch.chunk_rows
        if not bucket or not account:
            raise ConfigError(
                "CLOUDSCORE_PIPELINE_BUCKET",
                "and CLOUDSCORE_PIPELINE_SERVICE_ACCOUNT must be set to launch the pipeline on "
                "the deployed project: `terraform -chdir=infra output pipeline_bucket` and "
                "`… output service_accounts` (dataflow_worker) name them",
            )
    config = target.config
    where = PipelineLocation(config.project, config.region, bucket, account)
    templates, jobs = clients.dataflow_clients(target.endpoints)
    settings = {**config.to_env(), "CLOUDSCORE_BATCH_CHUNK_ROWS": str(chunk_rows)}
    launcher = PipelineLauncher(where, templates, jobs, target.storage)
    return _Cloud(launcher, settings, config.model_name, target.description)


def _backfill(args: argparse.Namespace) -> int:
    from shared.dataflow import (
        PipelineJob,
        backfill_job_name,
        pipeline_parameters,
        source_problem,
    )

    problems = [p for p in (source_problem(s) for s in args.sources) if p]
    if problems:
        raise UsageError(
            "SOURCE: " + "; ".join(problems) + " (a local file: upload it to a bucket first)"
        )
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError(f"--timeout: expected more than 0 seconds, found {args.timeout}")
    cloud = _cloud()
    launcher = cloud.launcher
    name = backfill_job_name(args.sources, cloud.model_name, args.version)
    parameters = pipeline_parameters(
        args.sources, cloud.worker_settings, model_version=args.version
    )
    job, launched = launcher.launch_once(name, parameters, adopt_finished=False)
    what = f"version {args.version}" if args.version else "the champion"
    print(
        f"{'launched' if launched else 'following'} Dataflow job {job.id} ({name}) on "
        f"{len(args.sources)} source(s) with {what}, in {cloud.description}: {job.state}",
        file=sys.stderr,
    )
    if args.no_wait:
        print(job.id)
        return 0

    def seen(latest: PipelineJob) -> None:
        print(f"  {latest.state}", file=sys.stderr)

    try:
        final = launcher.wait(job, timeout_s=args.timeout, seen=seen)
    except KeyboardInterrupt:
        print(f"stopped following job {job.id}; it carries on", file=sys.stderr)
        raise
    print(f"{final.id} {final.state}")
    if final.active:
        print(f"still running after {args.timeout:g} s; it carries on", file=sys.stderr)
        return 1
    return 0 if final.succeeded else 1
