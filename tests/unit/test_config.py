from __future__ import annotations

import logging

import pytest

from shared.config import (
    FUNCTION_VARIABLES,
    BatchConfig,
    FunctionConfig,
    PredictConfig,
    StackConfig,
    variables_of,
    warn_unknown,
)
from shared.errors import ConfigError

VALID = {
    "CLOUDSCORE_PROJECT": "acme-prod",
    "CLOUDSCORE_INBOX_BUCKET": "acme-inbox",
    "CLOUDSCORE_MODELS_BUCKET": "acme-models",
    "CLOUDSCORE_DATASET": "scoring",
    "CLOUDSCORE_MODEL_NAME": "churn",
}


def test_valid_environment_gives_a_config_with_defaults() -> None:
    config = FunctionConfig.from_env(VALID)

    assert config.project == "acme-prod"
    assert config.region == "us-central1"
    assert config.log_level == "INFO"


def test_the_variables_a_function_gets_read_back_to_the_same_config() -> None:
    config = FunctionConfig.from_env(VALID)

    env = config.to_env()

    assert FunctionConfig.from_env(env) == config
    assert sorted(env) == sorted(FUNCTION_VARIABLES)


@pytest.mark.parametrize("missing", sorted(VALID))
def test_a_missing_required_variable_is_named(missing: str) -> None:
    env = {k: v for k, v in VALID.items() if k != missing}

    with pytest.raises(ConfigError) as raised:
        FunctionConfig.from_env(env)

    assert raised.value.name == missing
    assert f"{missing}: is not set" in str(raised.value)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("CLOUDSCORE_PROJECT", "Acme_Prod", "a project id"),
        ("CLOUDSCORE_INBOX_BUCKET", "x", "a bucket name"),
        ("CLOUDSCORE_DATASET", "my-dataset", "a dataset id"),
        ("CLOUDSCORE_LOG_LEVEL", "verbose", "one of DEBUG, INFO, WARNING, ERROR"),
        ("CLOUDSCORE_REGION", "moon", "a region"),
    ],
)
def test_a_malformed_value_says_what_was_expected_and_found(
    name: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        FunctionConfig.from_env({**VALID, name: value})

    message = str(raised.value)
    assert message.startswith(f"{name}: expected {expected}")
    assert repr(value) in message


def test_blank_values_count_as_unset() -> None:
    with pytest.raises(ConfigError, match="CLOUDSCORE_DATASET: is not set"):
        FunctionConfig.from_env({**VALID, "CLOUDSCORE_DATASET": "  "})


def test_an_unknown_cloudscore_variable_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        unknown = warn_unknown({**VALID, "CLOUDSCORE_DATSET": "typo", "OTHER": "x"})

    assert unknown == ["CLOUDSCORE_DATSET"]


def test_stack_config_checks_the_cron_shape() -> None:
    assert StackConfig.from_env({}).retrain_schedule == "0 3 * * *"
    with pytest.raises(ConfigError, match="CLOUDSCORE_RETRAIN_SCHEDULE: expected a 5-field cron"):
        StackConfig.from_env({"CLOUDSCORE_RETRAIN_SCHEDULE": "daily"})


def test_the_batch_settings_default_and_read_back() -> None:
    assert BatchConfig.from_env({}) == BatchConfig()
    config = BatchConfig.from_env(
        {"CLOUDSCORE_BATCH_CHUNK_ROWS": "1000", "CLOUDSCORE_BATCH_TIME_BUDGET_S": "12.5"}
    )
    assert config == BatchConfig(chunk_rows=1000, time_budget_s=12.5)
    assert BatchConfig.from_env(config.to_env()) == config


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CLOUDSCORE_BATCH_CHUNK_ROWS", "0"),
        ("CLOUDSCORE_BATCH_CHUNK_ROWS", "50k"),
        ("CLOUDSCORE_BATCH_TIME_BUDGET_S", "-5"),
        ("CLOUDSCORE_BATCH_TIME_BUDGET_S", "0"),
    ],
)
def test_a_bad_batch_setting_is_named_with_what_was_found(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        BatchConfig.from_env({name: value})

    assert raised.value.name == name


def test_the_handoff_size_is_derived_from_the_time_budget_unless_set_or_without_pipeline() -> None:
    from shared.config import MEASURED_BATCH_ROWS_PER_S, MEASURED_PARQUET_BYTES_PER_ROW

    pipeline = {"CLOUDSCORE_PIPELINE_BUCKET": "demo-pipeline"}
    auto = BatchConfig.from_env({**pipeline, "CLOUDSCORE_BATCH_TIME_BUDGET_S": "100"})
    assert auto.handoff_bytes == int(
        100 * MEASURED_BATCH_ROWS_PER_S * MEASURED_PARQUET_BYTES_PER_ROW
    )
    assert (
        BatchConfig.from_env({**pipeline, "CLOUDSCORE_BATCH_HANDOFF_BYTES": "5000"}).handoff_bytes
        == 5000
    )
    assert (
        BatchConfig.from_env({**pipeline, "CLOUDSCORE_BATCH_HANDOFF_BYTES": "0"}).handoff_bytes
        is None
    )
    # No pipeline deployed: every file is the function's.
    assert BatchConfig.from_env({"CLOUDSCORE_BATCH_HANDOFF_BYTES": "5000"}).handoff_bytes is None
    with pytest.raises(ConfigError, match="CLOUDSCORE_BATCH_HANDOFF_BYTES: expected 'auto'"):
        BatchConfig.from_env({"CLOUDSCORE_BATCH_HANDOFF_BYTES": "5 MB"})
    with pytest.raises(ConfigError, match="CLOUDSCORE_PIPELINE_SERVICE_ACCOUNT"):
        BatchConfig.from_env({"CLOUDSCORE_PIPELINE_SERVICE_ACCOUNT": "worker@gmail.com"})


def test_only_the_batch_scorer_reads_the_batch_settings() -> None:
    assert "CLOUDSCORE_BATCH_CHUNK_ROWS" in variables_of("score_file")
    assert "CLOUDSCORE_BATCH_CHUNK_ROWS" not in variables_of("predict_rows")
    assert set(FUNCTION_VARIABLES) <= set(variables_of("retrain_model"))


def test_the_predict_settings_default_and_read_back() -> None:
    assert PredictConfig.from_env({}) == PredictConfig()
    env = {
        "CLOUDSCORE_PREDICT_MAX_BODY_BYTES": "2048",
        "CLOUDSCORE_PREDICT_MAX_INSTANCES": "10",
        "CLOUDSCORE_PREDICT_LOG_SAMPLE_RATE": "0.25",
        "CLOUDSCORE_PREDICT_SHADOW": "true",
        "CLOUDSCORE_MODEL_REFRESH_S": "0",
    }
    config = PredictConfig.from_env(env)
    assert config == PredictConfig(2048, 10, 0.25, True, 0.0)
    assert PredictConfig.from_env(config.to_env()) == config
    assert sorted(config.to_env()) == sorted(env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CLOUDSCORE_PREDICT_LOG_SAMPLE_RATE", "1.5"),
        ("CLOUDSCORE_PREDICT_LOG_SAMPLE_RATE", "-0.1"),
        ("CLOUDSCORE_PREDICT_SHADOW", "yes please"),
        ("CLOUDSCORE_PREDICT_MAX_INSTANCES", "0"),
    ],
)
def test_a_bad_predict_setting_is_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        PredictConfig.from_env({name: value})

    assert raised.value.name == name
