from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

from local_emulator import processes


def test_a_spawned_process_is_stopped_with_its_group(tmp_path: Path) -> None:
    # The parent starts a child in its group, as the Pub/Sub emulator's script starts a JVM.
    script = (
        "import subprocess, sys, time;"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        "print(child.pid, flush=True); time.sleep(60)"
    )
    record, _ = processes.spawn(
        "sleeper", [sys.executable, "-c", script], {}, tmp_path / "l.log", tmp_path
    )
    assert record.is_alive()

    child = int(wait_for_line(tmp_path / "l.log"))

    assert processes.stop(record, grace_s=5)

    assert not record.is_alive()
    # SIGKILL is delivered asynchronously: give the kernel a moment to finish the child.
    deadline = time.monotonic() + 5
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child), "the child in the group must be stopped too"
    assert not processes.stop(record), "stopping twice is harmless"


def wait_for_line(path: Path) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if text.strip():
            return text.split()[0]
        time.sleep(0.05)
    raise AssertionError(f"nothing written to {path}")


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_record_whose_pid_was_reused_is_never_signalled(tmp_path: Path) -> None:
    record, _ = processes.spawn(
        "sleeper",
        [sys.executable, "-c", "import time; time.sleep(60)"],
        {},
        tmp_path / "l.log",
        tmp_path,
    )
    impostor = processes.ProcessRecord("old", record.pid, record.started - 1, "")

    assert not impostor.is_alive()
    assert not processes.stop(impostor)
    assert record.is_alive()
    processes.stop(record)


def test_log_tail_gives_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("\n".join(str(i) for i in range(100)))

    assert processes.log_tail(log, 3) == "97\n98\n99"
    assert processes.log_tail(tmp_path / "missing.log") == ""


def test_a_free_block_of_ports_lies_below_the_range_of_outgoing_connections() -> None:
    # A port in that range may become a connection's local end between the check and the bind.
    text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
    ephemeral_from = int(text.split()[0])
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))  # the kernel picks one in that range
    with taken:
        base = processes.free_port_base(12, "127.0.0.1")

        assert base + 12 <= ephemeral_from
        assert taken.getsockname()[1] >= ephemeral_from
        assert all(processes.port_is_free("127.0.0.1", base + i) for i in range(12))
