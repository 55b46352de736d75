"""Check request instances against a model version's data contract, one value at a time.

The batch path checks whole columns with Arrow and pandas (`shared.contract.validate`); an HTTP
request holds a few instances, for which building a frame costs more than the check itself, and
importing pandas costs a new instance ~0.5 s. So each value is read here by the functions of
`shared.values`, the grammar the batch path runs a column at a time; a parity test holds the two
to the same verdicts. An instance is JSON, which carries its own types: a number is a JSON
number, a boolean true/false (or 0/1), and text ("42") is never either, as the contract's JSON
Schema (`shared.schema`, served in /openapi.json) says.

A missing field is MISSING_COLUMN when the column is required; the problem names a field of the
instance that looks like a misspelling of it. The checked instance is a row of model inputs:
numbers as floats, categories as their position in the model's categories, NaN where missing.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from shared.errors import Problem
from shared.feature_range import feature_bounds
from shared.reasons import Reason
from shared.schema import (
    NUMBER_KINDS,
    ColumnContract,
    DataContract,
    close_names,
    expected_text,
)
from shared.serving.answers import SHOWN_CHARS
from shared.values import (
    Verdict,
    category_text,
    id_text,
    json_text,
    read_boolean,
    read_number,
    read_timestamp,
    trimmed,
)

_NAN: Final = math.nan
_ABSENT: Final = object()  # a field the instance does not have (None is a value: JSON null)
_DOUBLE_MAX: Final = sys.float_info.max


@dataclass(frozen=True)
class ModelInput:
    """A model feature: where its value comes from and how it is encoded."""

    name: str
    categories: tuple[str, ...] | None  # None: numeric


class _Unknown(str):
    """A lenient column's unknown category: given (so not missing), but no category."""


_UNKNOWN: Final = _Unknown("")


@dataclass(frozen=True)
class _Field:
    """One column of the contract as the checker reads it: its reader, what it expects, and
    the model inputs its value fills (position, and the codes of its categories when the input
    is categorical)."""

    column: ColumnContract
    read: Callable[[Any], Verdict]
    expected: str
    targets: tuple[tuple[int, Mapping[str, float] | None], ...]
    # What the reader would accept as it is, told without calling it: most values of a request
    # are a JSON number within the column's bounds or the exact text of a known category, and a
    # hundred-instance request is checked ~3x faster when those skip the reader's calls.
    number_types: tuple[type, ...] = ()  # (int, float); (int,) where a float must be whole
    low: float = -_DOUBLE_MAX  # the bounds, a double's range at most: inf and nan fail them
    high: float = _DOUBLE_MAX
    categories: frozenset[str] = frozenset()


class InstanceChecker:
    """The contract of one model version, ready to check instances."""

    def __init__(
        self, contract: DataContract | Mapping[str, Any], inputs: Sequence[ModelInput]
    ) -> None:
        if not isinstance(contract, DataContract):
            contract = DataContract.from_document(contract)
        self.contract = contract
        self.inputs = tuple(inputs)
        targets: dict[str, list[tuple[int, Mapping[str, float] | None]]] = {}
        for position, feature in enumerate(self.inputs):
            codes = None
            if feature.categories is not None:
                codes = {c: float(code) for code, c in enumerate(feature.categories)}
            targets.setdefault(feature.name, []).append((position, codes))
        self._fields = tuple(
            _Field(
                column,
                _reader(column),
                expected_text(column),
                tuple(targets.get(column.name, ())),
                **_as_it_is(column),
            )
            for column in contract.columns
            if column.role != "target"
        )
        self._names = frozenset(c.name for c in contract.columns)

    def check(
        self, instances: Sequence[Mapping[str, Any]]
    ) -> tuple[list[list[float]], list[Problem]]:
        """The model inputs of each instance, in feature order, or the problems of every one."""
        rows: list[list[float]] = []
        problems: list[Problem] = []
        for index, instance in enumerate(instances):
            row = self._row(instance, index, problems)
            if not problems:
                rows.append(row)
        return ([] if problems else rows), problems

    def _row(self, instance: Mapping[str, Any], index: int, problems: list[Problem]) -> list[float]:
        row = [_NAN] * len(self.inputs)  # a feature no column gives stays missing
        for field in self._fields:
            column = field.column
            raw = instance.get(column.name, _ABSENT)
            if (type(raw) in field.number_types and field.low <= raw <= field.high) or (
                type(raw) is str and raw in field.categories
            ):
                value = raw
            else:
                if raw is _ABSENT:
                    if column.required:
                        problems.append(self._missing(column, instance, index))
                    continue
                value, reason = field.read(raw)
                if reason is None and value is None and not column.nullable:
                    reason = Reason.MISSING_VALUE
                if reason is not None:
                    problems.append(_problem(field, index, raw, reason))
                    continue
                if value is None:
                    continue
            for position, codes in field.targets:
                row[position] = float(value) if codes is None else codes.get(value, _NAN)
        return row

    def _missing(self, column: ColumnContract, instance: Mapping[str, Any], index: int) -> Problem:
        message = f"expected a field {json_text(column.name)}, found none"
        unknown = [str(name) for name in instance if name not in self._names]
        near = close_names(column.name, unknown)
        if near:
            message += (
                f"; the instance has {json_text(near[0])}: did you mean {json_text(column.name)}?"
            )
        return Problem(
            message,
            instance=index,
            field=column.name,
            expected="a value",
            reason_code=Reason.MISSING_COLUMN.value,
        )


def _as_it_is(column: ColumnContract) -> dict[str, Any]:
    """The `_Field` settings of the values the column's reader takes unchanged (see `_Field`)."""
    if column.kind in NUMBER_KINDS:
        low, high = feature_bounds(column.role, column.kind, column.min, column.max)
        return {
            "number_types": (int,) if column.kind == "integer" else (int, float),
            "low": -_DOUBLE_MAX if low is None else low,
            "high": _DOUBLE_MAX if high is None else high,
        }
    if column.kind == "categorical":
        # Text as a category is written: trimmed text is what the reader compares.
        return {"categories": frozenset(c for c in column.categories or () if c == trimmed(c))}
    return {}


def _reader(column: ColumnContract) -> Callable[[Any], Verdict]:
    """The reader of the column's values: `shared.values`' reader of its kind, with the
    column's bounds and categories."""
    if column.kind in NUMBER_KINDS:
        low, high = feature_bounds(column.role, column.kind, column.min, column.max)
        whole = column.kind == "integer"

        def read_bounded(raw: Any) -> Verdict:
            value, reason = read_number(raw, whole)
            if value is None:
                return value, reason
            # The JSON number itself is compared: an integer exactly, as the schema's bound is.
            if low is not None and raw < low:
                return None, Reason.BELOW_MIN
            if high is not None and raw > high:
                return None, Reason.ABOVE_MAX
            return value, None

        return read_bounded
    if column.kind == "boolean":
        return read_boolean
    if column.kind == "categorical":
        known = frozenset(column.categories or ())
        strict = column.strict_categories

        def read_category(raw: Any) -> Verdict:
            text, reason = category_text(raw)
            if text is None or text in known:
                return text, reason
            return (None, Reason.UNKNOWN_CATEGORY) if strict else (_UNKNOWN, None)

        return read_category
    if column.kind == "timestamp":
        return read_timestamp
    if column.role == "id":
        return id_text
    return _read_any


def _read_any(raw: Any) -> Verdict:
    missing = raw is None or (isinstance(raw, str) and not trimmed(raw))
    return (None if missing else raw), None


def _problem(field: _Field, index: int, raw: Any, reason: Reason) -> Problem:
    column = field.column
    expected_text = field.expected
    if reason is Reason.MISSING_VALUE:
        expected_text = "a value"
    elif reason is Reason.NOT_FINITE:
        expected_text = "a finite number"
    elif reason in (Reason.BELOW_MIN, Reason.ABOVE_MAX):
        low, high = feature_bounds(column.role, column.kind, column.min, column.max)
        below = reason is Reason.BELOW_MIN
        expected_text = f">= {_bound_text(low)}" if below else f"<= {_bound_text(high)}"
    found = _found(raw)
    if reason is Reason.WRONG_TYPE and _reads_as_text(column, raw):
        found += " (text: JSON numbers and booleans are written without quotes)"
    return Problem(
        f"expected {expected_text}, found {found}",
        instance=index,
        field=column.name,
        expected=expected_text,
        found=raw,
        reason_code=reason.value,
    )


def _reads_as_text(column: ColumnContract, raw: Any) -> bool:
    """Whether `raw` is text that a CSV field would give the column as a number or boolean."""
    if not isinstance(raw, str):
        return False
    if column.kind == "boolean":
        return read_boolean(raw, text=True)[0] is not None
    return column.kind in NUMBER_KINDS and read_number(raw, text=True)[0] is not None


def _found(raw: Any) -> str:
    """A found value as a message echoes it: as JSON, cut short."""
    text = json_text(raw)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"


def _bound_text(bound: float | None) -> str:
    # As the batch path words a bound; an int bound beyond what a float holds as it is.
    try:
        return f"{bound:g}"
    except OverflowError:
        return str(bound)
