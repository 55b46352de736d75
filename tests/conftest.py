"""Shared fixtures. Tests that need the local cloud are marked `stack`; the `local_stack` fixture
starts it once per session on free ports in a temporary folder and stops it afterwards."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_emulator import processes, stack
from local_emulator.settings import DEFAULT_PORTS, HOST, StackSettings

_PORTS_PER_STACK = len(DEFAULT_PORTS)


def free_port_base() -> int:
    """A base from which a whole stack's ports are free (see processes.free_port_base)."""
    return processes.free_port_base(_PORTS_PER_STACK, HOST)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


# The state folder of every stack this session started: what their functions used of their
# grants is read at the end (tests/integration/test_zz_grants_used.py).
STARTED_STACKS: list[Path] = []

# The tests' clock for redeliveries: infra/'s delays (10 s doubling up to 600 s) a hundred times
# shorter; the attempts before an event is dead-lettered are infra/'s own.
RETRY_TIME_SCALE = 0.01


def start_stack(state_dir: Path, **options: Any) -> StackSettings:
    settings = StackSettings.resolve(
        state_dir, free_port_base(), retry_time_scale=RETRY_TIME_SCALE, **options
    )
    STARTED_STACKS.append(settings.state_dir)
    stack.up(settings)
    return settings


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackSettings]:
    settings = start_stack(tmp_path_factory.mktemp("stack"))
    try:
        yield settings
    finally:
        stack.down(settings)


def project_file(folder: Path, model_name: str, training_source: str | None = None) -> Path:
    """A cloudscore.toml naming the model a stack serves (and what its retrain reads), as a
    project's own: a stack started with it serves that model and grants that read."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cloudscore.toml"
    lines = ["[model]", f'name = "{model_name}"', 'target = "defaulted"']
    if training_source:
        lines += ["[training]", f'source = "{training_source}"']
    path.write_text("\n".join(lines) + "\n")
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `after_every_stack` run last: they read what the others' stacks recorded."""
    items.sort(key=lambda item: item.get_closest_marker("after_every_stack") is not None)
