"""Fixtures of the stack tests that need a model: the stack's champion, trained once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cloudscore.demo_data import LABEL_COLUMN, iter_demo_frames
from local_emulator.settings import StackSettings
from shared import clients
from shared.project_config import parse_project_config
from shared.registration import train_and_register
from shared.registry import ModelRegistry
from shared.sources import SourceInfo, fingerprint


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
