"""Start, stop and inspect the local cloud as a whole.

`up` starts the parts in dependency order — Pub/Sub first (fake-gcs-server publishes to a topic
that must already exist), then storage, BigQuery and the functions together, then the workers that
connect them — and records every process the moment it starts, so that `down` (or a failed `up`)
stops exactly what was started, even after a crash half-way.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from local_emulator import components, processes, provision
from local_emulator.components import Component
from local_emulator.processes import ProcessRecord
from local_emulator.settings import HOST, StackSettings
from shared.errors import LocalStackError

STARTUP_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    port: int | None
    running: bool
    healthy: bool


def _records_file(settings: StackSettings) -> Path:
    return settings.state_dir / "run" / "processes.json"


def read_records(settings: StackSettings) -> list[ProcessRecord]:
    try:
        raw = json.loads(_records_file(settings).read_text())
    except (OSError, ValueError):
        return []
    return [ProcessRecord(**r) for r in raw]


def _write_records(settings: StackSettings, records: Sequence[ProcessRecord]) -> None:
    path = _records_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([asdict(r) for r in records], indent=2))
    tmp.replace(path)


def all_components(settings: StackSettings) -> list[Component]:
    return [
        *components.emulators(settings),
        components.permission_layer(settings),
        components.local_dataflow(settings),
        *components.function_processes(settings),
        *components.workers(settings),
    ]


class _Starter:
    """Starts components and waits for them; on failure stops what *it* started."""

    def __init__(self, settings: StackSettings, kept: Sequence[ProcessRecord]) -> None:
        self.settings = settings
        self.kept = list(kept)
        self.records: list[ProcessRecord] = []
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, batch: Sequence[Component], deadline: float) -> None:
        for component in batch:
            # A status file left by an earlier worker must not pass for this one's readiness.
            components.worker_status_file(self.settings, component.name).unlink(missing_ok=True)
            log = self.settings.logs_dir / f"{component.name}.log"
            record, proc = processes.spawn(
                component.name, component.argv, component.env, log, self.settings.state_dir
            )
            self.records.append(record)
            self.procs[component.name] = proc
            _write_records(self.settings, [*self.kept, *self.records])
        self._wait(batch, deadline)

    def _wait(self, batch: Sequence[Component], deadline: float) -> None:
        waiting = {c.name: c for c in batch}
        while waiting:
            for name, component in list(waiting.items()):
                code = self.procs[name].poll()
                if code is not None:
                    tail = processes.log_tail(self.settings.logs_dir / f"{name}.log")
                    raise LocalStackError(
                        name, f"exited with status {code} while starting:\n{tail}"
                    )
                if component.is_healthy():
                    del waiting[name]
            if waiting and time.monotonic() > deadline:
                raise LocalStackError(
                    ",".join(waiting),
                    f"not healthy after {STARTUP_TIMEOUT_S:.0f} s; see the logs in "
                    f"{self.settings.logs_dir}",
                )
            time.sleep(0.1)

    def stop_started(self) -> None:
        for record in reversed(self.records):
            processes.stop(record)
            components.worker_status_file(self.settings, record.component).unlink(missing_ok=True)
        _write_records(self.settings, self.kept)


# The order of start: Pub/Sub first (fake-gcs-server publishes to a topic that must exist), the
# emulators, the permission layer and the functions next, the workers that connect them last.
_STAGES: Final = (
    ("pubsub",),
    ("gcs", "bigquery", "iam", "dataflow", *components.FUNCTION_SIGNATURES),
    ("bridge", "scheduler"),
)


def up(settings: StackSettings, reset: bool = False) -> list[ComponentStatus]:
    """Start whatever part of the stack is not running; a healthy stack is left as it is.

    Parts still running are kept (restarting Pub/Sub would drop the events it holds), resources
    are provisioned again (idempotent), and a running stack is never silently given other
    settings.
    """
    with _exclusive(settings.state_dir):
        alive = [r for r in read_records(settings) if r.is_alive()]
        if alive and reset:
            _stop_records(settings.state_dir)
            alive = []
        elif alive:
            settings = _same_settings(settings)
        if reset:
            _wipe(settings)
        catalogue = all_components(settings)  # finds every program first: fails before any start
        kept = {r.component: r for r in alive}
        _check_ports([c for c in catalogue if c.name not in kept])
        settings.save()
        by_name = {c.name: c for c in catalogue}
        starter = _Starter(settings, list(kept.values()))
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        try:
            for stage, names in enumerate(_STAGES):
                starter.start([by_name[n] for n in names if n not in kept], deadline)
                if stage == 0:
                    provision.provision_pubsub(settings)
                elif stage == 1:
                    provision.provision_storage_and_bigquery(settings)
        except BaseException:
            starter.stop_started()
            raise
        return status(settings)


# What a running stack is asked again by `up`: another value needs a new stack.
_COMPARED: Final = (
    "ports", "model_name", "dataset", "inbox_bucket", "models_bucket", "region",
    "training_source", "delivery", "capacity", "infra_dir",
)  # fmt: skip


def _same_settings(requested: StackSettings) -> StackSettings:
    running = StackSettings.load(requested.state_dir)
    differ = [name for name in _COMPARED if getattr(running, name) != getattr(requested, name)]
    if differ:
        shown = ", ".join(f"{n} {getattr(running, n)!r}" for n in differ)
        raise LocalStackError(
            "stack",
            f"already running in {running.state_dir} with other settings ({shown}); stop it "
            "with `cloudscore local down` to start it with new ones",
        )
    return running


def down(settings: StackSettings) -> list[str]:
    """Stop every process this stack started; returns the names of those that were running."""
    with _exclusive(settings.state_dir):
        return _stop_records(settings.state_dir)


def stop_recorded(state_dir: Path) -> list[str]:
    """`down` for a state folder whose stack.json cannot be read: the process records suffice."""
    with _exclusive(state_dir):
        return _stop_records(state_dir)


def _stop_records(state_dir: Path) -> list[str]:
    path = state_dir / "run" / "processes.json"
    try:
        records = [ProcessRecord(**r) for r in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        records = []
    stopped = [r.component for r in reversed(records) if processes.stop(r)]
    path.unlink(missing_ok=True)
    for record in records:
        (state_dir / "run" / f"{record.component}.json").unlink(missing_ok=True)
    return stopped


@contextlib.contextmanager
def _exclusive(state_dir: Path, timeout_s: float = STARTUP_TIMEOUT_S) -> Iterator[None]:
    """One `up` or `down` at a time per state folder: two would stop each other's processes."""
    try:
        (state_dir / "run").mkdir(parents=True, exist_ok=True)
        handle = (state_dir / "run" / "lock").open("w")
    except OSError as exc:
        raise LocalStackError(
            "stack", f"cannot use {state_dir} as the state folder: {exc}"
        ) from exc
    with handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LocalStackError(
                        "stack", f"another `cloudscore local` command holds {state_dir}"
                    ) from None
                time.sleep(0.2)
        yield


def status(settings: StackSettings) -> list[ComponentStatus]:
    records = {r.component: r for r in read_records(settings)}
    result = []
    for component in all_components(settings):
        record = records.get(component.name)
        running = record is not None and record.is_alive()
        result.append(
            ComponentStatus(
                name=component.name,
                pid=record.pid if record else None,
                port=component.port,
                running=running,
                healthy=running and component.is_healthy(),
            )
        )
    return result


def require_healthy(settings: StackSettings, name: str) -> None:
    """Fail fast, and say what to do, instead of letting a client retry for minutes."""
    component = next(c for c in all_components(settings) if c.name == name)
    record = next((r for r in read_records(settings) if r.component == name), None)
    if record is None or not record.is_alive() or not component.is_healthy():
        raise LocalStackError(
            name, f"is not running in {settings.state_dir}; start it with `cloudscore local up`"
        )


def dead_letters(settings: StackSettings) -> list[dict[str, object]]:
    try:
        lines = settings.dead_letter_file.read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


def _check_ports(to_start: Sequence[Component]) -> None:
    ports = [(c.name, port) for c in to_start for port in (c.port, *c.more_ports) if port]
    for name, port in ports:
        if not processes.port_is_free(HOST, port):
            raise LocalStackError(
                name,
                f"port {port} on {HOST} is taken by another process; stop it or start the "
                "stack on other ports with `cloudscore local up --port-base N`",
            )


def _wipe(settings: StackSettings) -> None:
    for sub in ("data", "logs"):
        shutil.rmtree(settings.state_dir / sub, ignore_errors=True)
    for path in (settings.state_dir / "run").glob("*.json"):
        path.unlink()  # not the lock file: it is held while wiping
    settings.dead_letter_file.unlink(missing_ok=True)
