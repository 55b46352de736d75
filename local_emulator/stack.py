"""Start, stop and inspect the local cloud as a whole.

`up` starts the parts in dependency order — Pub/Sub first (fake-gcs-server publishes to a topic
that must already exist), then storage, BigQuery and the functions together, then the workers that
connect them — and records every process the moment it starts, so that `down` (or a failed `up`)
stops exactly what was started, even after a crash half-way. Unless detached (`cloudscore local
up`), what `up` starts stops when the process that called it ends, even killed
(`local_emulator.lifeline`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from local_emulator import components, lifeline, processes, provision
from local_emulator.components import Component
from local_emulator.processes import ProcessRecord
from local_emulator.settings import DEFAULT_PORTS, HOST, PORT_BASE_VARIABLE, StackSettings
from shared.errors import LocalStackError

STARTUP_TIMEOUT_S = 120.0

# What every runtime prints when a port cannot be bound, EADDRINUSE's text (Java's BindException,
# Go's net package, Python's OSError, gunicorn as it retries). The Pub/Sub emulator's JVM prints
# it and stays up without its port: its exit never comes to tell.
_PORT_IN_USE = "address already in use"


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    port: int | None
    running: bool
    healthy: bool


def _records_file(state_dir: Path) -> Path:
    return state_dir / "run" / "processes.json"


def read_records(settings: StackSettings) -> list[ProcessRecord]:
    try:
        raw = json.loads(_records_file(settings.state_dir).read_text())
    except (OSError, ValueError):
        return []
    return [ProcessRecord(**r) for r in raw]


def _write_records(state_dir: Path, records: Sequence[ProcessRecord]) -> None:
    path = _records_file(state_dir)
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
        self.log_starts: dict[str, int] = {}  # where each one's log began for this start

    def tie(self) -> None:
        """What this starter starts from now on stops when this process ends."""
        record, _ = lifeline.tie(self.settings.state_dir, self.settings.logs_dir, self.kept)
        self.records.append(record)
        _write_records(self.settings.state_dir, [*self.kept, *self.records])

    def start(self, batch: Sequence[Component], deadline: float) -> None:
        for component in batch:
            # A status file left by an earlier worker must not pass for this one's readiness.
            components.worker_status_file(self.settings, component.name).unlink(missing_ok=True)
            log = self.settings.logs_dir / f"{component.name}.log"
            self.log_starts[component.name] = log.stat().st_size if log.exists() else 0
            record, proc = processes.spawn(
                component.name, component.argv, component.env, log, self.settings.state_dir
            )
            self.records.append(record)
            self.procs[component.name] = proc
            _write_records(self.settings.state_dir, [*self.kept, *self.records])
        self._wait(batch, deadline)

    def _wait(self, batch: Sequence[Component], deadline: float) -> None:
        waiting = {c.name: c for c in batch}
        while waiting:
            for name, component in list(waiting.items()):
                code = self.procs[name].poll()
                if code is not None or self._cannot_listen(name):
                    raise self._failure(component, code)
                if component.is_healthy():
                    del waiting[name]
            if waiting and time.monotonic() > deadline:
                raise LocalStackError(
                    ",".join(waiting),
                    f"not healthy after {STARTUP_TIMEOUT_S:.0f} s; see the logs in "
                    f"{self.settings.logs_dir}",
                )
            time.sleep(0.1)

    def _cannot_listen(self, name: str) -> bool:
        """Whether the component said, since it started, that a port it needs is taken."""
        with (self.settings.logs_dir / f"{name}.log").open("rb") as log:
            log.seek(self.log_starts[name])
            return _PORT_IN_USE in log.read().decode(errors="replace").lower()

    def _failure(self, component: Component, code: int | None) -> LocalStackError:
        """Why the component failed to start, once it is stopped: a port of its that is still
        taken is held by another process, and that is the error."""
        processes.stop(next(r for r in self.records if r.component == component.name))
        for port in component.ports:
            if not processes.port_is_free(HOST, port):
                return _port_taken(component.name, port)
        tail = processes.log_tail(self.settings.logs_dir / f"{component.name}.log")
        if code is None:
            return LocalStackError(component.name, f"could not listen while starting:\n{tail}")
        return LocalStackError(component.name, f"exited with status {code} while starting:\n{tail}")

    def stop_started(self) -> None:
        for record in reversed(self.records):
            processes.stop(record)
            components.worker_status_file(self.settings, record.component).unlink(missing_ok=True)
        lifeline.cut(self.records)
        _write_records(self.settings.state_dir, self.kept)


# The order of start: Pub/Sub first (fake-gcs-server publishes to a topic that must exist), the
# emulators, the permission layer and the functions next, the workers that connect them last.
_STAGES: Final = (
    ("pubsub",),
    ("gcs", "bigquery", "iam", "dataflow", *components.FUNCTION_SIGNATURES),
    ("bridge", "scheduler"),
)


def up(
    settings: StackSettings, reset: bool = False, *, detach: bool = False
) -> list[ComponentStatus]:
    """Start whatever part of the stack is not running; a healthy stack is left as it is.

    Parts still running are kept (restarting Pub/Sub would drop the events it holds), resources
    are provisioned again (idempotent), and a running stack is never silently given other
    settings. What it starts stops when the calling process ends, unless `detach` (or until
    `detach` is called): then it runs until `down`.
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
        kept = {r.component for r in alive}
        to_start = [c for c in catalogue if c.name not in kept]
        _check_ports(to_start)
        settings.save()
        by_name = {c.name: c for c in catalogue}
        starter = _Starter(settings, alive)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        try:
            if detach:
                lifeline.release(settings.state_dir)
            elif to_start and not lifeline.held(settings.state_dir):
                starter.tie()
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


def detach(settings: StackSettings) -> None:
    """Let the stack this process started outlive it: it runs until `down`."""
    lifeline.release(settings.state_dir)


def tie(settings: StackSettings) -> None:
    """Stop the running stack when this process ends, whoever started it."""
    with _exclusive(settings.state_dir):
        records = read_records(settings)
        record, _ = lifeline.tie(settings.state_dir, settings.logs_dir, spare=[])
        _write_records(settings.state_dir, [*records, record])


def down(settings: StackSettings) -> list[str]:
    """Stop every process this stack started; returns the names of those that were running."""
    with _exclusive(settings.state_dir):
        return _stop_records(settings.state_dir)


def stop_recorded(state_dir: Path) -> list[str]:
    """`down` for a state folder whose stack.json cannot be read: the process records suffice."""
    with _exclusive(state_dir):
        return _stop_records(state_dir)


def stop_abandoned(state_dir: Path, spare: Collection[tuple[int, int]]) -> list[str]:
    """`down` for a lifeline whose starter has ended: every process of the stack but those whose
    (pid, start time) is in `spare`, and but the lifeline itself."""
    with _exclusive(state_dir):
        return _stop_records(state_dir, spare)


def _stop_records(state_dir: Path, spare: Collection[tuple[int, int]] = ()) -> list[str]:
    path = _records_file(state_dir)
    try:
        records = [ProcessRecord(**r) for r in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        records = []
    me = os.getpid()  # a lifeline stopping the stack leaves itself out
    ours = [r for r in records if (r.pid, r.started) not in spare and r.pid != me]
    spared = [r for r in records if (r.pid, r.started) in spare and r.is_alive()]
    stopped = [r for r in reversed(ours) if processes.stop(r)]
    lifeline.cut(stopped)
    if spared:
        _write_records(state_dir, spared)
    else:
        path.unlink(missing_ok=True)
    for record in ours:
        (state_dir / "run" / f"{record.component}.json").unlink(missing_ok=True)
    # The lifelines are the stack's own business, not parts of the cloud to report.
    return [r.component for r in stopped if r.component != lifeline.NAME]


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
    for component in to_start:
        for port in component.ports:
            if not processes.port_is_free(HOST, port):
                raise _port_taken(component.name, port)


def _port_taken(component: str, port: int) -> LocalStackError:
    return LocalStackError(
        component,
        f"port {port} on {HOST} is taken by another process; stop that process, or start the "
        f"stack on other ports with `cloudscore local up --port-base N` (or {PORT_BASE_VARIABLE}"
        f"=N): it uses the {len(DEFAULT_PORTS)} ports from N",
    )


def _wipe(settings: StackSettings) -> None:
    for sub in ("data", "logs"):
        shutil.rmtree(settings.state_dir / sub, ignore_errors=True)
    for path in (settings.state_dir / "run").glob("*.json"):
        path.unlink()  # not the lock file: it is held while wiping
    settings.dead_letter_file.unlink(missing_ok=True)
