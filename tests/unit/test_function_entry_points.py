"""The entry points, called the way the platform calls them: a real CloudEvent, a real request."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import functions_framework
import pytest
from cloudevents.http import CloudEvent

from functions.score_file import score_file
from shared.config import PredictConfig
from shared.runtime import instance_config
from shared.serving.openapi import openapi_document
from tests.unit.test_config import VALID
from tests.unit.test_events import notification


@pytest.fixture(autouse=True)
def function_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in VALID.items():
        monkeypatch.setenv(name, value)
    instance_config.cache_clear()
    yield
    instance_config.cache_clear()


def storage_event(event_type: str = "OBJECT_FINALIZE", name: str = "incoming/a.csv") -> CloudEvent:
    resource = {"bucket": "acme-inbox", "name": name, "generation": "1", "size": "3"}
    attributes, data = notification(resource, event_type=event_type)
    return CloudEvent(attributes, data)


def test_an_event_of_another_kind_is_acknowledged_not_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A wrong event would fail the same way on every retry, for a day: it is logged and dropped.
    with caplog.at_level(logging.ERROR):
        score_file(storage_event(event_type="OBJECT_DELETE"))

    assert any("EventError" in r.getMessage() for r in caplog.records)


def test_a_missing_setting_fails_the_call_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shared.errors import ConfigError

    monkeypatch.delenv("CLOUDSCORE_DATASET")
    with pytest.raises(ConfigError, match="CLOUDSCORE_DATASET"):
        score_file(storage_event())


@pytest.fixture
def predict_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from shared.runtime import prediction_service

    # Nothing listens there: these requests are refused before any model is looked up.
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    monkeypatch.setenv("CLOUDSCORE_PREDICT_MAX_BODY_BYTES", "200")
    prediction_service.cache_clear()
    app = functions_framework.create_app("predict_rows", "functions/main.py", "http")
    yield app.test_client()
    prediction_service.cache_clear()


def test_a_wrong_method_is_405_with_the_allowed_ones(predict_client: Any) -> None:
    response = predict_client.put("/", json={})

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, POST"
    assert "PUT" in response.get_json()["error"]["message"]


def test_a_body_that_is_not_json_is_415(predict_client: Any) -> None:
    response = predict_client.post("/", data="a,b\n1,2", content_type="text/csv")

    assert response.status_code == 415
    assert "text/csv" in response.get_json()["error"]["message"]


def test_a_body_over_the_limit_is_413(predict_client: Any) -> None:
    response = predict_client.post("/", json={"instances": [{"x": "y" * 300}]})

    assert response.status_code == 413
    assert "at most 200" in response.get_json()["error"]["message"]


def test_malformed_json_is_400_and_every_answer_has_a_request_id(predict_client: Any) -> None:
    response = predict_client.post(
        "/", data="{not json", content_type="application/json", headers={"X-Request-Id": "r-1"}
    )

    assert response.status_code == 400
    body = response.get_json()
    assert body["request_id"] == response.headers["X-Request-Id"] == "r-1"
    assert body["error"]["message"].startswith("the body is not valid JSON")


def test_a_refusal_whose_answer_cannot_be_written_is_a_json_500(
    predict_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.errors import ApiError
    from shared.serving import service

    written = service.error_json

    def unwritable(error: ApiError, request_id: str) -> dict[str, Any]:
        if error.status == 415:
            raise ValueError("cannot be written")
        return written(error, request_id)

    monkeypatch.setattr(service, "error_json", unwritable)
    response = predict_client.post("/", data="a,b", content_type="text/csv")

    assert response.status_code == 500
    assert "internal error" in response.get_json()["error"]["message"]
    assert response.get_json()["request_id"] == response.headers["X-Request-Id"]


def test_query_parameters_given_twice_are_refused_naming_them(predict_client: Any) -> None:
    response = predict_client.post("/?explain=false&explain=true&alias=challenger", json={"a": 1})

    assert response.status_code == 400
    assert [p["field"] for p in response.get_json()["error"]["problems"]] == ["explain"]


@pytest.mark.parametrize("query", ["alias=\xed\xa0\x80", "alias=%ED%A0%80", "\xff=1"])
def test_a_query_string_that_is_not_utf8_is_a_json_400(predict_client: Any, query: str) -> None:
    # As the WSGI server passes it: the raw bytes as latin-1.
    response = predict_client.post("/", json={"a": 1}, environ_overrides={"QUERY_STRING": query})

    assert response.status_code == 400
    assert "\ufffd" in response.get_json()["error"]["problems"][0]["message"]


def test_the_api_document_is_served(predict_client: Any) -> None:
    response = predict_client.get("/openapi.json")

    assert response.status_code == 200
    assert response.get_json()["openapi"].startswith("3.")
    # The kept document, as the encoder writes JSON: compact, non-ASCII escaped. Storage cannot
    # be reached (given up after the registry's read deadline), so there is no champion to
    # describe: any object is an instance, and the instance limit is the function's.
    expected = openapi_document(max_instances=PredictConfig().max_instances)
    assert response.get_data(as_text=True) == json.dumps(expected)


def test_a_prediction_while_storage_cannot_be_reached_is_a_json_503(predict_client: Any) -> None:
    response = predict_client.post("/", json={"instances": [{"a": 1}]})

    # Within the registry's read deadline, not the client library's two minutes of retries.
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert "reading gs://acme-models/models/churn/aliases/champion.json" in error["message"]


def test_a_gzip_body_is_read_and_another_encoding_is_415(predict_client: Any) -> None:
    import gzip

    body = gzip.compress(b"{not json")
    headers = {"Content-Encoding": "gzip"}
    response = predict_client.post("/", data=body, content_type="application/json", headers=headers)
    # Read through the gzip: the JSON inside is what is refused.
    assert response.status_code == 400
    assert response.get_json()["error"]["message"].startswith("the body is not valid JSON")

    headers = {"Content-Encoding": "br"}
    response = predict_client.post(
        "/", data=b"{}", content_type="application/json", headers=headers
    )
    assert response.status_code == 415
