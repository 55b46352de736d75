"""The HTTP path's per-instance check gives the batch path's verdicts for the same JSON values,
and the same model inputs for the instances it accepts."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.contract import ColumnContract, DataContract, validate
from shared.errors import ApiError
from shared.model import FeatureSpec, feature_matrix
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
    "id": ["x", "", "  ", None, 7, 7.0, True],
    "age": [18, 100, 17, 101, 40.0, 40.5, "40", " 41 ", "4e1", "40.0", "forty", "", None,
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


def batch_verdict(instance: dict[str, Any]) -> set[tuple[str, str]]:
    frame = pd.DataFrame.from_records([instance])
    result = validate(frame, CONTRACT)
    return {(r.column_name, r.reason_code) for r in result.rejections.itertuples()}


def checker() -> InstanceChecker:
    inputs = [ModelInput(f.name, f.categories) for f in FEATURES]
    return InstanceChecker(json.loads(CONTRACT.to_json()), inputs)


@pytest.mark.parametrize(
    ("field", "value"),
    [(field, value) for field, values in CORPUS.items() for value in values],
)
def test_each_value_gets_the_batch_paths_verdict(field: str, value: Any) -> None:
    instance = {**VALID, field: value}

    _, problems = checker().check([instance])

    assert {(p.field, p.reason_code) for p in problems} == batch_verdict(instance)


@pytest.mark.parametrize("field", ["id", "age", "income", "owner", "region", "channel", "note"])
def test_a_missing_field_gets_the_batch_paths_verdict(field: str) -> None:
    instance = {k: v for k, v in VALID.items() if k != field}

    _, problems = checker().check([instance])

    assert {(p.field, p.reason_code) for p in problems} == batch_verdict(instance)


def test_accepted_instances_give_the_batch_paths_model_inputs() -> None:
    instances = [
        VALID,
        {**VALID, "age": "41", "income": None, "owner": "no", "region": "3", "channel": "phone"},
        {**VALID, "income": " 7.25 ", "owner": 1, "region": " south ", "channel": None},
        # At the edges of what is accepted without the reader: range bounds, an int for a
        # numeric column, a float for an integer one, a category's exact text.
        {**VALID, "age": 18, "income": 0, "region": "south", "channel": "branch"},
        {**VALID, "age": 100.0, "income": 10**15, "owner": False, "region": "3"},
        {**VALID, "age": 99, "income": 1e30, "region": 3},
    ]

    rows, problems = checker().check(instances)

    assert problems == []
    valid = validate(pd.DataFrame.from_records(instances), CONTRACT).valid
    expected = feature_matrix(valid, FEATURES)
    np.testing.assert_array_equal(np.asarray(rows, dtype=np.float32), expected)


def test_a_bound_beyond_what_a_float_holds_exactly_is_compared_as_the_batch_path_does() -> None:
    # 2**54 + 6 read as a float is 2**54 + 8: past a maximum of 2**54 + 6, as the batch path
    # reads it, though the int itself is not.
    bound = 2**54 + 6
    columns = [
        {**column, "max": bound} if column["name"] == "age" else column
        for column in json.loads(CONTRACT.to_json())["columns"]
    ]
    inputs = [ModelInput(f.name, f.categories) for f in FEATURES]
    huge = InstanceChecker({"columns": columns}, inputs)

    _, problems = huge.check([{**VALID, "age": bound}])

    assert [(p.field, p.reason_code) for p in problems] == [("age", "ABOVE_MAX")]
    rows, problems = huge.check([{**VALID, "age": 2**53}])
    assert problems == [] and rows[0][0] == float(2**53)


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ([1e400], "[Infinity]"),  # JSON reads 1e400 as inf
        ({"a": -1e400, "b": None}, '{"a":-Infinity,"b":null}'),
        ("x" * 1000, "x" * SHOWN_CHARS + "…"),
        ([["y" * 300]], '[["' + "y" * (SHOWN_CHARS - 3) + "…"),
        (float("inf"), "inf"),
    ],
)
def test_a_problem_shows_what_was_found_as_json_and_short(value: Any, found: str) -> None:
    _, problems = checker().check([{**VALID, "age": value}])

    [problem] = problems
    assert problem_json(problem)["found"] == found
    assert problem.message.endswith(f", found '{found}'")
    # The whole refusal is written as strict JSON.
    assert json.loads(to_json(error_json(ApiError(400, "x", problems), "r")))


def test_a_feature_beyond_what_a_float32_holds_is_above_its_max_in_both_paths() -> None:
    instance = {**VALID, "income": 1e39}

    [problem] = checker().check([instance])[1]

    assert (problem.reason_code, problem.expected) == ("ABOVE_MAX", "<= 3.40282e+38")
    [reason] = validate(pd.DataFrame.from_records([instance]), CONTRACT).rejections["reason"]
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
    assert problems[0].message == "expected a whole number, found 'forty'"
    assert problems[1].expected == ">= 0"


_ABSENT = object()


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries(
        {
            field: st.sampled_from([_ABSENT, VALID.get(field), *values])
            for field, values in CORPUS.items()
        }
    )
)
def test_the_written_fast_path_gives_the_loops_row_or_leaves_the_instance_to_it(
    fields: dict[str, Any],
) -> None:
    instance = {field: value for field, value in fields.items() if value is not _ABSENT}
    checking = checker()

    fast = checking._fast_row(instance)
    problems: list[Any] = []
    slow = checking._row(instance, 0, problems)
    rows, found = checking.check([instance])

    # The same floats, to the bit: repr tells -0.0 from 0.0, and spells every NaN "nan".
    if fast is not None:
        assert problems == [] and list(map(repr, fast)) == list(map(repr, slow))
    assert found == problems
    assert [list(map(repr, row)) for row in rows] == ([] if problems else [list(map(repr, slow))])


def test_the_fast_path_takes_the_common_instance() -> None:
    # What most requests hold: numbers in range, exact categories, booleans, and fields that
    # may be absent being absent.
    common = {k: v for k, v in VALID.items() if k not in ("seen_at", "note")}

    assert checker()._fast_row(common) is not None
    # null where a column is nullable: a missing value, as common as any.
    with_nulls = {**common, "income": None, "owner": None, "channel": None}
    assert checker()._fast_row(with_nulls) == checker().check([with_nulls])[0][0]
    assert checker()._fast_row({**common, "age": "40"}) is None  # read by the loop
    assert checker()._fast_row({**common, "region": None}) is None  # not nullable: refused


def _column(name: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name, "role": "feature", "kind": kind, "nullable": True, "required": False,
        "min": None, "max": None, "categories": None, "strict_categories": True, **fields,
    }  # fmt: skip


def test_odd_bounds_give_the_loops_rows_and_a_mapping_that_is_not_a_dict_goes_to_the_loop() -> None:
    columns = [
        _column("c", "categorical", categories=["", "x"], max=float("nan")),
        _column("n", "numeric", min=float("-inf"), max=float("nan")),
        _column("i", "integer", min=10**400),  # beyond what a float holds
    ]
    inputs = [ModelInput("c", ("", "x")), ModelInput("n", None), ModelInput("i", None)]
    odd = InstanceChecker({"columns": columns}, inputs)

    for instance in [{"c": ""}, {"c": "x", "n": 2.5}, {"n": -1e300}, {"i": 10**401}, {"i": 5}]:
        problems: list[Any] = []
        slow = odd._row(instance, 0, problems)
        rows, found = odd.check([instance])
        assert found == problems, instance
        expected = [] if problems else [list(map(repr, slow))]
        assert [list(map(repr, row)) for row in rows] == expected, instance

    # A bound a float cannot hold is worded as the int it is.
    [below] = odd.check([{"i": 5}])[1]
    assert (below.reason_code, below.expected) == ("BELOW_MIN", f">= {10**400}")

    class Renamed(dict[str, Any]):
        def __getitem__(self, key: str) -> Any:
            return 0.0 if key == "n" else super().__getitem__(key)

    # The loop reads with [], as a mapping's own __getitem__ answers.
    assert repr(odd.check([Renamed(n=7.0)])[0]) == repr([[math.nan, 0.0, math.nan]])
