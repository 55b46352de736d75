"""What a local stack serves is the project's: its model name and training source from the project
file found where `local up` runs, its names from CLOUDSCORE_* when set, its event delivery from
infra/. Nothing here is a constant of the demo."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_emulator.settings import StackSettings
from shared.errors import ConfigError
from tests.conftest import project_file


def resolve(folder: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> StackSettings:
    monkeypatch.chdir(folder)
    return StackSettings.resolve(folder / "state", 40000, env=env)


def test_the_model_and_training_source_are_the_project_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_file(tmp_path, "car-loan", "bq://SELECT * FROM warehouse.loans")

    settings = resolve(tmp_path, monkeypatch)

    assert settings.model_name == "car-loan"
    assert settings.training_source == "bq://SELECT * FROM warehouse.loans"
    assert settings.project_file == "cloudscore.toml"
    assert settings.function_config().to_env()["CLOUDSCORE_MODEL_NAME"] == "car-loan"


def test_the_stacks_names_come_from_cloudscore_variables_when_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_file(tmp_path, "car-loan")

    settings = resolve(
        tmp_path,
        monkeypatch,
        CLOUDSCORE_DATASET="cars",
        CLOUDSCORE_INBOX_BUCKET="car-inbox",
        CLOUDSCORE_MODELS_BUCKET="car-models",
        CLOUDSCORE_REGION="europe-west1",
    )

    assert (settings.dataset, settings.inbox_bucket, settings.models_bucket) == (
        "cars",
        "car-inbox",
        "car-models",
    )
    assert settings.region == "europe-west1"


def test_a_model_name_that_disagrees_with_the_project_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_file(tmp_path, "car-loan")

    with pytest.raises(ConfigError, match=r"CLOUDSCORE_MODEL_NAME.*'car-loan'"):
        resolve(tmp_path, monkeypatch, CLOUDSCORE_MODEL_NAME="loan-default")


def test_no_project_file_and_no_model_name_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="no project configuration was found") as refused:
        resolve(tmp_path, monkeypatch)

    assert str(tmp_path) in str(refused.value)
    assert resolve(tmp_path, monkeypatch, CLOUDSCORE_MODEL_NAME="m").model_name == "m"


def test_event_delivery_is_infras_with_the_overrides_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_file(tmp_path, "car-loan")
    monkeypatch.chdir(tmp_path)

    settings = StackSettings.resolve(
        tmp_path / "state", 40000, retry_time_scale=0.5, max_instances={"score_file": 2}
    )

    assert settings.delivery.max_attempts == 10
    assert (settings.delivery.min_backoff_s, settings.delivery.max_backoff_s) == (5, 300)
    assert settings.capacity["score_file"].slots == 2
    assert settings.capacity["retrain_model"].slots == 1
    with pytest.raises(ConfigError, match="predict_rows"):
        StackSettings.resolve(tmp_path / "state", 40000, max_instances={"predict_rows": 2})


def test_settings_survive_their_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project_file(tmp_path, "car-loan", "gs://bucket/train.parquet")
    settings = resolve(tmp_path, monkeypatch)

    settings.save()

    assert StackSettings.load(settings.state_dir) == settings
