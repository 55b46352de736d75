"""Shared fixtures. Tests that need the local cloud are marked `stack`; the `local_stack` fixture
starts it once per session on free ports in a temporary folder and stops it afterwards."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_emulator import processes, stack
from local_emulator.settings import DEFAULT_PORTS, HOST, BridgePolicy, StackSettings

_PORTS_PER_STACK = len(DEFAULT_PORTS)


def free_port_base(start: int = 30000, stop: int = 60000) -> int:
    """A base from which a whole stack's ports are free, spread by PID so parallel runs differ."""
    span = stop - start
    first = start + (os.getpid() * 97) % (span // 10) * 10
    for offset in range(0, span, 10):
        base = start + (first - start + offset) % span
        if all(processes.port_is_free(HOST, base + i) for i in range(_PORTS_PER_STACK)):
            return base
    raise RuntimeError("no free range of ports found for the local stack")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def start_stack(state_dir: Path) -> StackSettings:
    settings = StackSettings.resolve(
        state_dir,
        free_port_base(),
        BridgePolicy(max_attempts=3, initial_backoff_s=0.1, max_backoff_s=0.5),
    )
    stack.up(settings)
    return settings


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackSettings]:
    settings = start_stack(tmp_path_factory.mktemp("stack"))
    try:
        yield settings
    finally:
        stack.down(settings)
