"""A stack that stops when the process that started it ends, however it ends.

`stack.up` ties what it starts to its caller (unless told to detach, as `cloudscore local up`
is): it first starts a lifeline, a small process of the stack holding the reading end of a pipe
whose only writing end stays in the caller. When the caller ends — it returns, raises, or is
killed, SIGKILL included — the kernel closes that end, the lifeline reads end-of-file and stops
the stack's processes as `down` does, each with its process group (the Pub/Sub emulator's JVM,
the functions' workers). It spares the processes that were running before it started: another
program's.

A caller that wants the stack to outlive it releases its lifelines: it writes to the pipe before
closing it, and the lifeline exits, stopping nothing.

Run as `python -m local_emulator.lifeline --state-dir DIR --fd N [--spare PID:START …]` (the
stack starts it).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from local_emulator import processes
from local_emulator.processes import ProcessRecord
from shared.structured_log import configure_logging

NAME: Final = "lifeline"

_log = logging.getLogger("local_emulator.lifeline")


@dataclass(frozen=True)
class _Held:
    state_dir: Path
    lifeline: ProcessRecord
    writing_end: int


# The lifelines this process holds the other end of.
_HELD: list[_Held] = []


def tie(
    state_dir: Path, logs_dir: Path, spare: Sequence[ProcessRecord]
) -> tuple[ProcessRecord, subprocess.Popen[bytes]]:
    """Start a lifeline: the stack's processes, but `spare`, stop when this process ends."""
    _drop_stopped()
    reading_end, writing_end = os.pipe()  # neither is inherited by other children
    argv = [
        *(sys.executable, "-m", "local_emulator.lifeline"),
        *("--state-dir", str(state_dir), "--fd", str(reading_end)),
        *(f"--spare={r.pid}:{r.started}" for r in spare),
    ]
    try:
        record, proc = processes.spawn(
            NAME, argv, os.environ, logs_dir / f"{NAME}.log", state_dir, pass_fds=(reading_end,)
        )
    except BaseException:
        os.close(writing_end)
        raise
    finally:
        os.close(reading_end)
    _HELD.append(_Held(state_dir, record, writing_end))
    return record, proc


def held(state_dir: Path) -> bool:
    """Whether this process ties the stack in `state_dir` (a lifeline that stops whatever the
    stack starts after it, too)."""
    return any(h.state_dir == state_dir and h.lifeline.is_alive() for h in _HELD)


def release(state_dir: Path) -> None:
    """Let the stack outlive this process: its lifelines exit, stopping nothing."""
    for held_ in [h for h in _HELD if h.state_dir == state_dir]:
        with contextlib.suppress(OSError):  # that lifeline was stopped already
            os.write(held_.writing_end, b"released\n")
        _close(held_)


def cut(stopped: Sequence[ProcessRecord]) -> None:
    """Close this process's end of the lifelines among `stopped`, which were stopped with their
    stack."""
    for held_ in [h for h in _HELD if h.lifeline in stopped]:
        _close(held_)


def _drop_stopped() -> None:
    # Lifelines stopped by another process's `down`.
    for held_ in [h for h in _HELD if not h.lifeline.is_alive()]:
        _close(held_)


def _close(held_: _Held) -> None:
    _HELD.remove(held_)
    os.close(held_.writing_end)


def _spared(text: str) -> tuple[int, int]:
    pid, _, started = text.partition(":")
    return int(pid), int(started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Stop a stack when its starter ends.")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--fd", type=int, required=True, help="the reading end of the pipe")
    parser.add_argument("--spare", type=_spared, action="append", default=[], metavar="PID:START")
    args = parser.parse_args(argv)
    configure_logging(NAME)
    # Blocks until the starter writes (it releases the stack) or every writing end is closed
    # (it has ended). A SIGTERM from `down` ends this process by Python's default action.
    if os.read(args.fd, 64):
        _log.info("released: the stack outlives the process that started it")
        return
    _log.warning("the process that started the stack has ended: stopping the stack")
    from local_emulator import stack

    stopped = stack.stop_abandoned(args.state_dir, spare=set(args.spare))
    _log.info("stopped %s", ", ".join(stopped) or "nothing: it was stopped already")


if __name__ == "__main__":
    main()
