"""Check request instances against a model version's data contract, one value at a time.

The batch path checks whole columns with Arrow and pandas (`shared.contract.validate`); an HTTP
request holds a few instances, for which building a frame costs more than the check itself, and
importing pandas costs a new instance ~0.5 s. So this reads `contract.json` as it is stored and
gives, value by value, the verdicts `validate` gives for the same JSON values — a parity test
holds the two together:

    numeric, integer   a JSON number, or text that reads as one ("1e3", " 42 "); "nan", "inf" are
                       NOT_FINITE; true/false is WRONG_TYPE; ranges give BELOW_MIN / ABOVE_MAX
                       (a feature's held within what a float32 holds: `shared.feature_range`)
    boolean            true/false, 1/0, or the words true/t/yes/y/1/1.0 (false/f/no/n/0/0.0)
    categorical        one of the categories, compared as text with blanks trimmed (3.0 is "3")
    string, timestamp  any value / ISO 8601 text (`shared.timestamps`); missing is null or blank

A missing field is MISSING_COLUMN when the column is required. The checked instance is a row of
model inputs: numbers as floats, categories as their position in the model's categories, NaN
where missing. The common instance is accepted by code written for the contract
(`shared.serving.instance_fast_path`); any other goes through the columns value by value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from shared.errors import Problem
from shared.feature_range import feature_bounds
from shared.reasons import Reason
from shared.serving.answers import shown
from shared.serving.instance_fast_path import (
    BOOLEAN,
    CATEGORY,
    INTEGER,
    NUMBER,
    ColumnPlan,
    FastPath,
)
from shared.timestamps import is_timestamp

_NUMBER: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INFINITY: Final = frozenset({"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})
_NAN: Final = frozenset({"nan", "+nan", "-nan"})
_TRUE: Final = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE: Final = frozenset({"false", "f", "no", "n", "0", "0.0"})
_NAN_VALUE: Final = float("nan")


@dataclass(frozen=True)
class _Column:
    name: str
    role: str
    kind: str
    nullable: bool
    required: bool
    min: float | None
    max: float | None
    categories: tuple[str, ...] | None
    strict: bool

    @property
    def expected(self) -> str:
        if self.kind == "integer":
            return "a whole number"
        if self.kind == "numeric":
            return "a number"
        if self.kind == "boolean":
            return "true/false, yes/no or 1/0"
        if self.kind == "timestamp":
            return "an ISO 8601 timestamp"
        return "a value"


@dataclass(frozen=True)
class ModelInput:
    """A model feature: where its value comes from and how it is encoded."""

    name: str
    categories: tuple[str, ...] | None  # None: numeric


class InstanceChecker:
    """The contract of one model version, ready to check instances quickly."""

    def __init__(self, contract: Mapping[str, Any], inputs: Sequence[ModelInput]) -> None:
        self.columns = tuple(
            _Column(
                name=c["name"],
                role=c["role"],
                kind=c["kind"],
                nullable=c["nullable"],
                required=c["required"],
                min=bounds[0],
                max=bounds[1],
                categories=tuple(c["categories"]) if c["categories"] is not None else None,
                strict=c["strict_categories"],
            )
            for c in contract["columns"]
            if c["role"] != "target"
            for bounds in [feature_bounds(c["role"], c["kind"], c["min"], c["max"])]
        )
        self.inputs = tuple(inputs)
        self._codes = {
            i.name: {category: float(code) for code, category in enumerate(i.categories)}
            for i in self.inputs
            if i.categories is not None
        }
        # Per column: how a common value is accepted at once (see `_fast_plan`), its reader,
        # and where its value goes in the row of model inputs (with the codes of its
        # categories, for a categorical input).
        targets: dict[str, list[tuple[int, dict[str, float] | None]]] = {}
        for position, feature in enumerate(self.inputs):
            codes = self._codes[feature.name] if feature.categories is not None else None
            targets.setdefault(feature.name, []).append((position, codes))
        self._plan = tuple(
            ColumnPlan(
                column.name,
                *_fast_plan(column),
                required=column.required,
                nullable=column.nullable,
                reader=_READERS[column.kind],
                column=column,
                targets=tuple(targets.get(column.name, ())),
            )
            for column in self.columns
        )
        # The same decisions written out as code for this contract: an instance it accepts
        # costs about half of the loop in `_row`.
        self._fast_row = FastPath.of(self._plan, len(self.inputs)).row

    def check(
        self, instances: Sequence[Mapping[str, Any]]
    ) -> tuple[list[list[float]], list[Problem]]:
        """The model inputs of each instance, in feature order, or the problems of every one."""
        rows: list[list[float]] = []
        problems: list[Problem] = []
        fast_row = self._fast_row
        for index, instance in enumerate(instances):
            # The fast path reads with dict.get: a dict, as the API's JSON gives, not any mapping.
            row = fast_row(instance) if type(instance) is dict else None
            if row is None:
                row = self._row(instance, index, problems)
            if not problems:
                rows.append(row)
        return ([] if problems else rows), problems

    def _row(self, instance: Mapping[str, Any], index: int, problems: list[Problem]) -> list[float]:
        """The instance's model inputs, value by value; its problems are added to `problems`."""
        row = [_NAN_VALUE] * len(self.inputs)  # a feature no column gives stays missing
        for plan in self._plan:
            column = plan.column
            if plan.name not in instance:
                if column.required:
                    problems.append(_missing(column, index))
                continue
            raw = instance[plan.name]
            value: Any = raw
            fast, low, high = plan.fast, plan.low, plan.high
            # The values most requests hold are accepted without the reader: those it
            # accepts as they are (a bool is not taken for an int: its type is bool).
            accepted = (
                (fast is NUMBER and (type(raw) is float or type(raw) is int))
                or (fast is INTEGER and type(raw) is int)
            ) and low <= raw <= high
            if not accepted and not (fast is CATEGORY and type(raw) is str and raw in plan.known):
                value, reason = plan.reader(raw, column)
                if reason is not None or (value is None and not column.nullable):
                    # Refused: the full check again, which words the problem.
                    problem = _check_value(column, instance, index)[1]
                    if problem is not None:
                        problems.append(problem)
                    continue
                if value is None:
                    continue
            for position, codes in plan.targets:
                row[position] = float(value) if codes is None else codes.get(value, _NAN_VALUE)
        return row


# How `check` accepts a column's common values without its reader: numbers (floats and ints)
# within its range for a numeric column, ints within it for an integer one, a category's exact
# text for a categorical one, true and false for a boolean one (in the fast path only: the loop
# reads them). Anything else goes to the reader.
_EXACT_INT: Final = 2**53


def _fast_plan(column: _Column) -> tuple[str | None, float, float, frozenset[str]]:
    """(the fast acceptance of the column, its lowest and highest value, its known texts)."""
    # Within +-2**53, where an int and the float the reader makes of it are the same number (so
    # they compare alike with any bound), and a value beyond the range, or infinite, goes to the
    # reader, which words its problem.
    low = -_EXACT_INT if column.min is None else max(column.min, -_EXACT_INT)
    high = _EXACT_INT if column.max is None else min(column.max, _EXACT_INT)
    if column.kind == "numeric":
        return NUMBER, low, high, frozenset()
    if column.kind == "integer":
        return INTEGER, low, high, frozenset()
    if column.kind == "categorical":
        # A category the reader would not find as it is written (blanks around it) is left to
        # the reader.
        known = frozenset(c for c in column.categories or () if c == c.strip())
        return CATEGORY, low, high, known
    if column.kind == "boolean":
        return BOOLEAN, low, high, frozenset()
    return None, low, high, frozenset()


def _missing(column: _Column, index: int) -> Problem:
    return Problem(
        f"expected a field {column.name!r}, found none",
        instance=index,
        field=column.name,
        expected="a value",
        reason_code=Reason.MISSING_COLUMN.value,
    )


def _check_value(
    column: _Column, instance: Mapping[str, Any], index: int
) -> tuple[Any, Problem | None]:
    """(the checked value or None when missing, the problem if any)."""
    if column.name not in instance:
        return None, (_missing(column, index) if column.required else None)
    raw = instance[column.name]
    reader = _READERS[column.kind]
    value, reason = reader(raw, column)
    if reason is not None:
        expected = _expected(column, reason)
        return None, _problem(column, index, raw, reason, expected)
    if value is None and not column.nullable:
        return None, _problem(column, index, raw, Reason.MISSING_VALUE, "a value")
    return value, None


def _expected(column: _Column, reason: Reason) -> str:
    if reason is Reason.NOT_FINITE:
        return "a finite number"
    if reason is Reason.BELOW_MIN:
        return f">= {_bound_text(column.min)}"
    if reason is Reason.ABOVE_MAX:
        return f"<= {_bound_text(column.max)}"
    if reason is Reason.UNKNOWN_CATEGORY:
        return "one of " + ", ".join(column.categories or ())[:300]
    return column.expected


def _bound_text(bound: float | None) -> str:
    # As the batch path words a bound, which reads it as a float; an int bound beyond what a
    # float holds is written out as it is.
    try:
        return f"{bound:g}"
    except OverflowError:
        return str(bound)


def _problem(column: _Column, index: int, raw: Any, reason: Reason, expected: str) -> Problem:
    if raw is None:
        found = "nothing"
    else:  # an array or object as JSON text, anything as the batch path spells it; cut short
        found = f"'{shown(raw if isinstance(raw, dict | list) else _text(raw))}'"
    return Problem(
        f"expected {expected}, found {found}",
        instance=index,
        field=column.name,
        expected=expected,
        found=raw,
        reason_code=reason.value,
    )


# --- one reader per kind: (value, None) or (None, reason); value None means missing ----------


def _read_number(raw: Any, column: _Column) -> tuple[Any, Reason | None]:
    if type(raw) is float:  # the common case first: a JSON number with a fraction or exponent
        return _number_verdict(raw, column)
    if raw is None:
        return None, None
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None, Reason.WRONG_TYPE
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            return None, None
        lowered = text.lower()
        if lowered in _NAN or lowered in _INFINITY:
            return None, Reason.NOT_FINITE
        if _NUMBER.fullmatch(text) is None:
            return None, Reason.WRONG_TYPE
        value = float(text)
    else:
        try:
            value = float(raw)
        except OverflowError:
            return None, Reason.NOT_FINITE
    return _number_verdict(value, column)


def _number_verdict(value: float, column: _Column) -> tuple[Any, Reason | None]:
    if not math.isfinite(value):
        return None, Reason.NOT_FINITE
    if column.kind == "integer" and value != math.floor(value):
        return None, Reason.WRONG_TYPE
    if column.min is not None and value < column.min:
        return None, Reason.BELOW_MIN
    if column.max is not None and value > column.max:
        return None, Reason.ABOVE_MAX
    return value, None


def _read_boolean(raw: Any, column: _Column) -> tuple[Any, Reason | None]:
    if raw is None:
        return None, None
    if isinstance(raw, bool):
        return float(raw), None
    if isinstance(raw, int | float):
        return (float(raw), None) if raw in (0, 1) else (None, Reason.WRONG_TYPE)
    text = _text(raw).strip().lower()
    if not text:
        return None, None
    if text in _TRUE:
        return 1.0, None
    if text in _FALSE:
        return 0.0, None
    return None, Reason.WRONG_TYPE


def _read_category(raw: Any, column: _Column) -> tuple[Any, Reason | None]:
    if raw is None:
        return None, None
    text = _text(raw).strip()
    if not text:
        return None, None
    if text in (column.categories or ()):
        return text, None
    if column.strict:
        return None, Reason.UNKNOWN_CATEGORY
    return _UNKNOWN, None


def _read_string(raw: Any, column: _Column) -> tuple[Any, Reason | None]:
    if raw is None or not _text(raw).strip():
        return None, None
    return raw, None


def _read_timestamp(raw: Any, column: _Column) -> tuple[Any, Reason | None]:
    if raw is None:
        return None, None
    text = _text(raw).strip()
    if not text:
        return None, None
    if not is_timestamp(text):
        return None, Reason.WRONG_TYPE
    return text, None


class _Unknown(str):
    """A lenient column's unknown category: given (so not missing), but no category."""


_UNKNOWN: Final = _Unknown("")

_READERS: Final = {
    "numeric": _read_number,
    "integer": _read_number,
    "boolean": _read_boolean,
    "categorical": _read_category,
    "string": _read_string,
    "timestamp": _read_timestamp,
}


def _text(raw: Any) -> str:
    """A value as the batch path spells it: whole floats without ".0", True as "True"."""
    if isinstance(raw, float) and math.isfinite(raw) and raw == int(raw) and abs(raw) < 2**53:
        return str(int(raw))
    return str(raw)
