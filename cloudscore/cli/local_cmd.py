"""`cloudscore local …`: run the local cloud (see local_emulator/)."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from local_emulator.settings import StackSettings
    from local_emulator.stack import ComponentStatus

_STATE_HELP = (
    "folder of the stack's data, logs and processes "
    "(default: $CLOUDSCORE_LOCAL_DIR or .cloudscore/local)"
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from local_emulator.settings import DEFAULT_PORTS

    local = subparsers.add_parser(
        "local",
        help="run the local cloud: emulators, functions, Eventarc bridge, scheduler",
        description="Run Cloud Storage, Pub/Sub and BigQuery emulators and the three functions "
        "on 127.0.0.1, wired the way Google Cloud wires them.",
    )
    actions = local.add_subparsers(dest="action", metavar="ACTION", required=True)

    up = actions.add_parser(
        "up",
        help="start the stack in the background, until `down` (a running healthy stack is left "
        "as is)",
    )
    up.add_argument("--state-dir", type=Path, help=_STATE_HELP)
    up.add_argument(
        "--port-base",
        type=int,
        help=f"use {len(DEFAULT_PORTS)} consecutive ports from N (default: each emulator's "
        "usual port, or $CLOUDSCORE_LOCAL_PORT_BASE)",
    )
    up.add_argument("--reset", action="store_true", help="wipe the stack's data first")
    up.add_argument(
        "--retry-time-scale",
        type=float,
        default=1.0,
        metavar="F",
        help="multiply the delays between redeliveries of a refused event by F (default: 1, "
        "infra/'s own: 10 s doubling up to 600 s); the attempts before dead-lettering stay "
        "infra/'s",
    )
    up.add_argument(
        "--max-instances",
        action="append",
        default=[],
        metavar="FUNCTION=N",
        help="run an event function on at most N instances instead of infra/'s maximum "
        "(e.g. score_file=2); repeatable",
    )
    up.add_argument(
        "--infra",
        type=Path,
        metavar="DIR",
        help="enforce the grants and event delivery of this Terraform folder instead of the "
        "checkout's infra/ (a copy with a change to try before applying it)",
    )
    up.set_defaults(run=_up)

    for name, helptext, func in (
        ("down", "stop every process the stack started (data is kept)", _down),
        ("status", "show each component, its port, PID and health, and event counts", _status),
        ("env", "print export lines that point clients and tools (bq, gcloud) at the stack", _env),
        (
            "permissions",
            "show, per account, the permissions it used, was refused, and its grants' use",
            _permissions,
        ),
    ):
        action = actions.add_parser(name, help=helptext)
        action.add_argument("--state-dir", type=Path, help=_STATE_HELP)
        action.set_defaults(run=func)

    logs = actions.add_parser("logs", help="show the logs of one component or all")
    logs.add_argument(
        "component", nargs="?", help="e.g. score_file, bridge, bigquery (default: all)"
    )
    logs.add_argument(
        "-n", "--lines", type=_non_negative, default=40, help="lines from the end (default: 40)"
    )
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("--state-dir", type=Path, help=_STATE_HELP)
    logs.set_defaults(run=_logs)

    tick = actions.add_parser("tick", help="fire a scheduled job now, as Cloud Scheduler would")
    tick.add_argument("job", choices=["retrain"], help="the job to fire")
    tick.add_argument("--state-dir", type=Path, help=_STATE_HELP)
    tick.set_defaults(run=_tick)

    drop = actions.add_parser(
        "drop",
        help="upload files to the local inbox, wait for their scoring runs and print them",
        description="Upload each FILE to incoming/ of the local inbox bucket (a file already "
        "there is overwritten: a new generation, scored again), wait until the batch function "
        "has recorded its run in scoring_runs, and print the run. Exits 1 when a file was "
        "rejected or its run failed.",
    )
    drop.add_argument("files", nargs="+", type=Path, metavar="FILE")
    drop.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds to wait for all the runs (default: 300)",
    )
    drop.add_argument("--state-dir", type=Path, help=_STATE_HELP)
    drop.set_defaults(run=_drop)

    query = actions.add_parser("query", help="run a SQL query on the local BigQuery and print it")
    query.add_argument(
        "sql", help="standard SQL; unqualified table names are in the stack's dataset"
    )
    query.add_argument("--state-dir", type=Path, help=_STATE_HELP)
    query.set_defaults(run=_query)


def _non_negative(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number of 0 or more, found {text!r}")
    return int(text)


def _up(args: argparse.Namespace) -> int:
    from local_emulator import stack
    from local_emulator.settings import StackSettings

    settings = StackSettings.resolve(
        args.state_dir,
        args.port_base,
        retry_time_scale=args.retry_time_scale,
        max_instances=dict(_function_count(item) for item in args.max_instances),
        infra_dir=args.infra,
    )
    started = time.monotonic()
    print(
        f"starting the local cloud in {settings.state_dir} for model {settings.model_name!r} "
        f"({settings.project_file or 'CLOUDSCORE_MODEL_NAME'}) …",
        file=sys.stderr,
    )
    # In the background until `down`, as documented: it outlives this command.
    statuses = stack.up(settings, reset=args.reset, detach=True)
    _print_status(StackSettings.load(settings.state_dir), statuses)
    if not all(s.healthy for s in statuses):
        print("some components are not healthy: see `cloudscore local logs`", file=sys.stderr)
        return 3
    print(f"ready in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0


def _function_count(item: str) -> tuple[str, int]:
    from shared.errors import UsageError

    function, _, count = item.partition("=")
    if not count.isdigit():
        raise UsageError(f"--max-instances: expected FUNCTION=N, found {item!r}")
    return function, int(count)


def _down(args: argparse.Namespace) -> int:
    from local_emulator import stack
    from local_emulator.settings import StackSettings, default_state_dir
    from shared.errors import LocalStackError

    try:
        stopped = stack.down(StackSettings.load(args.state_dir))
    except LocalStackError:
        # An unreadable stack.json must not leave processes running: their records suffice.
        stopped = stack.stop_recorded((args.state_dir or default_state_dir()).resolve())
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def _status(args: argparse.Namespace) -> int:
    from local_emulator import stack
    from local_emulator.settings import StackSettings

    settings = StackSettings.load(args.state_dir)
    statuses = stack.status(settings)
    _print_status(settings, statuses)
    return 0 if all(s.healthy for s in statuses) else 3


def _print_status(settings: StackSettings, statuses: list[ComponentStatus]) -> None:
    from local_emulator import stack
    from local_emulator.components import worker_status_file
    from local_emulator.worker import read_status

    print(f"{'component':<14} {'port':>6} {'pid':>8}  state")
    for s in statuses:
        state = "healthy" if s.healthy else ("starting/unhealthy" if s.running else "stopped")
        port = str(s.port) if s.port else "-"
        print(f"{s.name:<14} {port:>6} {s.pid or '-':>8}  {state}")
    bridge = read_status(worker_status_file(settings, "bridge"))
    scheduler = read_status(worker_status_file(settings, "scheduler"))
    print(f"\nmodel served: {settings.model_name!r}, dataset {settings.dataset}")
    for trigger in settings.triggers():
        f = trigger.function
        print(
            f"events to {f}: delivered {bridge.get(f + '.delivered', 0)}, redeliveries "
            f"{bridge.get(f + '.retries', 0)} ({bridge.get(f + '.refused', 0)} refused for want "
            f"of an instance; at most {settings.capacity[f].slots} at once)"
        )
    print(f"dead-lettered: {len(stack.dead_letters(settings))} ({settings.dead_letter_file})")
    print(
        f"retrain schedule: {settings.retrain_schedule!r} (UTC), next tick "
        f"{scheduler.get('next_tick_at', '-')}, ticks so far: {scheduler.get('ticks', 0)}"
    )


def _env(args: argparse.Namespace) -> int:
    from local_emulator.settings import StackSettings
    from local_emulator.tools import bq_alias

    settings = StackSettings.load(args.state_dir)
    print('# eval "$(cloudscore local env)" to point clients and tools at the local cloud')
    print("# Python clients: the *_EMULATOR_HOST variables; the BigQuery client also needs")
    print("#   client_options={'api_endpoint': $BIGQUERY_EMULATOR_HOST}, AnonymousCredentials()")
    print("#   and, for to_dataframe()/to_arrow(), create_bqstorage_client=False")
    print("# gcloud storage …: the CLOUDSDK_* variables; bq …: the alias below")
    for name, value in settings.client_env().items():
        print(f"export {name}={shlex.quote(value)}")
    alias = bq_alias(settings)
    if alias is not None:
        print(f"alias bq={shlex.quote(alias)}")
    else:
        print("# bq: not found (it comes with the Google Cloud CLI)")
    return 0


def _permissions(args: argparse.Namespace) -> int:
    from local_emulator.iam.grants import account_email
    from local_emulator.iam.layer import stack_grants
    from local_emulator.iam.roles import known_roles
    from local_emulator.iam.usage import Usage, summary, usage_file
    from local_emulator.settings import StackSettings

    settings = StackSettings.load(args.state_dir)
    grants = stack_grants(settings)
    roles = known_roles(settings.infra())
    accounts = summary(grants, Usage.read(usage_file(settings.state_dir)))
    for function, account in accounts.items():
        print(f"{function}  ({account_email(function, settings.project, settings.infra())})")
        print("  used:" if account["used"] else "  used: nothing yet")
        for permission, resources in sorted(account["used"].items()):
            print(f"    {permission:<32} {', '.join(resources)}")
        if account["denied"]:
            print("  refused:")
            for permission, resources in sorted(account["denied"].items()):
                print(f"    {permission:<32} {', '.join(resources)}")
        print("  grants (infra/iam.tf):")
        for grant, used in account["grants"]:
            total = len(roles[grant.role].permissions)
            note = f"used {', '.join(sorted(used))}" if used else "NOTHING USED so far"
            print(f"    {grant.role} on {grant.resource}: {note} (of {total} permissions)")
        print()
    return 0


def _logs(args: argparse.Namespace) -> int:
    from local_emulator.settings import StackSettings
    from shared.errors import UsageError

    settings = StackSettings.load(args.state_dir)
    files = sorted(settings.logs_dir.glob("*.log"))
    if args.component:
        files = [f for f in files if f.stem == args.component]
        if not files:
            known = ", ".join(f.stem for f in sorted(settings.logs_dir.glob("*.log")))
            raise UsageError(f"no log for component {args.component!r}; known: {known}")
    for path in files:
        lines = path.read_text(errors="replace").splitlines()
        lines = lines[len(lines) - args.lines :] if args.lines else []
        for line in lines:
            print(f"{path.stem:<13}| {line}" if len(files) > 1 else line)
    if args.follow:
        _follow(files)
    return 0


def _follow(files: list[Path]) -> None:
    offsets = {f: f.stat().st_size for f in files}
    while True:
        for path in files:
            with path.open(errors="replace") as handle:
                handle.seek(offsets[path])
                for line in handle:
                    print(f"{path.stem:<13}| {line}" if len(files) > 1 else line, end="")
                offsets[path] = handle.tell()
        sys.stdout.flush()
        time.sleep(0.5)


def _tick(args: argparse.Namespace) -> int:
    from local_emulator.scheduler import publish_tick
    from local_emulator.settings import StackSettings
    from local_emulator.stack import require_healthy

    settings = StackSettings.load(args.state_dir)
    require_healthy(settings, "pubsub")
    message_id = publish_tick(settings, "manual")
    print(f"published retrain tick {message_id} to {settings.retrain_topic}")
    return 0


def _drop(args: argparse.Namespace) -> int:
    from local_emulator.inbox import drop, wait_for_runs
    from local_emulator.settings import StackSettings
    from local_emulator.stack import require_healthy
    from shared.errors import UsageError

    missing = [str(path) for path in args.files if not path.is_file()]
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    settings = StackSettings.load(args.state_dir)
    for component in ("gcs", "bigquery", "score_file", "bridge"):
        require_healthy(settings, component)
    dropped = [drop(settings, path) for path in args.files]
    for uri, generation in dropped:
        print(f"dropped {uri} (generation {generation}); waiting for its run …", file=sys.stderr)
    runs = wait_for_runs(settings, dropped, args.timeout)
    for run in runs:
        _print_run(run)
    return 1 if any(run["status"] in ("rejected", "failed") for run in runs) else 0


def _print_run(run: dict[str, object]) -> None:
    import json

    seconds = (run["ended_at"] - run["started_at"]).total_seconds()  # type: ignore[operator]
    print(f"{run['source_uri']}  (generation {run['source_generation']})")
    print(f"  status         {run['status']}" + (f": {run['reason']}" if run["reason"] else ""))
    print(
        f"  rows           {run['rows_in']:,} in = {run['rows_scored']:,} scored "
        f"+ {run['rows_rejected']:,} rejected"
    )
    print(f"  model version  {run['model_version']}")
    print(f"  run            {run['run_id']} ({seconds:.1f} s, {run['bytes_in']:,} bytes)")
    if run["drift_summary"]:
        drift = json.loads(str(run["drift_summary"]))
        drifted = ", ".join(drift["drifted"]) or "none"
        print(f"  drift          features at PSI ≥ {drift['threshold']}: {drifted}")


def _query(args: argparse.Namespace) -> int:
    from google.api_core import exceptions
    from google.cloud import bigquery

    from local_emulator.settings import StackSettings
    from local_emulator.stack import require_healthy
    from shared import clients
    from shared.errors import UsageError

    settings = StackSettings.load(args.state_dir)
    require_healthy(settings, "bigquery")
    client = clients.bigquery_client(settings.project, settings.endpoints())
    config = bigquery.QueryJobConfig(default_dataset=f"{settings.project}.{settings.dataset}")
    try:
        # A query job, not `query_and_wait`: the local BigQuery's fast path returns no rows,
        # and no error, for a bad query or an unqualified table name.
        rows = client.query(args.sql, job_config=config).result()
    except (exceptions.BadRequest, exceptions.NotFound) as exc:
        detail = exc.errors[0].get("message") if exc.errors else exc.message
        raise UsageError(f"the query was refused: {detail}") from exc
    names = [field.name for field in rows.schema]
    table = [names, *([_cell(value) for value in row.values()] for row in rows)]
    if len(table) == 1:
        print("(no rows)")
        return 0
    widths = [max(len(line[i]) for line in table) for i in range(len(names))]
    for line in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )
    return 0


def _cell(value: object) -> str:
    return "NULL" if value is None else str(value)
