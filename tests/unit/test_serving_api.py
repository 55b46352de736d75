"""The prediction API's request parsing, and its OpenAPI document kept true to the code."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.reasons import Reason
from shared.serving.api import ApiError, HttpRequest, Limits, PredictRequest, Route, parse_request
from shared.serving.service import openapi_document

LIMITS = Limits(max_body_bytes=10_000, max_instances=3)


def post(body: Any, query: dict[str, str] | None = None, raw: bytes | None = None) -> Any:
    data = raw if raw is not None else json.dumps(body).encode()
    return parse_request(HttpRequest("POST", "/", "application/json", data, query or {}), LIMITS)


def refusal(body: Any, query: dict[str, str] | None = None, raw: bytes | None = None) -> ApiError:
    with pytest.raises(ApiError) as raised:
        post(body, query, raw)
    return raised.value


def test_instances_or_a_single_instance_are_read() -> None:
    assert post({"instances": [{"a": 1}, {"a": 2}]}) == PredictRequest([{"a": 1}, {"a": 2}])
    assert post({"a": 1}) == PredictRequest([{"a": 1}])


def test_query_options_pin_a_version_or_alias_and_ask_for_explanations() -> None:
    assert post({"a": 1}, {"explain": "true", "version": "v1"}) == PredictRequest(
        [{"a": 1}], explain=True, version="v1"
    )
    assert post({"a": 1}, {"alias": "challenger"}).alias == "challenger"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"alias": "best"}, "alias"),
        ({"explain": "maybe"}, "explain"),
        ({"version": "v1", "alias": "champion"}, "version"),
        ({"verison": "v1"}, "verison"),
    ],
)
def test_bad_query_options_are_400_naming_the_parameter(query: dict[str, str], field: str) -> None:
    error = refusal({"a": 1}, query)

    assert error.status == 400
    assert [p.field for p in error.problems] == [field]


@pytest.mark.parametrize(
    ("body", "raw", "message"),
    [
        (None, b"[1, 2]", "expected a JSON object"),
        (None, b'{"a": NaN}', "not valid JSON"),
        ({"instances": "x"}, None, "instances must be a list"),
        ({"instances": []}, None, "instances is empty"),
        ({"instances": [{"a": 1}, 5]}, None, "some instances are not objects"),
    ],
)
def test_bodies_that_are_not_instances_are_400(body: Any, raw: bytes | None, message: str) -> None:
    error = refusal(body, raw=raw)

    assert error.status == 400
    assert message in error.message


def test_too_many_instances_or_bytes_are_413() -> None:
    assert refusal({"instances": [{}] * 4}).status == 413
    assert refusal(None, raw=b" " * 10_001).status == 413


def test_routes_and_methods() -> None:
    def parse(method: str, path: str) -> Any:
        return parse_request(HttpRequest(method, path, None, b"", {}), LIMITS)

    assert parse("GET", "/") == Route("health")
    assert parse("GET", "/healthz") == Route("health")
    assert parse("GET", "/openapi.json") == Route("openapi")
    with pytest.raises(ApiError) as raised:
        parse("DELETE", "/")
    assert (raised.value.status, raised.value.allow) == (405, "GET, POST")
    with pytest.raises(ApiError) as raised:
        parse("POST", "/healthz")
    assert raised.value.status == 405


def test_the_document_lists_what_the_code_answers() -> None:
    document = openapi_document()
    predict = document["paths"]["/"]["post"]

    assert {p["name"] for p in predict["parameters"]} == {"explain", "version", "alias"}
    assert set(predict["responses"]) == {"200", "400", "404", "413", "415", "503"}
    problem = document["components"]["schemas"]["Problem"]["properties"]
    assert problem["reason_code"]["enum"] == [reason.value for reason in Reason]
    assert set(document["paths"]) == {"/", "/healthz", "/openapi.json"}
