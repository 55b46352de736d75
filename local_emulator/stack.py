"""Start, stop and inspect the local cloud as a whole.

`up` starts the parts in dependency order — Pub/Sub first (fake-gcs-server publishes to a topic
that must already exist), then storage, BigQuery and the functions together, then the workers that
connect them — and records every process the moment it starts, so that `down` (or a failed `up`)
stops exactly what was started, even after a crash half-way.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

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
        *components.function_processes(settings),
        *components.workers(settings),
    ]


class _Starter:
    """Starts components and waits for them, stopping everything it started if one fails."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.records: list[ProcessRecord] = []
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, batch: Sequence[Component], deadline: float) -> None:
        for component in batch:
            log = self.settings.logs_dir / f"{component.name}.log"
            record, proc = processes.spawn(
                component.name, component.argv, component.env, log, self.settings.state_dir
            )
            self.records.append(record)
            self.procs[component.name] = proc
            _write_records(self.settings, self.records)
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

    def stop_all(self) -> None:
        for record in reversed(self.records):
            processes.stop(record)
        _write_records(self.settings, [])


def up(settings: StackSettings, reset: bool = False) -> list[ComponentStatus]:
    """Start the stack; a healthy stack already running is left as it is."""
    running = [r for r in read_records(settings) if r.is_alive()]
    if running and reset:
        down(settings)
    elif running:
        statuses = status(StackSettings.load(settings.state_dir))
        if all(s.healthy for s in statuses):
            return statuses
        down(settings)  # a partial stack: start it again whole
    if reset:
        _wipe(settings)
    catalogue = all_components(settings)  # finds every program first: fail before starting any
    _check_ports(catalogue, settings)
    settings.save()
    by_name = {c.name: c for c in catalogue}
    starter = _Starter(settings)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    try:
        starter.start([by_name["pubsub"]], deadline)
        provision.provision_pubsub(settings)
        names = ["gcs", "bigquery", *components.FUNCTION_SIGNATURES]
        starter.start([by_name[n] for n in names], deadline)
        provision.provision_storage_and_bigquery(settings)
        starter.start([by_name["bridge"], by_name["scheduler"]], deadline)
    except BaseException:
        starter.stop_all()
        raise
    return status(settings)


def down(settings: StackSettings) -> list[str]:
    """Stop every process this stack started; returns the names of those that were running."""
    stopped = [r.component for r in reversed(read_records(settings)) if processes.stop(r)]
    _write_records(settings, [])
    for name in ("bridge", "scheduler"):
        components.worker_status_file(settings, name).unlink(missing_ok=True)
    return stopped


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


def dead_letters(settings: StackSettings) -> list[dict[str, object]]:
    try:
        lines = settings.dead_letter_file.read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


def _check_ports(catalogue: Sequence[Component], settings: StackSettings) -> None:
    ports = [(c.name, c.port) for c in catalogue if c.port is not None]
    ports.append(("bigquery (gRPC)", settings.ports["bigquery_grpc"]))
    for name, port in ports:
        if not processes.port_is_free(HOST, port):
            raise LocalStackError(
                name,
                f"port {port} on {HOST} is taken by another process; stop it or start the "
                "stack on other ports with `cloudscore local up --port-base N`",
            )


def _wipe(settings: StackSettings) -> None:
    for sub in ("data", "logs", "run"):
        shutil.rmtree(settings.state_dir / sub, ignore_errors=True)
    settings.dead_letter_file.unlink(missing_ok=True)
