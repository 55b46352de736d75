"""The data contract of a model version as data: its columns, their roles and kinds, stored as
contract.json beside the version, written as `[contract.*]` TOML for review, and exported as the
JSON Schema of one instance. No pandas or Arrow: the HTTP path reads it. How a value reads as
each kind is `shared.values`; checking a table against a contract and inferring one from
training data is `shared.contract`.

A contract lists the columns a model version was trained with. Each has a *role*:

    feature      the model reads it: required in the input, checked, coerced to its kind
    id           keys the predictions: required, must be present in every row, kept as given
    passthrough  carried into the output: optional, kept as given
    time         when the row happened (splits, monitoring): optional, checked if present, kept
    target       the label: never required or checked, kept as given if present

and a *kind*, which says how a value is read (`shared.values` has the grammar):

    numeric      a finite number                                            → float64
    integer      a finite whole number (35, 35.0; not 35.5)                 → float64
    boolean      true/false or 1/0 (in text also yes/no, t/f, y/n)          → float64 1.0 / 0.0
    categorical  one of `categories`, compared as text with blanks trimmed  → its category
    string       any value (ids, free text)                                 → kept as given
    timestamp    ISO 8601 text (`shared.timestamps`)                        → a UTC moment

Categories: with ``strict_categories`` an unknown value rejects the row (UNKNOWN_CATEGORY). When
lenient, the row is kept and the value becomes missing: the model's encoding then treats it as
an absent value (an all-zero one-hot row, XGBoost's missing branch).

    contract.instance_schema() -> dict    the JSON Schema (2020-12) of one instance: what the
                                          HTTP API and a JSONL line accept, exactly
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Final, Literal, get_args

from shared.errors import DataError, UsageError
from shared.feature_range import feature_bounds
from shared.timestamps import PATTERN as TIMESTAMP_PATTERN
from shared.values import BLANKS, EXACT_INTEGERS, value_text

Role = Literal["feature", "id", "passthrough", "time", "target"]
Kind = Literal["numeric", "integer", "boolean", "categorical", "string", "timestamp"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)
KINDS: Final[tuple[Kind, ...]] = get_args(Kind)
NUMBER_KINDS: Final[frozenset[Kind]] = frozenset({"numeric", "integer"})
TIME_KINDS: Final[frozenset[Kind]] = frozenset({"timestamp", "integer", "numeric"})
CONTRACT_VERSION: Final = 1


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

    @classmethod
    def from_document(cls, document: object) -> DataContract:
        """The contract of contract.json already read as JSON."""
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

    def instance_schema(self) -> dict[str, Any]:
        """The JSON Schema (2020-12) of one instance (a JSONL line, an HTTP instance): exactly
        the JSON values `shared.values` accepts for each column, so that a value the schema
        allows is accepted and one it refuses is refused. Fields outside the contract are
        allowed, and ignored, as a file's extra columns are."""
        checked = [c for c in self.columns if c.role != "target"]
        properties = {c.name: column_schema(c) for c in checked}
        # A body with "instances" is read as a list of instances, never as one instance.
        properties.setdefault("instances", False)
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": [c.name for c in checked if c.required],
            "properties": properties,
        }

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


def expected_text(column: ColumnContract) -> str:
    """What a value of the column must be, as a problem says it (batch and HTTP alike)."""
    if column.kind == "integer":
        return "a whole number"
    if column.kind == "numeric":
        return "a number"
    if column.kind == "boolean":
        return "true or false"
    if column.kind == "timestamp":
        return "an ISO 8601 timestamp"
    if column.kind == "categorical":
        return "one of " + _listed(column.categories or (), 12)
    if column.role == "id":
        return "an id (text or a number)"
    return "a value"


def _listed(names: Sequence[str], limit: int) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names) - limit} more)" if len(names) > limit else "")


def close_names(name: str, others: Sequence[str]) -> list[str]:
    """The names among `others` that look like a misspelling of `name`, the closest first."""
    import difflib

    return difflib.get_close_matches(name, list(others), n=3, cutoff=0.75)


# --- JSON Schema ---------------------------------------------------------------------------------

_BLANK_CLASS: Final = "[" + "".join(f"\\u{ord(c):04x}" for c in BLANKS) + "]"
_BLANK_TEXT: Final = {"type": "string", "pattern": f"^{_BLANK_CLASS}*$"}
_GIVEN_TEXT: Final = {"type": "string", "pattern": f"[^{_BLANK_CLASS[1:-1]}]"}
_PATTERN_SPECIALS: Final = frozenset("\\^$.|?*+()[]{}/")


def _literal(text: str) -> str:
    """`text` as a regular expression that matches it alone, in the syntax JSON Schema's
    patterns (ECMA 262) and Python's `re` share."""
    return "".join(f"\\{c}" if c in _PATTERN_SPECIALS else c for c in text)


def _trimmed_text(pattern: str) -> dict[str, Any]:
    """Text that, its BLANKS trimmed, matches `pattern` whole."""
    return {"type": "string", "pattern": f"^{_BLANK_CLASS}*(?:{pattern}){_BLANK_CLASS}*$"}


def _numbers_spelled(categories: Sequence[str]) -> list[int | float]:
    """The JSON numbers whose text (`shared.values.value_text`) is one of `categories`."""
    numbers: list[int | float] = []
    for category in categories:
        if re.fullmatch(r"-?(?:0|[1-9][0-9]*)", category) and abs(int(category)) < EXACT_INTEGERS:
            numbers.append(int(category))
            continue
        try:
            number = float(category)
        except ValueError:
            continue
        finite = math.isfinite(number) and abs(number) < EXACT_INTEGERS
        if finite and value_text(number) == category:
            numbers.append(number)
    return numbers


def column_schema(column: ColumnContract) -> dict[str, Any] | bool:
    """The JSON Schema of one column's value in an instance (see `instance_schema`)."""
    if column.kind == "string" and column.role != "id":  # free text: any value
        if column.nullable:
            return True
        return {"not": {"anyOf": [{"type": "null"}, _BLANK_TEXT]}}
    options = _given(column)
    if column.nullable:
        options.append({"type": "null"})
        if column.kind not in NUMBER_KINDS and column.kind != "boolean":
            options.append(_BLANK_TEXT)  # blank text is missing where text is read
    return options[0] if len(options) == 1 else {"anyOf": options}


def _given(column: ColumnContract) -> list[dict[str, Any]]:
    """The schemas of a value given (not missing) that the column accepts."""
    if column.kind in NUMBER_KINDS:
        low, high = feature_bounds(column.role, column.kind, column.min, column.max)
        number: dict[str, Any] = {"type": "number"}
        if low is not None:
            number["minimum"] = low
        if high is not None:
            number["maximum"] = high
        if column.kind == "integer":
            number["multipleOf"] = 1
        return [number]
    if column.kind == "boolean":
        return [{"type": "boolean"}, {"enum": [0, 1]}]
    if column.kind == "timestamp":
        return [_trimmed_text(TIMESTAMP_PATTERN)]
    if column.kind == "categorical" and column.strict_categories:
        categories = column.categories or ()
        given = [_trimmed_text("|".join(_literal(c) for c in categories))]
        numbers = _numbers_spelled(categories)
        return [*given, {"enum": numbers}] if numbers else given
    return [_GIVEN_TEXT, {"type": "number"}]  # an id, or a lenient category
