"""Fixtures of the stack tests that need a model: the stack's champion, trained once."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudscore.demo_data import LABEL_COLUMN, iter_demo_frames
from local_emulator import stack
from local_emulator.settings import STATE_DIR_VARIABLE, StackSettings
from shared import clients
from shared.project_config import parse_project_config
from shared.registration import train_and_register
from shared.registry import ModelRegistry
from shared.sources import SourceInfo, fingerprint
from tests.conftest import RETRY_TIME_SCALE, free_port_base

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def promote_a_champion(settings: StackSettings, *, time_budget_s: float = 5) -> str:
    """An XGBoost model of the demo's data for the stack's model, trained and promoted by a
    person (as `cloudscore train --promote`); its version."""
    frame = next(iter_demo_frames(3000, seed=41, drift=0.0, bad_rows=0.0, chunk_rows=3000))
    config = parse_project_config(
        {
            "model": {
                "name": settings.model_name,
                "target": LABEL_COLUMN,
                "id_column": "application_id",
                "time_column": "application_date",
            },
            "training": {"time_budget_s": time_budget_s, "candidates": ["xgboost"]},
        },
        "test",
    )
    storage = clients.storage_client(settings.project, settings.endpoints())
    registry = ModelRegistry(storage, settings.models_bucket, settings.model_name)
    source = SourceInfo("memory://", "file", len(frame), fingerprint(frame))
    return train_and_register(frame, source, config, registry, None, promote=True).version


@pytest.fixture(scope="session")
def champion(local_stack: StackSettings) -> Iterator[str]:
    yield promote_a_champion(local_stack)


@contextlib.contextmanager
def cli_project(folder: Path, project_toml: str) -> Iterator[StackSettings]:
    """A project folder with `project_toml` as its cloudscore.toml and a stack started by
    `cloudscore local up` in it, as a user starts one; the working folder and the state folder
    variable point there until the stack is stopped on exit."""
    from cloudscore.cli import main

    (folder / "cloudscore.toml").write_text(project_toml)
    state = folder / ".cloudscore" / "local"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv(STATE_DIR_VARIABLE, str(state))
        up = ["local", "up", "--port-base", str(free_port_base())]
        assert main([*up, "--retry-time-scale", str(RETRY_TIME_SCALE)]) == 0
        settings = StackSettings.load(state)
        stack.tie(settings)  # `local up` detached it: a killed test run still stops it
        try:
            yield settings
        finally:
            stack.down(settings)


def schemathesis(
    url: str, folder: Path, *, max_examples: int, seed: int
) -> subprocess.CompletedProcess[str]:
    """Schemathesis with every check against the API document the function serves at `url`."""
    command = [
        str(SCHEMATHESIS), "run", f"{url}/openapi.json", "--checks", "all",
        "--max-examples", str(max_examples), "--seed", str(seed),
    ]  # fmt: skip
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=folder,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
