"""The HTTP path's per-instance check gives the batch path's verdicts for the same JSON values (an
instance is a JSONL line), the contract's JSON Schema accepts exactly what both accept, and the
check gives the batch path's model inputs for the instances it accepts."""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

import jsonschema
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.contract import ColumnContract, DataContract, validate
from shared.errors import ApiError
from shared.model import FeatureSpec, feature_matrix
from shared.scoring.readers import Chunk, FileFormat, iter_chunks
from shared.serving.answers import SHOWN_CHARS, error_json, problem_json, to_json
from shared.serving.instance_check import InstanceChecker, ModelInput

CONTRACT = DataContract(
    (
        ColumnContract("id", "id", "string", nullable=False, required=True),
        ColumnContract("age", "feature", "integer", False, True, min=18.0, max=100.0),
        ColumnContract("income", "feature", "numeric", nullable=True, required=True, min=0.0),
        ColumnContract("owner", "feature", "boolean", nullable=True, required=True),
        ColumnContract(
            "region", "feature", "categorical", False, True, categories=("north", "south", "3")
        ),
        ColumnContract(
            "channel",
            "feature",
            "categorical",
            nullable=True,
            required=True,
            categories=("web", "branch"),
            strict_categories=False,
        ),
        ColumnContract("seen_at", "time", "timestamp", nullable=True, required=False),
        ColumnContract("note", "passthrough", "string", nullable=True, required=False),
        ColumnContract("label", "target", "categorical", True, False, categories=("0", "1")),
    )
)
FEATURES = (
    FeatureSpec("age", "numeric"),
    FeatureSpec("income", "numeric"),
    FeatureSpec("owner", "numeric"),
    FeatureSpec("region", "categorical", ("north", "south", "3")),
    FeatureSpec("channel", "categorical", ("web", "branch")),
)
VALID: dict[str, Any] = {
    "id": "a1",
    "age": 40,
    "income": 52000.5,
    "owner": True,
    "region": "north",
    "channel": "web",
    "seen_at": "2026-01-02T03:04:05",
    "note": "hello",
}
CORPUS: dict[str, list[Any]] = {
    "id": ["x", "", "  ", None, 7, 7.0, 2.5, True, [1], {"a": 1}, [], {}],
    "age": [18, 100, 17, 101, 40.0, 40.5, "40", " 41 ", "4e1", "40.0", "forty", "", None, -0.0,
            "nan", "inf", "-inf", True, False, [1], {"a": 1}, 1e308, "1_000", "+42", ".5e2"],
    "income": [0, -1, 0.0, 1e9, "12k", "1,000", "NaN", "Infinity", None, "", "  ", "3.5",
               "-0", "1e-3", False, -0.0, -1e-300, 1e300, 10**15,
               # a feature's bounds are within what a float32 holds, whatever the contract's
               3.4e38, 3.5e38, "1e39", 10**39],
    "owner": [True, False, 1, 0, 2, 0.5, "yes", "NO", "t", "F", "y", "1", "0", "1.0", "0.0",
              "maybe", "", None, " true ", "TRUE"],
    "region": ["north", " south ", "South", "west", "", None, 3, 3.0, "3", 3.5, True],
    "channel": ["web", "branch", "phone", None, "", 1],
    "seen_at": ["2026-01-02", "2026-01-02T03:04:05Z", "2026-01-02 03:04", "yesterday", "",
                None, 5, 20260102, "20260102T0304", "2026-01-02T03:04:05.123456789", "1000-01-01",
                # each taken by one of Python's and pandas' own readings, not the other
                "2026-W01-5", "2026-01-02t03:04", "2026-01-02T03:04:05,5", "2026", "2026-01",
                "2026-1-2", "2026-01-02T03:04:05.", "2026-01-02T03:04+05:60"],
    "note": ["x", None, 5],
}  # fmt: skip


def jsonl_chunk(instances: list[dict[str, Any]]) -> Chunk:
    lines = "".join(json.dumps(i) + "\n" for i in instances).encode()
    (chunk,) = iter_chunks(io.BytesIO(lines), FileFormat("jsonl"))
    return chunk


def batch_verdict(instance: dict[str, Any]) -> set[tuple[str, str]]:
    chunk = jsonl_chunk([instance])
    result = validate(chunk.frame, CONTRACT, json_values=chunk.json_values)
    return {(r.column_name, r.reason_code) for r in result.rejections.itertuples()}


SCHEMA = jsonschema.Draft202012Validator(CONTRACT.instance_schema())


def checker() -> InstanceChecker:
    inputs = [ModelInput(f.name, f.categories) for f in FEATURES]
    return InstanceChecker(json.loads(CONTRACT.to_json()), inputs)


@pytest.mark.parametrize(
    ("field", "value"),
    [(field, value) for field, values in CORPUS.items() for value in values],
)
def test_each_value_gets_the_batch_paths_verdict_and_the_schemas(field: str, value: Any) -> None:
    instance = {**VALID, field: value}

    _, problems = checker().check([instance])

    assert {(p.field, p.reason_code) for p in problems} == batch_verdict(instance)
    assert SCHEMA.is_valid(instance) == (problems == []), value


@pytest.mark.parametrize("field", ["id", "age", "income", "owner", "region", "channel", "note"])
def test_a_missing_field_gets_the_batch_paths_verdict(field: str) -> None:
    instance = {k: v for k, v in VALID.items() if k != field}

    _, problems = checker().check([instance])

    assert {(p.field, p.reason_code) for p in problems} == batch_verdict(instance)
    assert SCHEMA.is_valid(instance) == (problems == [])


def test_a_missing_field_names_the_unknown_one_that_looks_like_it() -> None:
    instance = {k: v for k, v in VALID.items() if k != "income"} | {"incmoe": 5, "other": 1}

    [problem] = checker().check([instance])[1]

    assert problem.reason_code == "MISSING_COLUMN"
    assert problem.message == (
        'expected a field "income", found none; the instance has "incmoe": did you mean "income"?'
    )


def test_text_is_no_number_in_json_and_the_problem_says_so() -> None:
    [problem] = checker().check([{**VALID, "income": "52000"}])[1]

    assert problem.reason_code == "WRONG_TYPE"
    assert problem.message == (
        'expected a number, found "52000" (text: JSON numbers and booleans are written without '
        "quotes)"
    )
    [boolean] = checker().check([{**VALID, "owner": True, "region": True}])[1]
    assert boolean.message == "expected one of north, south, 3, found true"


def test_accepted_instances_give_the_batch_paths_model_inputs() -> None:
    instances = [
        VALID,
        {**VALID, "age": 41, "income": None, "owner": False, "region": "3", "channel": "phone"},
        {**VALID, "income": 7.25, "owner": 1, "region": " south ", "channel": None},
        # At the edges: range bounds, an int for a numeric column, a float for an integer one,
        # a category's exact text.
        {**VALID, "age": 18, "income": 0, "region": "south", "channel": "branch"},
        {**VALID, "age": 100.0, "income": 10**15, "owner": False, "region": "3"},
        {**VALID, "age": 99, "income": 1e30, "region": 3},
    ]

    rows, problems = checker().check(instances)

    assert problems == []
    chunk = jsonl_chunk(instances)
    valid = validate(chunk.frame, CONTRACT, json_values=True).valid
    expected = feature_matrix(valid, FEATURES)
    np.testing.assert_array_equal(np.asarray(rows, dtype=np.float32), expected)


@pytest.mark.parametrize("value", [2**54 + 8, 2**54 + 9, 2**54 + 7, 2**53 + 1])
def test_an_integer_beyond_what_a_float_holds_is_compared_exactly_in_every_path(value: int) -> None:
    # The contract's bound is a float (2**54 + 8): an integer past it is past it, though it
    # reads as that very float.
    bounded = DataContract(
        tuple(
            dataclasses.replace(c, max=float(2**54 + 8)) if c.name == "age" else c
            for c in CONTRACT.columns
        )
    )
    inputs = [ModelInput(f.name, f.categories) for f in FEATURES]
    instance = {**VALID, "age": value}

    _, problems = InstanceChecker(bounded, inputs).check([instance])

    http = {(p.field, p.reason_code) for p in problems}
    assert http == ({("age", "ABOVE_MAX")} if value > 2**54 + 8 else set())
    chunk = jsonl_chunk([instance])
    result = validate(chunk.frame, bounded, json_values=True)
    assert {(r.column_name, r.reason_code) for r in result.rejections.itertuples()} == http
    schema = jsonschema.Draft202012Validator(bounded.instance_schema())
    assert schema.is_valid(instance) == (http == set())


@pytest.mark.parametrize(
    ("value", "found", "echoed"),
    [
        ([1e400], "[Infinity]", "[Infinity]"),  # JSON reads 1e400 as inf
        ({"a": -1e400, "b": None}, '{"a":-Infinity,"b":null}', '{"a":-Infinity,"b":null}'),
        ("x" * 1000, "x" * SHOWN_CHARS + "…", '"' + "x" * (SHOWN_CHARS - 1) + "…"),
        (
            [["y" * 300]],
            '[["' + "y" * (SHOWN_CHARS - 3) + "…",
            '[["' + "y" * (SHOWN_CHARS - 3) + "…",
        ),
        (float("inf"), "inf", "inf"),
        (True, True, "true"),
    ],
)
def test_a_problem_shows_what_was_found_as_json_and_short(
    value: Any, found: Any, echoed: str
) -> None:
    _, problems = checker().check([{**VALID, "age": value}])

    [problem] = problems
    assert problem_json(problem)["found"] == found
    assert problem.message.endswith(f", found {echoed}")
    # The whole refusal is written as strict JSON.
    assert json.loads(to_json(error_json(ApiError(400, "x", problems), "r")))


def test_a_feature_beyond_what_a_float32_holds_is_above_its_max_in_both_paths() -> None:
    instance = {**VALID, "income": 1e39}

    [problem] = checker().check([instance])[1]

    assert (problem.reason_code, problem.expected) == ("ABOVE_MAX", "<= 3.40282e+38")
    chunk = jsonl_chunk([instance])
    [reason] = validate(chunk.frame, CONTRACT, json_values=True).rejections["reason"]
    assert "<= 3.40282e+38" in reason


def test_every_problem_of_every_instance_is_listed_with_where_and_what() -> None:
    bad = [{**VALID, "age": "forty"}, VALID, {**VALID, "region": "west", "income": -5}]

    rows, problems = checker().check(bad)

    assert rows == []
    listed = [(p.instance, p.field, p.reason_code, p.found) for p in problems]
    assert listed == [
        (0, "age", "WRONG_TYPE", "forty"),
        (2, "income", "BELOW_MIN", -5),
        (2, "region", "UNKNOWN_CATEGORY", "west"),
    ]
    assert problems[0].message == 'expected a whole number, found "forty"'
    assert problems[1].expected == ">= 0"


_ABSENT = object()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries(
        {
            field: st.sampled_from([_ABSENT, VALID.get(field), *values])
            for field, values in CORPUS.items()
        }
    )
)
def test_any_instance_of_corpus_values_gets_one_verdict_from_every_path(
    fields: dict[str, Any],
) -> None:
    instance = {field: value for field, value in fields.items() if value is not _ABSENT}

    _, problems = checker().check([instance])

    assert {(p.field, p.reason_code) for p in problems} == batch_verdict(instance)
    assert SCHEMA.is_valid(instance) == (problems == [])
