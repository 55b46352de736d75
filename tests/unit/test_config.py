from __future__ import annotations

import logging

import pytest

from shared.config import FUNCTION_VARIABLES, FunctionConfig, StackConfig, warn_unknown
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
