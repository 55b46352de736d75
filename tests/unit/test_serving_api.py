"""The prediction API's request parsing, and its OpenAPI document kept true to the code."""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any

import numpy as np
import pytest

from shared.errors import ApiError
from shared.json_values import MAX_DEPTH
from shared.reasons import Reason
from shared.serving.answers import (
    SHOWN_CHARS,
    answer_json,
    error_json,
    problem_json,
    shown,
    to_json,
)
from shared.serving.openapi import openapi_document
from shared.serving.request import (
    HttpRequest,
    PredictRequest,
    Route,
    parse_request,
    query_parameters,
)
from shared.serving.request_body import Limits
from shared.serving.service import Predicted, inputs_text, request_id_from
from shared.tasks import TASKS, Task, definition

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
        [{"a": 1}], explain=True, version="v1", alias=None
    )
    assert post({"a": 1}, {"alias": "challenger"}).alias == "challenger"
    # A version with an alias: the version, as long as the alias points at it (else 409).
    both = post({"a": 1}, {"version": "v1", "alias": "champion"})
    assert (both.version, both.alias) == ("v1", "champion")
    assert post({"a": 1}, {"version": "v1"}).alias is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"alias": "best"}, "alias"),
        ({"explain": "maybe"}, "explain"),
        ({"verison": "v1"}, "verison"),
    ],
)
def test_bad_query_options_are_400_naming_the_parameter(query: dict[str, str], field: str) -> None:
    error = refusal({"a": 1}, query)

    assert error.status == 400
    assert [p.field for p in error.problems] == [field]


def test_the_query_string_is_read_first_value_first_and_repeats_named() -> None:
    assert query_parameters("") == ({}, ())
    assert query_parameters("explain&version=v%2B1&explain=1&alias=&alias=x") == (
        {"explain": "", "version": "v+1", "alias": ""},
        ("explain", "alias"),
    )


def test_a_query_parameter_given_twice_is_400_naming_it() -> None:
    request = HttpRequest(
        "POST", "/", "application/json", b"{}", {"explain": "false"}, ("explain",)
    )
    with pytest.raises(ApiError) as raised:
        parse_request(request, LIMITS)

    assert [(p.field, p.message) for p in raised.value.problems] == [
        ("explain", "query parameter 'explain' is given more than once")
    ]


@pytest.mark.parametrize(
    ("body", "raw", "message"),
    [
        (None, b"[1, 2]", "expected a JSON object"),
        (None, b'{"a": NaN}', "not valid JSON"),
        ({"instances": "x"}, None, "instances must be a list"),
        ({"instances": []}, None, "instances is empty"),
        ({"instances": [{"a": 1}, 5]}, None, "some instances are not objects"),
        ({"instances": [{"a": 1}], "explain": True}, None, "keys beside instances: 'explain'"),
        (None, b'{"a": ' + b"9" * 5000 + b"}", "not valid JSON: a number of more than 4300 digits"),
    ],
)
def test_bodies_that_are_not_instances_are_400(body: Any, raw: bytes | None, message: str) -> None:
    error = refusal(body, raw=raw)

    assert error.status == 400
    assert message in error.message


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_a_value_nested_deeper_than_the_limit_is_400_saying_where() -> None:
    # An instance is a record, its own level the first: a value within it may nest 63 more,
    # whether the instance comes alone or among instances (as a JSONL line may).
    def wrapped(depth: int) -> bytes:
        return ('{"instances": [{"a": 1}, {"tags": ' + nested(depth) + "}]}").encode()

    def single(depth: int) -> bytes:
        return ('{"tags": ' + nested(depth) + "}").encode()

    deepest = json.loads(nested(MAX_DEPTH - 1))
    assert post(None, raw=wrapped(MAX_DEPTH - 1)).instances[1]["tags"] == deepest
    assert post(None, raw=single(MAX_DEPTH - 1)).instances[0]["tags"] == deepest

    error = refusal(None, raw=wrapped(MAX_DEPTH))

    assert error.status == 400
    assert error.message == (
        f"an instance nests arrays and objects more than {MAX_DEPTH} deep at instances[1].tags[0]…"
    )
    [problem] = error.problems
    assert (problem.instance, problem.field) == (1, "tags")
    alone = refusal(None, raw=single(MAX_DEPTH))
    assert [(p.instance, p.field) for p in alone.problems] == [(0, "tags")]


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b'{"instances": [{"a": "ok"}, {"id": "x\\ud800"}]}', (1, "id")),
        (b'{"instances": [{"a": ["ok", "\\uDFFF"]}]}', (0, "a")),
        (b'{"id": "\xed\xa0\x80"}', (0, "id")),  # its UTF-8 bytes, read with surrogatepass
        (b'{"\\udc00": 1}', (0, "\udc00")),  # in a field's name
        ('{"id": "x\\ud800"}'.encode("utf-16"), (0, "id")),  # an escape in UTF-16 text
        ('{"id": "x\ud800"}'.encode("utf-16-le", "surrogatepass"), (0, "id")),
    ],
)
def test_text_with_half_a_surrogate_pair_is_400_saying_where(
    raw: bytes, where: tuple[int, str]
) -> None:
    error = refusal(None, raw=raw)

    assert error.status == 400
    assert "not Unicode" in error.message
    [problem] = error.problems
    assert (problem.instance, problem.field) == where
    assert "\\u" in problem_json(problem)["found"]  # shown escaped
    assert json.loads(to_json(error_json(error, "r")))


@pytest.mark.parametrize(
    ("raw", "where", "key"),
    [
        (b'{"instances": [{"a": 1}, {"id": "x", "age": 41, "age": 14}]}', (1, "age"), "age"),
        (b'{"id": "x", "id": "y"}', (0, "id"), "id"),  # a single instance
        (b'{"instances": [{"a": {"b": 1, "b": 2}}]}', (0, "a"), "b"),  # within a value
        (b'{"instances": [{"a": 1}], "instances": [{"a": 2}]}', (None, None), "instances"),
    ],
)
def test_a_key_named_twice_in_one_object_is_400_saying_where(
    raw: bytes, where: tuple[int | None, str | None], key: str
) -> None:
    # JSON leaves the meaning of a repeated key open and Python keeps the last value: which
    # of the two the sender meant is unknown, as with a CSV header that names a column twice.
    error = refusal(None, raw=raw)

    assert error.status == 400
    assert f'"{key}" twice' in error.message
    [problem] = error.problems
    assert (problem.instance, problem.field) == where


def test_a_whole_surrogate_pair_is_a_character() -> None:
    assert post(None, raw=b'{"id": "\\ud83d\\ude00"}').instances == [{"id": "\U0001f600"}]


@pytest.mark.parametrize("flat", [0, 1, 200])
def test_the_limit_holds_beside_any_number_of_flat_instances(flat: int) -> None:
    def body(depth: int) -> bytes:
        deep = '{"tags": ' + nested(depth) + ', "note": "[{"}'  # brackets in text count too
        return ('{"instances": [' + '{"a": 1}, ' * flat + deep + "]}").encode()

    def parsed(raw: bytes) -> Any:
        return parse_request(
            HttpRequest("POST", "/", "application/json", raw, {}), Limits(10**6, 999)
        )

    assert len(parsed(body(MAX_DEPTH - 1)).instances) == flat + 1
    with pytest.raises(ApiError) as raised:
        parsed(body(MAX_DEPTH))
    assert [(p.instance, p.field) for p in raised.value.problems] == [(flat, "tags")]


@pytest.mark.parametrize("depth", [900, 200_000])
def test_a_body_nested_deeper_than_the_limit_is_400_however_deep(depth: int) -> None:
    # 900: read by `json`, then refused; deeper: beyond what `json` reads at all.
    raw = b'{"a": ' + nested(depth).encode() + b"}"
    with pytest.raises(ApiError) as raised:
        parse_request(HttpRequest("POST", "/", "application/json", raw, {}), Limits(10**6, 3))
    error = raised.value

    assert error.status == 400
    assert f"more than {MAX_DEPTH} deep" in error.message
    assert to_json(error_json(error, "r"))  # and it can be written back


@pytest.mark.parametrize(
    "raw",
    [
        b'  {"a": 1}  \n',
        b"\t[1, 2]\r\n",
        b'"x"',
        b"",
        b"   ",
        b'{"a": 1} x',
        b'{"a": 1}  x',
        b"1 2",
        b'{"a": 1',
        b" \x0c{}",
        b'{"a": "\xff"}',
        b'\xef\xbb\xbf{"a": 1}',
        '{"a": "é"}'.encode("utf-16"),
        b'{"a": -Infinity}',
    ],
)
def test_the_body_is_read_as_json_loads_reads_it(raw: bytes) -> None:
    # The same document, or the same error message, with its position in the body.
    try:
        expected: Any = ("read", json.loads(raw))
    except ValueError as exc:
        expected = ("refused", f"the body is not valid JSON: {exc}")

    try:
        request = post(None, raw=raw)
        found: Any = ("read", request.instances[0])
    except ApiError as error:
        found = ("refused", error.message)

    if expected[0] == "read" and not isinstance(expected[1], dict):
        assert found == (
            "refused",
            'expected a JSON object: {"instances": [{…}, …]} or a single instance {…}',
        )
    elif "Infinity" in raw.decode("latin-1"):
        assert found == ("refused", "the body is not valid JSON: -Infinity is not a JSON value")
    else:
        assert found == expected


def test_too_many_instances_are_400_and_too_many_bytes_413() -> None:
    # The document states the instance limit (maxItems): past it is an invalid request.
    assert refusal({"instances": [{}] * 4}).status == 400
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

    assert {(p["name"], p["in"]) for p in predict["parameters"]} == {
        ("explain", "query"), ("version", "query"), ("alias", "query"),
    }  # fmt: skip
    assert set(predict["responses"]) == {"200", "400", "404", "409", "413", "415", "503"}
    problem = document["components"]["schemas"]["Problem"]["properties"]
    assert problem["reason_code"]["enum"] == [reason.value for reason in Reason]
    assert set(document["paths"]) == {"/", "/healthz", "/openapi.json"}


def test_the_document_describes_the_served_versions_instances() -> None:
    from shared.schema import ColumnContract, DataContract

    contract = DataContract(
        (
            ColumnContract("id", "id", "string", nullable=False, required=True),
            ColumnContract("age", "feature", "integer", False, True, min=18.0, max=100.0),
            ColumnContract("y", "target", "integer", True, False),
        )
    )

    document = openapi_document(contract, max_instances=7, explainable=False, version="v1")

    schemas = document["components"]["schemas"]
    instance = schemas["Instance"]
    assert instance["required"] == ["id", "age"]
    assert instance["properties"]["age"] == {
        "type": "number", "minimum": 18.0, "maximum": 100.0, "multipleOf": 1
    }  # fmt: skip
    assert "y" not in instance["properties"] and instance["properties"]["instances"] is False
    assert "v1" in instance["description"]
    assert schemas["Instances"]["properties"]["instances"]["maxItems"] == 7
    (explain,) = [p for p in document["paths"]["/"]["post"]["parameters"] if p["name"] == "explain"]
    assert explain["schema"]["pattern"] == r"^\s*(?:[Ff][Aa][Ll][Ss][Ee]|0)?\s*$"
    # The kept document itself is left as it was.
    assert "required" not in openapi_document()["components"]["schemas"]["Instance"]


# One prediction of each task, as the service makes them from a model's outputs.
PREDICTED = {
    "binary_classification": (["1"], [0.7], None),
    "multiclass_classification": (["gold"], [0.7], [{"basic": 0.3, "gold": 0.7}]),
    "regression": ([None], [8123.5], None),
}


@pytest.mark.parametrize("task", TASKS)
def test_a_tasks_answers_hold_its_fields_and_its_document_component_describes_them(
    task: Task,
) -> None:
    defined = definition(task)
    schemas = openapi_document(task=task)["components"]["schemas"]

    assert schemas["Prediction"] == {"$ref": f"#/components/schemas/{defined.answer_schema}"}
    component = schemas[defined.answer_schema]
    assert component["required"] == list(defined.answer_fields)
    assert component["additionalProperties"] is False
    answers = Predicted(defined, *PREDICTED[task]).answers()  # type: ignore[arg-type]
    assert [tuple(answer) for answer in answers] == [defined.answer_fields]
    # A document of no model in particular allows the prediction of every task.
    any_task = openapi_document()["components"]["schemas"]["Prediction"]["oneOf"]
    assert {"$ref": f"#/components/schemas/{defined.answer_schema}"} in any_task


@pytest.mark.parametrize(
    ("labels", "scores"),
    [
        ([1], [0.5868311740902536]),
        (["yes", "no"], [1.0, 0.0]),
        ([True, False], [5e-324, 1e-300]),
        (['défaut "x" \n'], [0.1]),
        ([0, 1, 0], [np.float64(0.3), np.float64(1 / 3), 2.5e-08]),
    ],
)
def test_an_answer_is_written_as_the_encoder_writes_it(
    labels: list[Any], scores: list[float]
) -> None:
    model = {"name": "m", "version": "20260101-000000-abc", "alias": None}

    predictions = [
        {"label": label, "score": score} for label, score in zip(labels, scores, strict=True)
    ]
    text = answer_json(predictions, to_json(model), "req-1")

    expected = {
        "predictions": [
            {"label": label, "score": float(score)}
            for label, score in zip(labels, scores, strict=True)
        ],
        "model": model,
        "request_id": "req-1",
    }
    assert text == json.dumps(expected, allow_nan=False)


@pytest.mark.parametrize("score", [float("nan"), float("inf"), -float("inf")])
def test_an_answer_refuses_a_score_json_cannot_hold(score: Any) -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        answer_json([{"label": 1, "score": score}], "{}", "req-1")
    with pytest.raises(ValueError, match="not JSON compliant"):
        answer_json([{"value": score}], "{}", "req-1")


def test_a_request_id_is_the_callers_when_sane_else_a_random_uuid() -> None:
    assert request_id_from("abc-123:x.y") == "abc-123:x.y"
    made = [request_id_from(header) for header in [None, "", "no spaces", "x" * 129] * 2500]

    assert len(set(made)) == len(made)
    assert all(uuid.UUID(hex=made_id).version == 4 for made_id in made)


def test_the_logged_inputs_are_strict_json_whatever_an_unchecked_field_holds() -> None:
    [instance] = post(None, raw=b'{"x": 1.5, "extra": [1e400, {"b": -1e400}], "n": null}').instances

    text = inputs_text(instance)

    def refuse(name: str) -> Any:
        raise ValueError(name)

    assert json.loads(text, parse_constant=refuse) == {
        "x": 1.5, "extra": ["inf", {"b": "-inf"}], "n": None,
    }  # fmt: skip
    assert inputs_text({"x": 1.5}) == json.dumps({"x": 1.5})


@pytest.mark.parametrize(
    ("value", "echoed"),
    [
        (2**53 - 1, 2**53 - 1),
        (10**4000, "1" + "0" * (SHOWN_CHARS - 1) + "…"),  # beyond a double: text, cut
        ("a\ud800", "a\\ud800"),  # half a surrogate pair: its escape
        (float("nan"), "nan"),
    ],
)
def test_a_found_value_is_echoed_short_and_as_json_any_reader_takes(
    value: Any, echoed: Any
) -> None:
    assert shown(value) == echoed


def test_keys_beside_instances_are_echoed_short_and_few() -> None:
    keys = {f"k{i}": 1 for i in range(500)} | {"\udc00" + "x" * 400: 1}
    error = refusal({"instances": [{"a": 1}], **keys})

    assert len(error.problems) == 100
    assert len(error.message) < 300
    assert json.loads(to_json(error_json(error, "r")))


def gzip_post(raw: bytes, encoding: str | None = "gzip", limits: Limits = LIMITS) -> Any:
    request = HttpRequest("POST", "/", "application/json", raw, {}, (), encoding)
    return parse_request(request, limits)


def test_a_gzip_body_is_read_as_the_same_body_sent_plain() -> None:
    body = json.dumps({"instances": [{"a": 1}, {"b": "é"}]}).encode()

    assert gzip_post(gzip.compress(body)) == post(None, raw=body)
    assert gzip_post(gzip.compress(body), "GZIP ") == post(None, raw=body)
    # Members one after another are one body, as gzip itself reads them.
    assert gzip_post(gzip.compress(body[:9]) + gzip.compress(body[9:])) == post(None, raw=body)
    assert gzip_post(body, "identity") == post(None, raw=body)


def test_a_gzip_body_that_expands_beyond_the_limit_is_413_without_expanding_it_all() -> None:
    bomb = gzip.compress(b" " * 50_000_000)  # ~50 kB that would make 50 MB
    assert len(bomb) < 100_000

    with pytest.raises(ApiError) as raised:
        gzip_post(bomb, limits=Limits(100_000, 3))

    assert raised.value.status == 413
    assert "decompresses to more than 100000 bytes" in raised.value.message
    just = gzip.compress(json.dumps({"a": "x" * (LIMITS.max_body_bytes - 20)}).encode())
    assert len(gzip_post(just).instances) == 1


@pytest.mark.parametrize(
    ("raw", "status", "message"),
    [
        (b"not gzip at all", 400, "not valid gzip"),
        (gzip.compress(b'{"a": 1}')[:-12], 400, "cut short"),
        (gzip.compress(b'{"a": 1'), 400, "not valid JSON"),
    ],
)
def test_a_broken_gzip_body_is_400_saying_so(raw: bytes, status: int, message: str) -> None:
    with pytest.raises(ApiError) as raised:
        gzip_post(raw)

    assert raised.value.status == status
    assert message in raised.value.message


@pytest.mark.parametrize("encoding", ["br", "deflate", "gzip, br", "compress"])
def test_another_content_encoding_is_415_naming_it(encoding: str) -> None:
    with pytest.raises(ApiError) as raised:
        gzip_post(gzip.compress(b"{}"), encoding)

    assert raised.value.status == 415
    assert repr(encoding) not in raised.value.message  # shown as JSON text, not a repr
    assert encoding in raised.value.message and "gzip" in raised.value.message
