"""Checking a table against a data contract, and inferring a contract from training data.

The contract itself (columns, roles, kinds, JSON and TOML forms, JSON Schema) is
`shared.schema`; how a value reads as each kind is `shared.values`. Here the same grammar runs a
column at a time over a chunk, with Arrow: the patterns of `shared.values` by RE2, its word
lists by Arrow's look-ups; columns of mixed Python values (JSON) value by value, through
`shared.values` itself. A parity test holds every path to the same verdicts.

Values come either as text (a CSV field, a Parquet or BigQuery string column), read by the text
grammar ("1e3", " 42 " are numbers, "yes" a boolean), or typed (Parquet numbers, JSONL values),
where a JSON string is text and never a number or a boolean (`validate(..., json_values=True)`).
Integers come out as float64 because models take floats and NaN needs one. A value is
*missing* when it is null/NaN or blank text; any other value that does not read as its kind is
WRONG_TYPE — "n/a", "-", "12k" — and "nan"/"inf" are NOT_FINITE.

Inference (`infer_contract`) from training data, then the reviewed overrides of the project
configuration (``[contract.<column>]``) on top:

- kind: from the dtype (bool → boolean, int → integer, float → numeric, datetime → timestamp);
  text of which at least NUMERIC_SHARE of the values given read as numbers → integer if every
  such value is written as a whole number (``"35"``, not ``"35.0"``), else numeric (the others,
  such as "n/a", are then WRONG_TYPE: the training rows holding them are left out and counted,
  as scoring would reject them); text that is all true/false → boolean; text in the time column
  → timestamp; other text → categorical when it has at most 50 distinct values and each appears
  on average at least twice, else string. Id and passthrough columns are opaque: kind string,
  so scoring only checks that an id is there and carries both through unchanged.
- nullable: any value missing in the training data. An id never is; passthrough and time
  columns always are, since the input may leave them out altogether.
- range (numeric and integer features): the observed [min, max] widened by its span on each side,
  except that a side never crosses zero: a column never negative in training gets min 0. The check
  exists to catch impossible values — sign errors, sentinels such as 9999, unit mix-ups — that
  land far outside; a training sample's extremes underestimate the population's, and a rejected
  row is a lost prediction, so the margin is wide. Review the ranges and freeze real limits.
- categories: the sorted distinct values, strict.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from shared import values as grammar
from shared.errors import ConfigError, DataError
from shared.feature_range import feature_bounds
from shared.reasons import Reason
from shared.schema import (
    CONTRACT_VERSION,
    KINDS,
    NUMBER_KINDS,
    ROLES,
    TIME_KINDS,
    ColumnContract,
    ColumnOverride,
    DataContract,
    Kind,
    Role,
    _column_problems,
    close_names,
    expected_text,
    missing_columns,
    toml_key,
)
from shared.timestamps import timestamp_mask, utc_moments

if TYPE_CHECKING:
    from shared.project_config import ProjectConfig

__all__ = [
    "CONTRACT_VERSION", "KINDS", "NUMBER_KINDS", "REJECTION_COLUMNS", "ROLES", "TIME_KINDS",
    "ColumnContract", "ColumnOverride", "DataContract", "Kind", "Role", "ValidationResult",
    "close_names", "infer_contract", "missing_columns", "toml_key", "validate",
]  # fmt: skip

# Past these, a text column is free text (names, addresses), not a set of categories.
MAX_CATEGORIES: Final = 50
MIN_REPEATS_PER_CATEGORY: Final = 2
# A text column is numeric when at least this share of its given values read as numbers.
NUMERIC_SHARE: Final = 0.9

Mask = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]

# --- reading values ----------------------------------------------------------------------------
#
# A column comes in one of four forms: text (Arrow-backed strings, or Python str and nulls),
# typed numbers, typed booleans, or mixed Python values (JSON). Text is read with Arrow by the
# patterns and words of `shared.values`; mixed values one by one by `shared.values` itself.

_BOOLEAN_WORDS: Final = pa.array(grammar.TRUE_WORDS + grammar.FALSE_WORDS, pa.large_string())
_TRUE_WORDS: Final = len(grammar.TRUE_WORDS)  # the first words of _BOOLEAN_WORDS mean true
_NOT_FINITE_WORDS: Final = pa.array(grammar.NOT_FINITE_WORDS, pa.large_string())
_NUMBER: Final = f"^(?:{grammar.NUMBER})$"
_WHOLE_NUMBER: Final = f"^(?:{grammar.WHOLE_NUMBER})$"
_NULL_TEXT: Final = pa.scalar(None, pa.large_string())


@functools.lru_cache(maxsize=256)
def _value_set(categories: tuple[str, ...]) -> Any:
    return pa.array(categories, pa.large_string())


def _is_typed_number(series: pd.Series) -> bool:
    dtype = series.dtype
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _is_text(series: pd.Series) -> bool:
    """Whether every value given is text (as a CSV's, a string column's, or JSON's strings)."""
    if isinstance(series.dtype, pd.StringDtype):
        return True
    if series.dtype != object:
        return False
    return pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")


def _is_mixed(series: pd.Series) -> bool:
    """Python values of more than one kind, or values no dtype holds (arrays, objects)."""
    return (series.dtype == object or isinstance(series.dtype, pd.CategoricalDtype)) and not (
        _is_text(series)
    )


def _objects(series: pd.Series) -> list[Any]:
    """The values as Python objects, None where pandas says missing."""
    objects = series.to_numpy(dtype=object, copy=True)
    objects[pd.isna(objects)] = None
    # A NumPy scalar (a typed column's value) as the Python value it holds: np.int64 is no int.
    return [value.item() if isinstance(value, np.generic) else value for value in objects]


def _each(series: pd.Series, read: Callable[[Any], grammar.Verdict]) -> tuple[list[Any], Mask, Any]:
    """Each value read by `read` (a reader of `shared.values`): the values (None where missing
    or refused), whether one was given, and each refusal's Reason (None: accepted)."""
    verdicts = [read(value) for value in _objects(series)]
    read_values = [value for value, _ in verdicts]
    reasons = [reason for _, reason in verdicts]
    present = np.array([v is not None or r is not None for v, r in verdicts], dtype=np.bool_)
    return read_values, present, reasons


def _reason_mask(reasons: Sequence[Reason | None], reason: Reason) -> Mask:
    return np.array([r is reason for r in reasons], dtype=np.bool_)


def _text(series: pd.Series) -> Any:
    """The column as an Arrow string array with blanks trimmed and blank text as null."""
    return _trimmed(_raw_text(series))


def _raw_text(series: pd.Series) -> Any:
    """The column as an Arrow string array, each value as given (null where missing): text as
    it is, numbers by `shared.values.value_text`, anything else as JSON writes it."""
    if isinstance(series.dtype, pd.StringDtype):
        return pa.array(series.array, type=pa.large_string())
    if _is_text(series):
        return pa.array(series.to_numpy(), type=pa.large_string(), from_pandas=True)
    if pd.api.types.is_float_dtype(series.dtype):
        return _float_text(series)
    if pd.api.types.is_integer_dtype(series.dtype):
        missing = series.isna().to_numpy()
        return pa.array(series.astype(str).to_numpy(dtype=object), pa.large_string(), missing)
    texts = [None if v is None else _value_text(v) for v in _objects(series)]
    return pa.array(texts, type=pa.large_string())


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    plain = value.item() if isinstance(value, np.generic) else value
    if isinstance(plain, int | float) and not isinstance(plain, bool):
        return grammar.value_text(plain)
    if isinstance(plain, np.ndarray):
        plain = plain.tolist()
    return grammar.json_text(plain)


def _trimmed(raw: Any) -> Any:
    trimmed = pc.utf8_trim(raw, characters=grammar.BLANKS)
    return pc.if_else(pc.equal(trimmed, ""), _NULL_TEXT, trimmed)


def _all_found(found: Any, raw: Any) -> bool:
    """Whether a lookup (`index_in`) of `raw` found every value that was given.

    Every value it looks up (a number, a category, a boolean word) is free of surrounding
    blanks, so then trimming `raw` would change nothing that matters: the check can skip it.
    """
    return bool(found.null_count == raw.null_count)


def _float_text(series: pd.Series) -> Any:
    # Whole floats as integers, so a typed 3.0 matches the category "3" a CSV spells.
    floats = series.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(floats)
    # Past 2**53 a float no longer holds every integer, and int64 would overflow.
    whole = ~missing & (np.abs(floats) < grammar.EXACT_INTEGERS) & (floats == np.round(floats))
    texts = series.astype(str).to_numpy(dtype=object)
    texts[whole] = floats[whole].astype(np.int64).astype(str)
    return pa.array(texts, type=pa.large_string(), mask=missing)


def _present(text: Any) -> Mask:
    return np.asarray(pc.is_valid(text).to_numpy(zero_copy_only=False), dtype=np.bool_)


def _matches(text: Any, pattern: str) -> Mask:
    return _as_mask(pc.match_substring_regex(text, pattern))


@dataclass(frozen=True)
class _Numbers:
    values: Floats  # NaN where missing or refused; ±inf where beyond a double's range
    present: Mask  # a value was given
    unreadable: Mask  # given, but not a number
    not_finite: Mask  # given as a word of NOT_FINITE_WORDS, or beyond a double's range


def _read_numbers(series: pd.Series, json_values: bool = False) -> _Numbers:
    rows = len(series)
    nothing = np.zeros(rows, dtype=np.bool_)
    if _is_typed_number(series):
        floats = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return _Numbers(floats, ~np.isnan(floats), nothing, np.isinf(floats))
    if _is_mixed(series) or pd.api.types.is_bool_dtype(series.dtype):
        read, present, reasons = _each(
            series, lambda v: grammar.read_number(v, text=not json_values)
        )
        floats = np.array([np.nan if v is None else v for v in read], dtype=np.float64)
        return _Numbers(
            floats,
            present,
            _reason_mask(reasons, Reason.WRONG_TYPE),
            _reason_mask(reasons, Reason.NOT_FINITE),
        )
    raw = _raw_text(series)
    if json_values:  # a JSON string is no number, even "42" (or "")
        given = _present(raw)
        return _Numbers(np.full(rows, np.nan), given, given, nothing)
    fast = _numbers_as_arrow_reads_them(raw)
    if fast is not None:
        return fast
    text = raw
    matched = _matches(raw, _NUMBER)
    present = _present(raw)
    if not (matched == present).all():
        # Blanks around a number, blank text, or no number: trimmed and matched again.
        text = _trimmed(raw)
        matched = _matches(text, _NUMBER)
        present = _present(text)
    numbers = pc.if_else(pa.array(matched), text, _NULL_TEXT)
    floats = pc.cast(numbers, pa.float64()).to_numpy(zero_copy_only=False)
    floats = np.asarray(floats, dtype=np.float64)  # NaN where null
    refused = present & ~matched
    not_finite = np.isinf(floats)
    if refused.any():
        not_finite |= refused & _as_mask(pc.is_in(pc.utf8_lower(text), value_set=_NOT_FINITE_WORDS))
    return _Numbers(floats, present, refused & ~not_finite, not_finite)


def _numbers_as_arrow_reads_them(raw: Any) -> _Numbers | None:
    """The common column, every value a number, read by Arrow's own parser in one call; None
    when a value is not one of its numbers or reads as NaN (the grammar then decides, value by
    value). Arrow's parser takes exactly the texts of NUMBER and the words of NOT_FINITE_WORDS
    (which read as NaN, or as ±inf as a number beyond a double's range does: NOT_FINITE either
    way); a parity test holds it to `shared.values.read_number`. It takes no blanks around a
    number, so a column it reads needs no trimming."""
    try:
        parsed = pc.cast(raw, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    floats = np.asarray(parsed.to_numpy(zero_copy_only=False), dtype=np.float64)
    present = _present(raw)
    if np.isnan(floats[present]).any():
        return None
    nothing = np.zeros(len(floats), dtype=np.bool_)
    return _Numbers(floats, present, nothing, np.isinf(floats))


def _as_mask(array: Any) -> Mask:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=np.bool_)


# --- inference ---------------------------------------------------------------------------------


def infer_contract(
    frame: pd.DataFrame, config: ProjectConfig, *, json_values: bool = False
) -> DataContract:
    """The contract of `frame` (training data) under `config`, with its overrides applied.
    `json_values`: the frame holds JSON's values (a JSONL file), where a string is text."""
    _refuse_repeated_columns(frame)
    roles = config.column_roles([str(c) for c in frame.columns])
    unknown = sorted(set(config.contract) - set(roles))
    if unknown:
        raise ConfigError(
            config.where(f"contract.{toml_key(unknown[0])}"),
            f"expected a column with a role (target, id, time, passthrough or feature), found "
            f"{unknown[0]!r}; the columns with a role: {_listed(roles)}",
        )
    columns = tuple(
        _infer_column(frame[name], name, role, config, json_values) for name, role in roles.items()
    )
    return DataContract(columns)


def _refuse_repeated_columns(frame: pd.DataFrame) -> None:
    repeated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if repeated:
        raise DataError(f"the data has more than one column named {', '.join(repeated)}")


def _listed(names: Iterable[str], limit: int = 30) -> str:
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names) - limit} more)" if len(names) > limit else "")


def _infer_column(
    series: pd.Series, name: str, role: Role, config: ProjectConfig, json_values: bool
) -> ColumnContract:
    override = config.contract.get(name, ColumnOverride())
    kind = override.kind or _infer_kind(series, role, json_values)
    if role == "time" and kind not in TIME_KINDS:
        raise ConfigError(
            config.where("model.time_column"),
            f"expected column {name!r} to hold ISO 8601 timestamps or numbers, found {kind} values",
        )
    ranged = kind in NUMBER_KINDS and role == "feature"
    low, high = _widened_bounds(series, json_values) if ranged else (None, None)
    inferred = {
        "name": name,
        "role": role,
        "kind": kind,
        "nullable": _inferred_nullable(series, role),
        "required": role in ("feature", "id"),
        "min": low,
        "max": high,
        "categories": _categories(series) if kind == "categorical" else None,
    }
    merged = {**inferred, **override.settings()}
    problems = _column_problems(
        role, merged["kind"], merged["min"], merged["max"], merged["categories"]
    )
    if problems:
        raise ConfigError(config.where(f"contract.{toml_key(name)}"), "; ".join(problems))
    return ColumnContract(**merged)


def _infer_kind(series: pd.Series, role: Role, json_values: bool) -> Kind:
    dtype = series.dtype
    if role in ("id", "passthrough"):
        return "string"
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "timestamp"
    if _is_mixed(series):
        kind = _infer_mixed_kind(series, json_values)
        if kind is not None:
            return kind
    elif not json_values:
        kind = _infer_number_kind(_text(series))
        if kind is not None:
            return kind
    return _infer_text_kind(_text(series), role)


def _infer_number_kind(text: Any) -> Kind | None:
    """integer or numeric when NUMERIC_SHARE of the text given reads as numbers, else None."""
    given = pc.drop_null(text)
    if len(given) == 0:
        return None
    matched = _matches(given, _NUMBER)
    if matched.mean() < NUMERIC_SHARE:
        return None
    whole = _matches(pc.filter(given, pa.array(matched)), _WHOLE_NUMBER).all()
    return "integer" if whole else "numeric"


def _infer_mixed_kind(series: pd.Series, json_values: bool) -> Kind | None:
    """The kind of a column of mixed values (JSON's), when it holds numbers or booleans."""
    given = [value for value in _objects(series) if value is not None]
    if given and all(isinstance(value, bool) for value in given):
        return "boolean"
    numbers = [grammar.read_number(value, text=not json_values)[0] for value in given]
    read = [number for number in numbers if number is not None]
    if not given or len(read) < NUMERIC_SHARE * len(given):
        return None
    whole = all(
        (isinstance(value, int) and not isinstance(value, bool))
        or (
            isinstance(value, str)
            and re.fullmatch(grammar.WHOLE_NUMBER, value.strip(grammar.BLANKS))
        )
        for value, number in zip(given, numbers, strict=True)
        if number is not None
    )
    return "integer" if whole else "numeric"


def _infer_text_kind(text: Any, role: Role) -> Kind:
    given = pc.drop_null(text)
    if len(given) == 0:
        return "string"
    lowered = pc.utf8_lower(given)
    if pc.all(pc.is_in(lowered, value_set=pa.array(["true", "false"]))).as_py():
        return "boolean"
    if role == "time":
        return "timestamp" if timestamp_mask(given).all() else "string"
    distinct = len(pc.unique(given))
    if distinct <= MAX_CATEGORIES and distinct * MIN_REPEATS_PER_CATEGORY <= len(given):
        return "categorical"
    return "string"


def _inferred_nullable(series: pd.Series, role: Role) -> bool:
    # Scoring keys its rows by the id. Passthrough and time columns may be left out of the
    # input altogether, so a row that leaves one empty is no worse.
    if role == "id":
        return False
    return role in ("passthrough", "time") or _has_missing(series)


def _has_missing(series: pd.Series) -> bool:
    if series.dtype == object or isinstance(series.dtype, pd.StringDtype | pd.CategoricalDtype):
        return not bool(_present(_text(series)).all())
    return bool(series.isna().any())


def _widened_bounds(series: pd.Series, json_values: bool) -> tuple[float | None, float | None]:
    numbers = _read_numbers(series, json_values)
    values = numbers.values[np.isfinite(numbers.values)]
    if values.size == 0:
        return None, None
    low, high = float(values.min()), float(values.max())
    margin = (high - low) or abs(high) or 1.0
    wide_low = 0.0 if low >= 0 else low - margin
    wide_high = 0.0 if high <= 0 else high + margin
    return min(wide_low, low), max(wide_high, high)


def _categories(series: pd.Series) -> tuple[str, ...]:
    return tuple(sorted(pc.unique(pc.drop_null(_text(series))).to_pylist()))


# --- validation --------------------------------------------------------------------------------

REJECTION_COLUMNS: Final = ("row_number", "column_name", "reason_code", "reason", "raw_value")


@dataclass(frozen=True)
class ValidationResult:
    """The rows of one chunk that passed, and one line per problem of those that did not.

    `valid`: the passing rows with their original index, a `row_number` column first, then the
    contract's columns present in the input (features coerced to their kind, the others as
    given); columns outside the contract are dropped. `rejections` (`REJECTION_COLUMNS`):
    row_number, column_name, reason_code (a `Reason`), reason (expected vs found) and raw_value
    (the offending value as text, None when null), in row order, the contract's column order
    within a row. A row with several problems has several lines.
    """

    valid: pd.DataFrame
    rejections: pd.DataFrame
    rows_in: int

    @property
    def rows_rejected(self) -> int:
        return int(self.rejections["row_number"].nunique())


@dataclass(frozen=True)
class _Finding:
    """One kind of problem in one column: the rows that have it and what was expected."""

    column: str
    reason: Reason
    rows: Mask
    expected: str


@dataclass(frozen=True)
class _Checked:
    value: Any  # the column read as its kind, for every row (NaN where unreadable)
    present: Mask  # a value was given (not null, not blank)
    findings: list[_Finding]


def validate(
    frame: pd.DataFrame,
    contract: DataContract,
    first_row_number: int = 1,
    *,
    json_values: bool = False,
) -> ValidationResult:
    """Check every row of `frame` against `contract`, a column at a time over the whole chunk.

    Values may be text (a CSV read as strings) or typed (Parquet, JSON); with `json_values`
    they are JSON's (a JSONL file), where a string is text and never a number or a boolean.
    Row numbers are `first_row_number` + position, so a chunk's numbers continue the file's.
    Every row ends up either in `valid` or, once per problem, in `rejections`.
    """
    _refuse_repeated_columns(frame)
    rows = len(frame)
    findings: list[_Finding] = []
    output: dict[str, Any] = {}
    for column in contract.columns:
        if column.name not in frame.columns:
            if column.required:
                everywhere = np.ones(rows, dtype=np.bool_)
                findings.append(_Finding(column.name, Reason.MISSING_COLUMN, everywhere, ""))
            continue
        series = frame[column.name]
        if column.role == "target":
            output[column.name] = series
            continue
        checked = _CHECKS[column.kind](series, column, json_values)
        findings.extend(checked.findings)
        if not column.nullable:
            findings.append(
                _Finding(column.name, Reason.MISSING_VALUE, ~checked.present, "a value")
            )
        output[column.name] = checked.value if column.role == "feature" else series
    rejected = np.zeros(rows, dtype=np.bool_)
    for finding in findings:
        rejected |= finding.rows
    row_numbers = np.arange(first_row_number, first_row_number + rows, dtype=np.int64)
    every = pd.DataFrame(
        {"row_number": row_numbers, **_aligned(output, frame.index)}, index=frame.index
    )
    return ValidationResult(
        # Selecting rows copies every column: not worth it when all rows passed, the usual case.
        valid=every[~rejected] if rejected.any() else every,
        rejections=_rejections(findings, frame, row_numbers),
        rows_in=rows,
    )


def _aligned(output: Mapping[str, Any], index: pd.Index) -> dict[str, Any]:
    # A Series built here has a fresh index; a column of the input already has the frame's.
    return {
        name: value.set_axis(index) if isinstance(value, pd.Series) else value
        for name, value in output.items()
    }


def _check_number(series: pd.Series, column: ColumnContract, json_values: bool) -> _Checked:
    numbers = _read_numbers(series, json_values)
    floats = numbers.values
    finite = np.isfinite(floats)
    whole = column.kind == "integer"
    expected = expected_text(column)
    findings = [
        _Finding(column.name, Reason.WRONG_TYPE, numbers.unreadable, expected),
        _Finding(column.name, Reason.NOT_FINITE, numbers.not_finite, "a finite number"),
    ]
    if whole:
        fraction = finite & (floats != np.floor(floats))
        findings.append(_Finding(column.name, Reason.WRONG_TYPE, fraction, expected))
    low, high = feature_bounds(column.role, column.kind, column.min, column.max)
    exact = _large_integers(series)
    if low is not None:
        below = finite & (floats < low)
        for position, integer in exact.items():  # compared as the integer it is, not its float
            below[position] = integer < low
        findings.append(_Finding(column.name, Reason.BELOW_MIN, below, f">= {low:g}"))
    if high is not None:
        above = finite & (floats > high)
        for position, integer in exact.items():
            above[position] = integer > high
        findings.append(_Finding(column.name, Reason.ABOVE_MAX, above, f"<= {high:g}"))
    return _Checked(np.where(finite, floats, np.nan), numbers.present, findings)


def _large_integers(series: pd.Series) -> dict[int, int]:
    """The typed integers beyond 2**53 by position: a float no longer holds each of them, so
    they are compared with a bound as integers (as the HTTP path and JSON Schema compare)."""
    if pd.api.types.is_integer_dtype(series.dtype):
        ints = series.to_numpy()
        large = np.flatnonzero((ints > grammar.EXACT_INTEGERS) | (ints < -grammar.EXACT_INTEGERS))
        return {int(p): int(ints[p]) for p in large}
    if not _is_mixed(series):
        return {}
    return {
        position: value
        for position, value in enumerate(_objects(series))
        if isinstance(value, int)
        and not isinstance(value, bool)
        and abs(value) > grammar.EXACT_INTEGERS
    }


def _check_boolean(series: pd.Series, column: ColumnContract, json_values: bool) -> _Checked:
    if pd.api.types.is_bool_dtype(series.dtype) or _is_typed_number(series):
        floats = series.to_numpy(dtype=np.float64, na_value=np.nan)
        present = ~np.isnan(floats)
        wrong = present & (floats != 0) & (floats != 1)
    elif _is_mixed(series) or json_values:
        read, present, reasons = _each(series, lambda v: grammar.read_boolean(v, not json_values))
        floats = np.array([np.nan if v is None else v for v in read], dtype=np.float64)
        wrong = _reason_mask(reasons, Reason.WRONG_TYPE)
    else:
        text = _raw_text(series)
        found = pc.index_in(pc.utf8_lower(text), value_set=_BOOLEAN_WORDS)
        if not _all_found(found, text):
            text = _trimmed(text)
            found = pc.index_in(pc.utf8_lower(text), value_set=_BOOLEAN_WORDS)
        present = _present(text)
        index = np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False))
        wrong = present & (index < 0)
        floats = np.where(index < 0, np.nan, (index < _TRUE_WORDS).astype(np.float64))
    floats = np.where(wrong, np.nan, floats)
    expected = expected_text(column)
    return _Checked(floats, present, [_Finding(column.name, Reason.WRONG_TYPE, wrong, expected)])


def _check_categorical(series: pd.Series, column: ColumnContract, json_values: bool) -> _Checked:
    categories = list(column.categories or ())
    value_set = _value_set(column.categories or ())
    wrong = np.zeros(len(series), dtype=np.bool_)
    if _is_mixed(series) or pd.api.types.is_bool_dtype(series.dtype):
        read, present, reasons = _each(series, grammar.category_text)
        wrong = _reason_mask(reasons, Reason.WRONG_TYPE)
        text = pa.array(read, pa.large_string())
        found = pc.index_in(text, value_set=value_set)
    else:
        text = _raw_text(series)
        found = pc.index_in(text, value_set=value_set)
        if not _all_found(found, text):
            text = _trimmed(text)
            found = pc.index_in(text, value_set=value_set)
        present = _present(text)
    codes = np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    # Lenient: an unknown value keeps code -1 and so becomes missing, as documented above.
    value = pd.Categorical.from_codes(codes, categories=pd.Index(categories))
    findings = [_Finding(column.name, Reason.WRONG_TYPE, wrong, expected_text(column))]
    if column.strict_categories:
        unknown = present & ~wrong & (codes < 0)
        expected = expected_text(column)
        findings.append(_Finding(column.name, Reason.UNKNOWN_CATEGORY, unknown, expected))
    return _Checked(value, present, findings)


def _check_string(series: pd.Series, column: ColumnContract, json_values: bool) -> _Checked:
    if _is_mixed(series) and column.role == "id":
        _, present, reasons = _each(series, grammar.id_text)
        wrong = _reason_mask(reasons, Reason.WRONG_TYPE)
        expected = expected_text(column)
        return _Checked(
            series, present, [_Finding(column.name, Reason.WRONG_TYPE, wrong, expected)]
        )
    if column.role == "id" and pd.api.types.is_bool_dtype(series.dtype):
        present = series.notna().to_numpy()
        return _Checked(
            series,
            present,
            [_Finding(column.name, Reason.WRONG_TYPE, present, expected_text(column))],
        )
    return _Checked(series, _present(_text(series)), [])


def _check_timestamp(series: pd.Series, column: ColumnContract, json_values: bool) -> _Checked:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        parsed = pd.to_datetime(series, utc=True)
        present = np.asarray(parsed.notna().to_numpy(), dtype=np.bool_)
        return _Checked(parsed, present, [])
    expected = expected_text(column)
    if _is_text(series):
        text = _text(series)
        present = _present(text)
        wrong = present & ~timestamp_mask(text)
    else:  # numbers, booleans, arrays: no timestamp
        read, present, reasons = _each(series, grammar.read_timestamp)
        wrong = _reason_mask(reasons, Reason.WRONG_TYPE)
        text = pa.array(read, pa.large_string())
    findings = [_Finding(column.name, Reason.WRONG_TYPE, wrong, expected)]
    if column.role != "feature":  # only a feature is carried parsed: the verdict is all
        return _Checked(series, present, findings)
    return _Checked(utc_moments(text), present, findings)


_CHECKS: Final[dict[Kind, Callable[[pd.Series, ColumnContract, bool], _Checked]]] = {
    "numeric": _check_number,
    "integer": _check_number,
    "boolean": _check_boolean,
    "categorical": _check_categorical,
    "string": _check_string,
    "timestamp": _check_timestamp,
}


def _rejections(
    findings: Sequence[_Finding], frame: pd.DataFrame, row_numbers: npt.NDArray[np.int64]
) -> pd.DataFrame:
    pieces = [_rejection_lines(f, frame, row_numbers) for f in findings if f.rows.any()]
    if not pieces:
        empty = {name: pd.Series([], dtype=object) for name in REJECTION_COLUMNS}
        return pd.DataFrame(empty | {"row_number": pd.Series([], dtype=np.int64)})
    lines = pd.concat(pieces, ignore_index=True)
    # Stable, so a row's problems stay in the contract's column order.
    return lines.sort_values("row_number", kind="stable", ignore_index=True)


def _rejection_lines(
    finding: _Finding, frame: pd.DataFrame, row_numbers: npt.NDArray[np.int64]
) -> pd.DataFrame:
    positions = np.flatnonzero(finding.rows)
    count = positions.size
    if finding.reason is Reason.MISSING_COLUMN:
        raw = pd.Series([None] * count, dtype=object)
        message = f"expected a column {grammar.json_text(finding.column)}, found none"
        reason = pd.Series([message] * count, dtype=object)
    else:
        given = _objects(frame[finding.column].iloc[positions])
        raw = pd.Series([None if v is None else _value_text(v) for v in given], dtype=object)
        found = [
            "nothing" if v is None else grammar.json_text(v) if isinstance(v, str) else text
            for v, text in zip(given, raw, strict=True)
        ]
        reason = pd.Series([f"expected {finding.expected}, found {f}" for f in found], dtype=object)
    return pd.DataFrame(
        {
            "row_number": row_numbers[positions],
            "column_name": pd.Series([finding.column] * count, dtype=object),
            "reason_code": pd.Series([finding.reason.value] * count, dtype=object),
            "reason": reason,
            "raw_value": raw,
        }
    )
