"""Property-based fuzzing of the prediction API from its OpenAPI document, against the running
local function: whatever the body, query and content type, the answer is never a 5xx, and it is
always JSON with a request id.

Bodies are drawn from the document's request schema (instances of field: value), with the
fields of the served contract mixed into the names so that values reach the contract checks, and
from arbitrary JSON beside it, since clients send what they send.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local_emulator.settings import StackSettings
from shared.serving.openapi import openapi_document

pytestmark = pytest.mark.stack

DOCUMENT = openapi_document()
SCHEMAS = DOCUMENT["components"]["schemas"]
# The demo contract's fields (the stack serves a model trained on the demo data), and some
# that no contract has.
FIELDS = st.sampled_from(
    [
        "application_id", "age", "annual_income", "credit_score", "employment_years",
        "home_ownership", "loan_purpose", "region", "channel", "application_date",
        "debt_to_income", "has_cosigner", "instances", "", "x" * 300,
    ]
) | st.text(max_size=20)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["nan", "inf", "-1e309", "1e309", "RENT", "online", "2026-01-01"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of an OpenAPI schema of this document (the subset it uses)."""
    if "$ref" in schema:
        return from_schema(SCHEMAS[schema["$ref"].rsplit("/", 1)[1]])
    if "oneOf" in schema:
        options = st.one_of(*(from_schema(option) for option in schema["oneOf"]))
        return st.none() | options if schema.get("nullable") else options
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        values = schema.get("additionalProperties")
        if isinstance(values, dict):
            return st.dictionaries(FIELDS, from_schema(values) | SCALARS, max_size=14)
        properties = schema.get("properties", {})
        return st.fixed_dictionaries(
            {name: from_schema(properties[name]) for name in schema.get("required", [])}
        )
    if kind == "array":
        return st.lists(
            from_schema(schema["items"]), min_size=schema.get("minItems", 0), max_size=4
        )
    if kind == "string":
        return st.text(max_size=30)
    if kind in ("number", "integer"):
        return st.integers(-1000, 1000) | st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    return JSON


PREDICT = DOCUMENT["paths"]["/"]["post"]
BODY_SCHEMA = PREDICT["requestBody"]["content"]["application/json"]["schema"]
QUERY = st.fixed_dictionaries(
    {},
    optional={
        parameter["name"]: from_schema(parameter["schema"]) | st.text(max_size=10)
        for parameter in PREDICT["parameters"]
    },
)
CONTENT_TYPES = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "text/plain", "", "application/xml"]
)


@pytest.fixture(scope="module")
def url(local_stack: StackSettings, champion: str) -> str:
    return local_stack.url("predict_rows") + "/"


def send(url: str, body: bytes, query: dict[str, str], content_type: str) -> tuple[int, Any]:
    from urllib.parse import urlencode

    request = urllib.request.Request(
        url + ("?" + urlencode(query) if query else ""),
        data=body,
        method="POST",
        headers={"Content-Type": content_type} if content_type else {},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=from_schema(BODY_SCHEMA) | JSON,
    query=QUERY.map(
        lambda q: {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in q.items()}
    ),
    content_type=CONTENT_TYPES,
)
def test_no_request_is_answered_with_a_server_error(
    url: str, body: Any, query: dict[str, str], content_type: str
) -> None:
    status, answer = send(url, json.dumps(body).encode(), query, content_type)

    assert status < 500, answer
    assert answer["request_id"] if status != 200 else answer["predictions"] is not None


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=300))
def test_no_body_bytes_are_answered_with_a_server_error(url: str, raw: bytes) -> None:
    status, answer = send(url, raw, {}, "application/json")

    assert status < 500, answer


@pytest.fixture(scope="module")
def valid_instance() -> dict[str, Any]:
    from cloudscore.demo_data import LABEL_COLUMN, iter_demo_frames

    frame = next(iter_demo_frames(1, seed=41, drift=0.0, bad_rows=0.0, chunk_rows=1))
    instance: dict[str, Any] = json.loads(
        frame.drop(columns=[LABEL_COLUMN]).to_json(orient="records", date_format="iso")
    )[0]
    return instance


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# "instances" would make the body a list of instances: another test's subject.
@given(
    changes=st.dictionaries(
        FIELDS.filter(lambda name: name != "instances"), SCALARS | JSON, min_size=1, max_size=3
    )
)
def test_a_valid_instance_with_fields_changed_is_answered_or_refused_naming_them(
    url: str, valid_instance: dict[str, Any], changes: dict[str, Any]
) -> None:
    status, answer = send(
        url, json.dumps({**valid_instance, **changes}).encode(), {}, "application/json"
    )

    assert status in (200, 400), answer
    if status == 400:
        named = {problem.get("field") for problem in answer["error"]["problems"]}
        assert named <= set(changes), (named, changes)
    else:
        (prediction,) = answer["predictions"]
        assert 0.0 <= prediction["score"] <= 1.0


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    field=FIELDS.filter(lambda name: name != "instances"),
    depth=st.integers(0, 1200),
    core=SCALARS,
)
def test_a_field_nested_at_any_depth_is_answered_or_refused_naming_it(
    url: str, valid_instance: dict[str, Any], field: str, depth: int, core: Any
) -> None:
    # Written by hand (json.dumps itself recurses once per level), the field last.
    value = "[" * depth + json.dumps(core) + "]" * depth
    others = {name: v for name, v in valid_instance.items() if name != field}
    head = json.dumps({**others, field: None}).removesuffix("null}")
    status, answer = send(url, (head + value + "}").encode(), {}, "application/json")

    assert status in (200, 400), answer
    if status == 400:
        named = {problem.get("field") for problem in answer["error"]["problems"]}
        # Nested deeper than `json` reads at all, the body is refused without a where.
        unread = named == {None} and depth > 900 and "more than 64 deep" in str(answer)
        assert named == {field} or unread, (named, field, depth)
