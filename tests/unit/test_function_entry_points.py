"""The entry points, called the way the platform calls them: a real CloudEvent, a real request."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import functions_framework
import pytest
from cloudevents.http import CloudEvent

from functions.score_file import score_file
from shared.events import STORAGE_FINALIZED
from shared.runtime import instance_config
from tests.unit.test_config import VALID


@pytest.fixture(autouse=True)
def function_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in VALID.items():
        monkeypatch.setenv(name, value)
    instance_config.cache_clear()
    yield
    instance_config.cache_clear()


def storage_event(type_: str = STORAGE_FINALIZED, name: str = "incoming/a.csv") -> CloudEvent:
    return CloudEvent(
        {
            "type": type_,
            "source": "//storage.googleapis.com/projects/_/buckets/acme-inbox",
            "id": "e1",
        },
        {"bucket": "acme-inbox", "name": name, "generation": "1", "size": "3"},
    )


def test_an_event_of_another_type_is_acknowledged_not_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A wrong event would fail the same way on every retry, for a day: it is logged and dropped.
    with caplog.at_level(logging.ERROR):
        score_file(storage_event(type_="google.cloud.storage.object.v1.deleted"))

    assert any("EventError" in r.getMessage() for r in caplog.records)


def test_a_missing_setting_fails_the_call_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shared.errors import ConfigError

    monkeypatch.delenv("CLOUDSCORE_DATASET")
    with pytest.raises(ConfigError, match="CLOUDSCORE_DATASET"):
        score_file(storage_event())


@pytest.fixture
def predict_client() -> object:
    app = functions_framework.create_app("predict_rows", "functions/main.py", "http")
    return app.test_client()


def test_get_reports_the_model_served(predict_client: object) -> None:
    response = predict_client.get("/")  # type: ignore[attr-defined]

    assert response.status_code == 200
    assert response.get_json()["model"]["name"] == "churn"


def test_a_wrong_method_is_405(predict_client: object) -> None:
    response = predict_client.put("/", json={})  # type: ignore[attr-defined]

    assert response.status_code == 405
    assert "PUT" in response.get_json()["error"]
