"""A stack's lifeline: its processes stop when the program that started them ends, even killed,
except those it was told to spare; a released lifeline stops nothing. Sleepers stand for the
stack's servers (tests/integration/test_stack_lifecycle.py kills the starter of a real stack)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from local_emulator import processes
from local_emulator.processes import ProcessRecord

# Starts two sleepers (one spared), ties them, prints the three PIDs, then releases or waits.
_STARTER = """
import sys, time
from pathlib import Path
from local_emulator import lifeline, processes, stack
state, then = Path(sys.argv[1]), sys.argv[2]
sleep = [sys.executable, "-c", "import time; time.sleep(120)"]
server, _ = processes.spawn("server", sleep, {}, state / "logs" / "server.log", state)
other, _ = processes.spawn("other", sleep, {}, state / "logs" / "other.log", state)
line, _ = lifeline.tie(state, state / "logs", spare=[other])
stack._write_records(state, [other, line, server])
print(server.pid, other.pid, line.pid, flush=True)
if then == "release":
    lifeline.release(state)
else:
    time.sleep(120)
"""


def _start(state: Path, then: str) -> tuple[subprocess.Popen[bytes], list[ProcessRecord]]:
    starter = subprocess.Popen(
        [sys.executable, "-c", _STARTER, str(state), then], stdout=subprocess.PIPE
    )
    assert starter.stdout is not None
    pids = [int(pid) for pid in starter.stdout.readline().split()]
    records = [
        ProcessRecord(name, pid, processes._start_time(pid) or -1, "")
        for name, pid in zip(("server", "other", "lifeline"), pids, strict=True)
    ]
    return starter, records


def _wait_for_exit(record: ProcessRecord, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while record.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_killed_starter_takes_its_processes_with_it_but_not_the_spared(tmp_path: Path) -> None:
    starter, (server, other, line) = _start(tmp_path, "wait")
    try:
        assert server.is_alive() and other.is_alive() and line.is_alive()

        starter.send_signal(signal.SIGKILL)
        starter.wait()
        _wait_for_exit(line)

        assert not line.is_alive(), "the lifeline ends once it has stopped the stack"
        assert not server.is_alive()
        assert other.is_alive(), "a process running before the lifeline is not its starter's"
    finally:
        starter.kill()
        for record in (server, other, line):
            processes.stop(record)


def test_a_released_lifeline_leaves_the_stack_running(tmp_path: Path) -> None:
    starter, (server, other, line) = _start(tmp_path, "release")
    try:
        starter.wait(timeout=30)
        _wait_for_exit(line)

        assert not line.is_alive(), "released, the lifeline ends"
        assert server.is_alive() and other.is_alive()
    finally:
        for record in (server, other, line):
            processes.stop(record)
