"""The data contract of a model version: what each input column must hold, and the check.

A contract lists the columns a model version was trained with. Each has a *role*:

    feature      the model reads it: required in the input, checked, coerced to its kind
    id           keys the predictions: required, must be present in every row, kept as given
    passthrough  carried into the output: optional, kept as given
    time         when the row happened (splits, monitoring): optional, checked if present, kept
    target       the label: never required or checked, kept as given if present

and a *kind*, which says how a value is read. Text (a CSV read as strings) and typed values
(Parquet, JSON) give the same verdicts:

    numeric      a finite number ("1e3", " 42 ", 42, 42.5)                  → float64
    integer      a finite whole number ("35", 35, 35.0; not 35.5)           → float64
    boolean      true/false, t/f, yes/no, y/n, 1/0 (any case), or typed     → float64 1.0 / 0.0
    categorical  one of `categories`, compared as text with blanks trimmed  → pandas Categorical
    string       any value (ids, free text)                                 → kept as given
    timestamp    ISO 8601 text (`shared.timestamps`: 2024-07-01, 2024-07-01T10:30:00Z,
                 20240701 103000+0200; naive read as UTC) or a typed datetime → datetime64 UTC

Integers come out as float64 because models take floats and NaN needs one. A value is *missing*
when it is null/None/NaN or text that is empty or blank. Any other text that does not read as its
kind is WRONG_TYPE — "n/a", "-", "12k" — and "nan"/"inf" are NOT_FINITE. So read CSV files with
``dtype=str, keep_default_na=False, na_values=[""]``: pandas' default turns "n/a" into a silent
missing value before the check can report it.

Categories: with ``strict_categories`` an unknown value rejects the row (UNKNOWN_CATEGORY). When
lenient, the row is kept and the value becomes missing (NaN) in the valid frame, whatever
``nullable`` says: the model's encoding then treats it as an absent value (an all-zero one-hot
row, XGBoost's missing branch), so a lenient column's encoder must accept missing values.

Inference (`infer_contract`) from training data, then the reviewed overrides of the project
configuration (``[contract.<column>]``) on top:

- kind: from the dtype (bool → boolean, int → integer, float → numeric, datetime → timestamp);
  text that all parses as numbers → integer if every value is written as a whole number
  (``"35"``, not ``"35.0"``), else numeric; text that is all true/false → boolean; text in the
  time column → timestamp; other text → categorical when it has at most 50 distinct values and
  each appears on average at least twice, else string. Id and passthrough columns are opaque:
  kind string, so scoring only checks that an id is there and carries both through unchanged.
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
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from shared.errors import ConfigError, DataError, UsageError
from shared.feature_range import feature_bounds
from shared.reasons import Reason
from shared.timestamps import timestamp_mask, utc_moments

if TYPE_CHECKING:
    from shared.project_config import ProjectConfig

Role = Literal["feature", "id", "passthrough", "time", "target"]
Kind = Literal["numeric", "integer", "boolean", "categorical", "string", "timestamp"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)
KINDS: Final[tuple[Kind, ...]] = get_args(Kind)
NUMBER_KINDS: Final[frozenset[Kind]] = frozenset({"numeric", "integer"})
TIME_KINDS: Final[frozenset[Kind]] = frozenset({"timestamp", "integer", "numeric"})
CONTRACT_VERSION: Final = 1
# Past these, a text column is free text (names, addresses), not a set of categories.
MAX_CATEGORIES: Final = 50
MIN_REPEATS_PER_CATEGORY: Final = 2

Mask = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]


def toml_key(name: str) -> str:
    """`name` as a TOML key: bare when it can be, else quoted (`contract."loan.amount"`)."""
    if name and all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in name):
        return name
    return _toml_string(name)


def _toml_string(text: str) -> str:
    # JSON's escapes are TOML's, except that TOML also wants DEL escaped.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _column_problems(
    role: str, kind: str, low: float | None, high: float | None, categories: object
) -> list[str]:
    """What makes these settings of a column inconsistent (empty when they are fine)."""
    problems = []
    if role not in ROLES:
        problems.append(f"role must be one of {', '.join(ROLES)}, found {role!r}")
    if kind not in KINDS:
        problems.append(f"kind must be one of {', '.join(KINDS)}, found {kind!r}")
    bounds = [b for b in (low, high) if b is not None]
    if bounds and kind not in NUMBER_KINDS:
        problems.append(f"min/max apply to numeric and integer columns, found kind {kind!r}")
    if any(not math.isfinite(b) for b in bounds):
        problems.append(f"min/max must be finite numbers, found {low!r}/{high!r}")
    elif low is not None and high is not None and low > high:
        problems.append(f"min must be <= max, found min {low!r} > max {high!r}")
    if kind == "categorical":
        problems.extend(_category_problems(categories))
    elif categories is not None:
        problems.append(f"categories apply to categorical columns, found kind {kind!r}")
    return problems


def _category_problems(categories: object) -> list[str]:
    if not isinstance(categories, tuple) or not categories:
        return [f"a categorical column needs a non-empty list of categories, found {categories!r}"]
    if not all(isinstance(c, str) and c.strip() == c and c for c in categories):
        return ["categories must be non-empty text without leading/trailing blanks"]
    repeated = sorted({c for c in categories if categories.count(c) > 1})
    return [f"categories must be distinct, found {repeated} more than once"] if repeated else []


@dataclass(frozen=True)
class ColumnContract:
    """What one column must hold; see the module docstring for roles and kinds."""

    name: str
    role: Role
    kind: Kind
    nullable: bool
    required: bool
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = None
    strict_categories: bool = True  # categorical only: unknown value → reject (else → missing)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise UsageError(f"a column name must be non-empty text, found {self.name!r}")
        problems = _column_problems(self.role, self.kind, self.min, self.max, self.categories)
        if problems:
            raise UsageError(f"column {self.name!r}: {'; '.join(problems)}")


@dataclass(frozen=True)
class ColumnOverride:
    """A reviewer's changes to one inferred column (`[contract.<column>]`); None keeps the
    inferred setting. A bound of -inf/inf removes that bound."""

    kind: Kind | None = None
    nullable: bool | None = None
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = None
    strict_categories: bool | None = None

    def problems(self) -> list[str]:
        """What is inconsistent within this override alone (the inferred kind is checked later)."""
        problems = []
        if self.kind is not None and self.kind not in KINDS:
            problems.append(f"kind must be one of {', '.join(KINDS)}, found {self.kind!r}")
        if any(b is not None and math.isnan(b) for b in (self.min, self.max)):
            problems.append("min/max must be numbers, found nan")
        elif self.min is not None and self.max is not None and self.min > self.max:
            problems.append(f"min must be <= max, found min {self.min!r} > max {self.max!r}")
        if self.categories is not None:
            problems.extend(_category_problems(self.categories))
        if self.kind is not None and self.kind != "categorical":
            for key in ("categories", "strict_categories"):
                if getattr(self, key) is not None:
                    problems.append(f"{key} applies to categorical columns, kind is {self.kind!r}")
        if self.kind is not None and self.kind not in NUMBER_KINDS:
            for key in ("min", "max"):
                if getattr(self, key) is not None:
                    problems.append(
                        f"{key} applies to numeric and integer columns, kind is {self.kind!r}"
                    )
        return problems

    def settings(self) -> dict[str, Any]:
        """The settings this override changes, an infinite bound as no bound (None)."""
        changed = {f.name: getattr(self, f.name) for f in fields(self)}
        changed = {key: value for key, value in changed.items() if value is not None}
        for key in ("min", "max"):
            if key in changed and math.isinf(changed[key]):
                changed[key] = None
        return changed


@dataclass(frozen=True)
class DataContract:
    """The columns a model version was trained with; stored beside it as contract.json."""

    columns: tuple[ColumnContract, ...]

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise UsageError(f"a contract names each column once, found {repeated} repeated")
        for role in ("id", "time", "target"):
            holders = [c.name for c in self.columns if c.role == role]
            if len(holders) > 1:
                raise UsageError(f"a contract has at most one {role} column, found {holders}")
        if not self.features():
            raise UsageError("a contract needs at least one feature column, found none")

    def features(self) -> tuple[ColumnContract, ...]:
        """The feature columns, in the order the model takes them."""
        return tuple(c for c in self.columns if c.role == "feature")

    def feature_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.features())

    def column(self, name: str) -> ColumnContract:
        for column in self.columns:
            if column.name == name:
                return column
        known = ", ".join(c.name for c in self.columns)
        raise UsageError(f"the contract has no column {name!r}; its columns: {known}")

    def with_role(self, role: Role) -> ColumnContract | None:
        """The id, time or target column, if the contract has one."""
        return next((c for c in self.columns if c.role == role), None)

    def to_json(self) -> str:
        document = {
            "contract_version": CONTRACT_VERSION,
            "columns": [_column_to_json(c) for c in self.columns],
        }
        return json.dumps(document, sort_keys=True, indent=2, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> DataContract:
        try:
            document = json.loads(text)
        except (ValueError, RecursionError) as exc:
            # JSONDecodeError, and what json lets through: an integer of more digits than
            # Python converts, nesting deeper than the stack.
            raise DataError(f"contract.json: not valid JSON ({exc})") from exc
        return _contract_from_json(document)

    def to_toml(self) -> str:
        """The ``[contract.<column>]`` tables that freeze this contract in cloudscore.toml.

        Every setting is written out, so the pasted tables give this contract again whatever
        the data; the target is left out because scoring never checks it.
        """
        lines = [
            f"# Data contract (contract_version {CONTRACT_VERSION}) inferred by cloudscore.",
            "# Review, edit and paste into cloudscore.toml: these tables override the inference.",
        ]
        for column in self.columns:
            if column.role != "target":
                lines.extend(["", *_column_to_toml(column)])
        return "\n".join(lines) + "\n"

    def diff(self, other: DataContract) -> list[str]:
        """What changed from this contract to `other`, one human-readable line per change."""
        mine = {c.name: c for c in self.columns}
        theirs = {c.name: c for c in other.columns}
        changes = [
            f"removed column {n!r} ({c.role}, {c.kind})" for n, c in mine.items() if n not in theirs
        ]
        changes += [
            f"added column {n!r} ({c.role}, {c.kind})" for n, c in theirs.items() if n not in mine
        ]
        for name, old in mine.items():
            if name in theirs:
                changes.extend(_column_changes(old, theirs[name]))
        return changes


def _column_to_json(column: ColumnContract) -> dict[str, Any]:
    document = {f.name: getattr(column, f.name) for f in fields(column)}
    if column.categories is not None:
        document["categories"] = list(column.categories)
    return document


_JSON_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "name": (str,), "role": (str,), "kind": (str,), "nullable": (bool,), "required": (bool,),
    "min": (int, float, type(None)), "max": (int, float, type(None)),
    "categories": (list, type(None)), "strict_categories": (bool,),
}  # fmt: skip


def _contract_from_json(document: object) -> DataContract:
    if not isinstance(document, dict) or set(document) != {"contract_version", "columns"}:
        raise DataError("contract.json: expected an object with contract_version and columns")
    version = document["contract_version"]
    if version != CONTRACT_VERSION:
        raise DataError(
            f"contract.json: contract_version {version!r} is not the one this "
            f"cloudscore reads ({CONTRACT_VERSION})"
        )
    if not isinstance(document["columns"], list):
        raise DataError("contract.json: columns must be a list")
    columns = tuple(_column_from_json(c, i) for i, c in enumerate(document["columns"]))
    try:
        return DataContract(columns)
    except UsageError as exc:
        raise DataError(f"contract.json: {exc}") from exc


def _column_from_json(document: object, index: int) -> ColumnContract:
    where = f"contract.json: columns[{index}]"
    if not isinstance(document, dict) or set(document) != set(_JSON_TYPES):
        found = sorted(document) if isinstance(document, dict) else type(document).__name__
        raise DataError(f"{where}: expected the keys {sorted(_JSON_TYPES)}, found {found}")
    for key, types in _JSON_TYPES.items():
        value = document[key]
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            raise DataError(f"{where}.{key}: unexpected value {value!r}")
    values = dict(document)
    for key in ("min", "max"):
        try:
            values[key] = None if values[key] is None else float(values[key])
        except OverflowError as exc:
            raise DataError(
                f"{where}.{key}: expected a number a float holds, found an integer of "
                f"{len(str(abs(values[key])))} digits"
            ) from exc
    if values["categories"] is not None:
        values["categories"] = tuple(values["categories"])
    try:
        return ColumnContract(**values)
    except UsageError as exc:
        raise DataError(f"{where}: {exc}") from exc


def _toml_number(value: float | None, unbounded: str) -> str:
    return unbounded if value is None else repr(float(value))


def _column_to_toml(column: ColumnContract) -> list[str]:
    lines = [
        f"# {column.role}",
        f"[contract.{toml_key(column.name)}]",
        f'kind = "{column.kind}"',
        f"nullable = {str(column.nullable).lower()}",
    ]
    if column.kind in NUMBER_KINDS:
        lines.append(f"min = {_toml_number(column.min, '-inf')}")
        lines.append(f"max = {_toml_number(column.max, 'inf')}")
    if column.categories is not None:
        lines.append(f"categories = [{', '.join(_toml_string(c) for c in column.categories)}]")
        lines.append(f"strict_categories = {str(column.strict_categories).lower()}")
    return lines


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return "none" if value is None else str(value)


def _column_changes(old: ColumnContract, new: ColumnContract) -> list[str]:
    changes = []
    for key in ("role", "kind", "nullable", "required", "min", "max", "strict_categories"):
        before, after = getattr(old, key), getattr(new, key)
        if before != after:
            changes.append(f"{old.name!r}: {key} {_shown(before)} → {_shown(after)}")
    before_set, after_set = set(old.categories or ()), set(new.categories or ())
    added, removed = sorted(after_set - before_set), sorted(before_set - after_set)
    if added or removed:
        parts = [f"added {added}" if added else "", f"removed {removed}" if removed else ""]
        changes.append(f"{old.name!r}: categories {', '.join(p for p in parts if p)}")
    return changes


def missing_columns(header: Sequence[str], contract: DataContract) -> list[str]:
    """The required columns absent from a file's header; extra columns are ignored."""
    present = set(header)
    return [c.name for c in contract.columns if c.required and c.name not in present]


# --- reading values ----------------------------------------------------------------------------

_BOOLEAN_WORDS: Final = pa.array(
    ["true", "t", "yes", "y", "1", "1.0", "false", "f", "no", "n", "0", "0.0"], pa.large_string()
)
_TRUE_WORDS: Final = 6  # the first six of _BOOLEAN_WORDS mean true
_NAN_WORDS: Final = pa.array(["nan", "+nan", "-nan"], pa.large_string())
_WHOLE_NUMBER: Final = r"^[+-]?[0-9]+$"


@functools.lru_cache(maxsize=256)
def _value_set(categories: tuple[str, ...]) -> Any:
    return pa.array(categories, pa.large_string())


def _text(series: pd.Series) -> Any:
    """The column as an Arrow string array with blanks trimmed and blank text as null."""
    return _trimmed(_raw_text(series))


def _raw_text(series: pd.Series) -> Any:
    """The column as an Arrow string array, each value as given (null where missing)."""
    if isinstance(series.dtype, pd.StringDtype):
        return pa.array(series.array, type=pa.large_string())
    if isinstance(series.dtype, pd.CategoricalDtype):
        return _raw_text(pd.Series(np.asarray(series, dtype=object), dtype=object))
    if series.dtype == object:
        return _object_text(series)
    if pd.api.types.is_float_dtype(series.dtype):
        return _float_text(series)
    missing = series.isna().to_numpy()
    return pa.array(series.astype(str).to_numpy(dtype=object), pa.large_string(), missing)


def _trimmed(raw: Any) -> Any:
    trimmed = pc.utf8_trim_whitespace(raw)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.large_string()), trimmed)


def _all_found(found: Any, raw: Any) -> bool:
    """Whether a lookup (`index_in`) of `raw` found every value that was given.

    Every value it looks up (a number, a category, a boolean word) is free of surrounding
    blanks, so then trimming `raw` would change nothing that matters: the check can skip it.
    """
    return bool(found.null_count == raw.null_count)


def _object_text(series: pd.Series) -> Any:
    try:
        return pa.array(series.to_numpy(), type=pa.large_string(), from_pandas=True)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        # Mixed values, as JSON gives: 35, "12k", true; each read as its text.
        missing = series.isna().to_numpy()
        texts = series.astype(str).to_numpy(dtype=object)
        return pa.array(texts, type=pa.large_string(), mask=missing)


def _float_text(series: pd.Series) -> Any:
    # Whole floats as integers, so a typed 3.0 matches the category "3" a CSV spells.
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(values)
    # Past 2**53 a float no longer holds every integer, and int64 would overflow.
    whole = ~missing & (np.abs(values) < 2**53) & (values == np.round(values))
    texts = series.astype(str).to_numpy(dtype=object)
    texts[whole] = values[whole].astype(np.int64).astype(str)
    return pa.array(texts, type=pa.large_string(), mask=missing)


def _present(text: Any) -> Mask:
    return np.asarray(pc.is_valid(text).to_numpy(zero_copy_only=False), dtype=np.bool_)


def _is_typed_number(series: pd.Series) -> bool:
    dtype = series.dtype
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


@dataclass(frozen=True)
class _Numbers:
    values: Floats  # NaN where missing or unreadable
    present: Mask  # a value was given
    unreadable: Mask  # given, but not a number
    nan_text: Mask  # given as "nan" text


def _read_numbers(series: pd.Series) -> _Numbers:
    if _is_typed_number(series):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        nothing = np.zeros(len(values), dtype=np.bool_)
        return _Numbers(values, ~np.isnan(values), nothing, nothing)
    raw = _raw_text(series)
    try:
        # Arrow refuses blank text and blanks around a number: when it reads the values as
        # given, trimming them first would change nothing, so the common case skips it.
        values = np.asarray(
            pc.cast(raw, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
        )
        text = raw
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        text = _trimmed(raw)
        values = _parse_numbers(text)
    present = _present(text)
    failed = present & np.isnan(values)
    nan_text = np.zeros(len(values), dtype=np.bool_)
    if failed.any():
        nan_text = failed & _as_mask(pc.is_in(pc.utf8_lower(text), value_set=_NAN_WORDS))
    return _Numbers(values, present, failed & ~nan_text, nan_text)


def _parse_numbers(text: Any) -> Floats:
    try:
        parsed = pc.cast(text, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Some value is not a number. Arrow parses the whole column or nothing; pandas goes
        # value by value (about 15 times slower), so it only runs on columns with a bad value.
        objects = pd.Series(text.to_numpy(zero_copy_only=False), dtype=object)
        return pd.to_numeric(objects, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(parsed.to_numpy(zero_copy_only=False), dtype=np.float64)


def _all_numbers(text: Any) -> bool:
    try:
        parsed = pc.cast(text, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return not bool(pc.any(pc.is_nan(parsed)).as_py())


def _as_mask(array: Any) -> Mask:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=np.bool_)


# --- inference ---------------------------------------------------------------------------------


def infer_contract(frame: pd.DataFrame, config: ProjectConfig) -> DataContract:
    """The contract of `frame` (training data) under `config`, with its overrides applied."""
    _refuse_repeated_columns(frame)
    roles = config.column_roles([str(c) for c in frame.columns])
    unknown = sorted(set(config.contract) - set(roles))
    if unknown:
        raise ConfigError(
            config.where(f"contract.{toml_key(unknown[0])}"),
            f"expected a column with a role (target, id, time, passthrough or feature), found "
            f"{unknown[0]!r}; the columns with a role: {_listed(roles)}",
        )
    columns = tuple(_infer_column(frame[name], name, role, config) for name, role in roles.items())
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
    series: pd.Series, name: str, role: Role, config: ProjectConfig
) -> ColumnContract:
    override = config.contract.get(name, ColumnOverride())
    kind = override.kind or _infer_kind(series, role)
    if role == "time" and kind not in TIME_KINDS:
        raise ConfigError(
            config.where("model.time_column"),
            f"expected column {name!r} to hold ISO 8601 timestamps or numbers, found {kind} values",
        )
    ranged = kind in NUMBER_KINDS and role == "feature"
    low, high = _widened_bounds(series) if ranged else (None, None)
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


def _infer_kind(series: pd.Series, role: Role) -> Kind:
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
    return _infer_text_kind(_text(series), role)


def _infer_text_kind(text: Any, role: Role) -> Kind:
    given = pc.drop_null(text)
    if len(given) == 0:
        return "string"
    if _all_numbers(given):
        whole = pc.all(pc.match_substring_regex(given, _WHOLE_NUMBER)).as_py()
        return "integer" if whole else "numeric"
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


def _widened_bounds(series: pd.Series) -> tuple[float | None, float | None]:
    numbers = _read_numbers(series)
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
    frame: pd.DataFrame, contract: DataContract, first_row_number: int = 1
) -> ValidationResult:
    """Check every row of `frame` against `contract`, a column at a time over the whole chunk.

    Values may be text (a CSV read as strings) or typed (Parquet, JSON). Row numbers are
    `first_row_number` + position, so a chunk's numbers continue the file's. Every row ends up
    either in `valid` or, once per problem, in `rejections`.
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
        checked = _CHECKS[column.kind](series, column)
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


def _check_number(series: pd.Series, column: ColumnContract) -> _Checked:
    numbers = _read_numbers(series)
    values = numbers.values
    finite = np.isfinite(values)
    whole = column.kind == "integer"
    findings = [
        _Finding(
            column.name,
            Reason.WRONG_TYPE,
            numbers.unreadable,
            "a whole number" if whole else "a number",
        ),
        _Finding(
            column.name, Reason.NOT_FINITE, numbers.nan_text | np.isinf(values), "a finite number"
        ),
    ]
    if whole:
        fraction = finite & (values != np.floor(values))
        findings.append(_Finding(column.name, Reason.WRONG_TYPE, fraction, "a whole number"))
    low, high = feature_bounds(column.role, column.kind, column.min, column.max)
    if low is not None:
        below = finite & (values < low)
        findings.append(_Finding(column.name, Reason.BELOW_MIN, below, f">= {low:g}"))
    if high is not None:
        above = finite & (values > high)
        findings.append(_Finding(column.name, Reason.ABOVE_MAX, above, f"<= {high:g}"))
    return _Checked(np.where(finite, values, np.nan), numbers.present, findings)


def _check_boolean(series: pd.Series, column: ColumnContract) -> _Checked:
    if pd.api.types.is_bool_dtype(series.dtype) or _is_typed_number(series):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        present = ~np.isnan(values)
        wrong = present & (values != 0) & (values != 1)
    else:
        text = _raw_text(series)
        found = pc.index_in(pc.utf8_lower(text), value_set=_BOOLEAN_WORDS)
        if not _all_found(found, text):
            text = _trimmed(text)
            found = pc.index_in(pc.utf8_lower(text), value_set=_BOOLEAN_WORDS)
        present = _present(text)
        index = np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False))
        wrong = present & (index < 0)
        values = np.where(index < 0, np.nan, (index < _TRUE_WORDS).astype(np.float64))
    values = np.where(wrong, np.nan, values)
    expected = "true/false, yes/no or 1/0"
    return _Checked(values, present, [_Finding(column.name, Reason.WRONG_TYPE, wrong, expected)])


def _check_categorical(series: pd.Series, column: ColumnContract) -> _Checked:
    categories = list(column.categories or ())
    value_set = _value_set(column.categories or ())
    text = _raw_text(series)
    found = pc.index_in(text, value_set=value_set)
    if not _all_found(found, text):
        text = _trimmed(text)
        found = pc.index_in(text, value_set=value_set)
    present = _present(text)
    codes = np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    # Lenient: an unknown value keeps code -1 and so becomes missing, as documented above.
    value = pd.Categorical.from_codes(codes, categories=pd.Index(categories))
    findings = []
    if column.strict_categories:
        unknown = present & (codes < 0)
        expected = f"one of {_listed(categories, limit=12)}"
        findings.append(_Finding(column.name, Reason.UNKNOWN_CATEGORY, unknown, expected))
    return _Checked(value, present, findings)


def _check_string(series: pd.Series, column: ColumnContract) -> _Checked:
    return _Checked(series, _present(_text(series)), [])


def _check_timestamp(series: pd.Series, column: ColumnContract) -> _Checked:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        parsed = pd.to_datetime(series, utc=True)
        present = np.asarray(parsed.notna().to_numpy(), dtype=np.bool_)
        return _Checked(parsed, present, [])
    text = _text(series)
    present = _present(text)
    wrong = present & ~timestamp_mask(text)
    findings = [_Finding(column.name, Reason.WRONG_TYPE, wrong, "an ISO 8601 timestamp")]
    if column.role != "feature":  # only a feature is carried parsed: the verdict is all
        return _Checked(series, present, findings)
    return _Checked(utc_moments(text), present, findings)


_CHECKS: Final[dict[Kind, Callable[[pd.Series, ColumnContract], _Checked]]] = {
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
        reason = pd.Series(
            [f"expected a column {finding.column!r}, found none"] * count, dtype=object
        )
    else:
        raw = _raw_values(frame[finding.column].iloc[positions])
        given = raw.notna()
        found = ("'" + raw.where(given, "") + "'").where(given, "nothing")
        reason = f"expected {finding.expected}, found " + found
    return pd.DataFrame(
        {
            "row_number": row_numbers[positions],
            "column_name": pd.Series([finding.column] * count, dtype=object),
            "reason_code": pd.Series([finding.reason.value] * count, dtype=object),
            "reason": reason.astype(object),
            "raw_value": raw,
        }
    )


def _raw_values(values: pd.Series) -> pd.Series:
    """The offending values as text, as a person would look them up; None where null."""
    missing = values.isna().to_numpy()
    texts = values.astype(str).to_numpy(dtype=object)
    texts[missing] = None
    return pd.Series(texts, dtype=object)
