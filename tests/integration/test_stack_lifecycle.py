"""`up` / `down` of a whole stack of its own: idempotent start, a clean stop, data kept, and clear
failures. Slower than the other stack tests (it starts and stops a stack twice)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import pytest

from local_emulator import processes, stack
from local_emulator.components import Component
from local_emulator.settings import HOST, StackSettings
from shared import clients
from shared.errors import LocalStackError
from tests.conftest import RETRY_TIME_SCALE, free_port_base, start_stack

pytestmark = pytest.mark.stack


def test_up_twice_down_and_up_again_keeps_the_data(tmp_path: Path) -> None:
    settings = start_stack(tmp_path / "stack")
    records = stack.read_records(settings)
    try:
        first = {s.name: s.pid for s in stack.status(settings)}
        again = {s.name: s.pid for s in stack.up(settings)}
        assert again == first, "a second `up` must leave the running stack alone"

        name = f"kept/{uuid.uuid4()}.txt"
        clients.storage_client(settings.project, settings.endpoints()).bucket(
            settings.models_bucket
        ).blob(name).upload_from_string(b"still here")
        bq = clients.bigquery_client(settings.project, settings.endpoints())
        table = f"{settings.project}.{settings.dataset}.labels"
        bq.insert_rows_json(
            table, [{"record_id": name, "label": "1", "labelled_at": "2026-01-01T00:00:00Z"}]
        )
    finally:
        stopped = stack.down(settings)

    assert sorted(stopped) == sorted(first)
    assert not [r.component for r in records if r.is_alive()]
    groups = {r.pid for r in records}
    assert not [pid for pid in _all_pids() if os.getpgid(pid) in groups], "a child survived"
    for name_, port in settings.ports.items():
        assert processes.port_is_free(HOST, port), f"port of {name_} still taken"
    assert stack.read_records(settings) == []

    stack.up(settings)
    try:
        assert (
            clients.storage_client(settings.project, settings.endpoints())
            .bucket(settings.models_bucket)
            .blob(name)
            .download_as_bytes()
            == b"still here"
        )
        rows = list(bq.query(f"SELECT label FROM `{table}` WHERE record_id = '{name}'").result())
        assert [r["label"] for r in rows] == ["1"]

        stack.up(settings, reset=True)
        assert (
            not clients.storage_client(settings.project, settings.endpoints())
            .bucket(settings.models_bucket)
            .blob(name)
            .exists()
        ), "`up --reset` wipes the data"
    finally:
        stack.down(settings)


def _group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _all_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                os.getpgid(int(entry.name))
            except ProcessLookupError:
                continue
            pids.append(int(entry.name))
    return pids


# A program that starts a stack of its own, as a test run or a script would, and then waits.
_STARTER = """
import sys, time
from pathlib import Path
from local_emulator import stack
from local_emulator.settings import StackSettings
settings = StackSettings.resolve(Path(sys.argv[1]), int(sys.argv[2]), retry_time_scale=0.01)
stack.up(settings)
print("up", flush=True)
time.sleep(3600)
"""


def test_a_stack_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    state = tmp_path / "stack"
    base = free_port_base()
    starter = subprocess.Popen(
        [sys.executable, "-c", _STARTER, str(state), str(base)], stdout=subprocess.PIPE
    )
    try:
        assert starter.stdout is not None
        assert starter.stdout.readline() == b"up\n", "the stack did not start"
        settings = StackSettings.load(state)
        groups = {r.pid for r in stack.read_records(settings)}
        assert {s.name for s in stack.status(settings) if s.healthy} >= {"pubsub", "bridge"}

        starter.send_signal(signal.SIGKILL)
        starter.wait()

        left = _wait_until_stopped(groups, settings.ports.values(), timeout_s=60)
        assert not left, f"still running 60 s after their starter was killed: {left}"
    finally:
        starter.kill()
        stack.stop_recorded(state)


def _wait_until_stopped(groups: set[int], ports: Iterable[int], timeout_s: float) -> list[str]:
    """What is left of the processes of `groups` and of the listeners on `ports`, once none is
    left or the time is up."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = [f"pid {pid}" for pid in _all_pids() if _group(pid) in groups]
        left += [f"port {p}" for p in ports if not processes.port_is_free(HOST, p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def test_a_stack_started_by_local_up_outlives_the_command(tmp_path: Path) -> None:
    state = tmp_path / "stack"
    command = [
        *("local", "up", "--state-dir", str(state), "--port-base", str(free_port_base())),
        *("--retry-time-scale", str(RETRY_TIME_SCALE)),
    ]
    cli = f"from cloudscore.cli import main; raise SystemExit(main({command!r}))"
    try:
        subprocess.run([sys.executable, "-c", cli], check=True, capture_output=True)
        settings = StackSettings.load(state)
        statuses = stack.status(settings)
        assert [s.name for s in statuses if not s.healthy] == [], "`local up` keeps it running"
    finally:
        stack.stop_recorded(state)


def test_up_with_other_settings_on_a_running_stack_is_refused(tmp_path: Path) -> None:
    settings = start_stack(tmp_path / "stack")
    try:
        moved = StackSettings.resolve(settings.state_dir, settings.ports["pubsub"] + 100)
        with pytest.raises(LocalStackError, match="already running"):
            stack.up(moved)
    finally:
        stack.down(settings)


def test_a_taken_port_is_named_and_nothing_is_started(tmp_path: Path) -> None:
    settings = StackSettings.resolve(tmp_path / "stack", free_port_base())
    port = settings.ports["bigquery"]
    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind((HOST, port))
        blocker.listen()
        with pytest.raises(LocalStackError) as raised:
            stack.up(settings)
    assert raised.value.component == "bigquery"
    assert f"port {port} on {HOST} is taken by another process" in raised.value.problem
    assert "--port-base N" in raised.value.problem
    assert stack.read_records(settings) == []


@pytest.mark.parametrize("name", ["pubsub", "dataflow"])
def test_a_port_taken_after_the_check_fails_the_start_naming_it(tmp_path: Path, name: str) -> None:
    """`up` checks the ports first, but one can be taken before the component binds it (another
    stack starting, a connection's ephemeral port): the start fails then too, naming the port,
    and leaves nothing running — even the Pub/Sub emulator, which stays up without its port."""
    settings = StackSettings.resolve(tmp_path / "stack", free_port_base())
    settings.save()
    port = settings.ports[name]
    component = next(c for c in stack.all_components(settings) if c.name == name)
    starter = stack._Starter(settings, [])
    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind((HOST, port))
        blocker.listen()
        try:
            with pytest.raises(LocalStackError) as raised:
                starter.start([component], deadline=time.monotonic() + 30)
            left = [r.component for r in starter.records if r.is_alive()]
        finally:
            starter.stop_started()
    assert raised.value.component == name
    assert f"port {port} on {HOST} is taken by another process" in raised.value.problem
    assert "--port-base N" in raised.value.problem
    assert left == [], "the component that could not listen must be stopped"


def test_a_component_that_dies_while_starting_is_reported_with_its_log(tmp_path: Path) -> None:
    settings = StackSettings.resolve(tmp_path / "stack", free_port_base())
    dying = Component(
        "doomed",
        [sys.executable, "-c", "import sys; print('cannot open data folder'); sys.exit(3)"],
        {},
        None,
        lambda: False,
    )
    starter = stack._Starter(settings, [])
    with pytest.raises(LocalStackError) as raised:
        starter.start([dying], deadline=float("inf"))
    starter.stop_started()
    assert "exited with status 3" in str(raised.value)
    assert "cannot open data folder" in str(raised.value)
