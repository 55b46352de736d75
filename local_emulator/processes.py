"""Background processes of the local stack: started detached, found again, stopped by PID.

A process is recorded as its PID *and* its start time, so that a PID the system has since given
to another program is never signalled. Each process leads its own process group, so stopping it
also stops what it started (the Pub/Sub emulator's launcher script starts a JVM).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

# Popen objects of the processes this interpreter started: kept so they are not collected while
# running (which warns) and so that `stop` can reap them.
_STARTED: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ProcessRecord:
    component: str
    pid: int
    started: int  # start time in clock ticks since boot, from /proc/<pid>/stat
    log: str

    def is_alive(self) -> bool:
        return _start_time(self.pid) == self.started


def _start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its closing one.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie has exited; it only waits to be reaped
        return None
    return int(fields[19])


def spawn(
    component: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    log: Path,
    cwd: Path,
    *,
    pass_fds: Sequence[int] = (),
) -> tuple[ProcessRecord, subprocess.Popen[bytes]]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            pass_fds=pass_fds,
        )
    _STARTED[proc.pid] = proc
    started = _start_time(proc.pid)
    return ProcessRecord(component, proc.pid, started or -1, str(log)), proc


def stop(record: ProcessRecord, grace_s: float = 10.0) -> bool:
    """Stop the process and its group; True if it was running. Never signals a reused PID."""
    _reap(record.pid)
    if not record.is_alive():
        return False
    _signal_group(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        _reap(record.pid)
        if not record.is_alive():
            break
        time.sleep(0.05)
    else:
        _signal_group(record.pid, signal.SIGKILL)
        _reap(record.pid)
    # The group may outlive its leader (a JVM under a launcher script).
    _signal_group(record.pid, signal.SIGKILL)
    proc = _STARTED.pop(record.pid, None)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _reap(pid: int) -> None:
    # Reaps our own child (when `up` and `down` run in one process, as in tests).
    proc = _STARTED.get(pid)
    if proc is not None and proc.poll() is not None:
        del _STARTED[pid]


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As servers do: connections of a stopped server lingering in TIME_WAIT do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


# Where a stack on ports chosen at run time (tests, benchmarks) looks for a block of free ones.
_FREE_BLOCKS_FROM: Final = 10000
# Linux's default first port for the local end of outgoing connections, where the kernel's
# setting cannot be read.
_EPHEMERAL_FROM: Final = 32768


def free_port_base(ports: int, host: str) -> int:
    """A base from which `ports` consecutive ports are free on `host`: below the range the kernel
    hands out for the local end of outgoing connections (Linux's ip_local_port_range), where a
    port free when checked may be any connection's a moment later and its server then fails to
    bind; spread by PID, so that runs side by side look in different places."""
    step = -(-ports // 10) * 10
    span = _ephemeral_from() - _FREE_BLOCKS_FROM - step
    first = (os.getpid() * 97) % (span // step) * step
    for offset in range(0, span, step):
        base = _FREE_BLOCKS_FROM + (first + offset) % span
        if all(port_is_free(host, base + i) for i in range(ports)):
            return base
    raise OSError(
        f"no {ports} consecutive free ports on {host} from {_FREE_BLOCKS_FROM} to "
        f"{_ephemeral_from() - 1}"
    )


def _ephemeral_from() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return max(int(text.split()[0]), _FREE_BLOCKS_FROM + 1000)
    except (OSError, ValueError, IndexError):
        return _EPHEMERAL_FROM


def log_tail(path: Path | str, lines: int = 15) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
