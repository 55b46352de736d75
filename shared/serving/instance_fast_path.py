"""The common instance accepted by code written for one model version's contract.

    fast_row = FastPath.of(columns, width).row
    fast_row(instance)    # a dict's row of model inputs, or None: `InstanceChecker` decides

`InstanceChecker.check` goes through a table of columns for every value; for one row that costs
more than scoring it. This writes the same decisions out as straight-line code, one block per
column, with the column's name, bounds and kind as constants, compiled once when the version
loads. It accepts only what the checker accepts as it is,
and gives the same row for it:

- numeric: a float or an int (not a bool) within the column's bounds;
  integer: an int within them;
  categorical: text that is one of the categories exactly (no blanks around it);
  boolean: true or false;
- null, for a column that is nullable: a missing value (every reader reads it so);
- every other kind goes through its reader, as in the checker, and is accepted when the reader
  finds no problem;
- a field that is absent is accepted when the column is not required (its inputs stay missing).

Anything else (a value a reader must convert, a refusal, a missing required field) returns None,
and the checker then goes through the instance value by value, which words each problem. A test
holds the two to the same rows.

The source holds only the columns' names as `repr` of text and their bounds as `repr` of finite
numbers; everything else (readers, category codes) is passed in the namespace.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

NUMBER: Final = "number"
INTEGER: Final = "integer"
CATEGORY: Final = "category"
BOOLEAN: Final = "boolean"
_INDENT: Final = "    "

Reader = Callable[[Any, Any], tuple[Any, Any]]
FastRow = Callable[[Mapping[str, Any]], "list[float] | None"]


@dataclass(frozen=True)
class ColumnPlan:
    """How the checker reads one column: its fast acceptance (one of the kinds above, or None),
    its bounds and exact category texts, its reader, and the model inputs it fills (position,
    and the codes of its categories for a categorical input)."""

    name: str
    fast: str | None
    low: float
    high: float
    known: frozenset[str]
    required: bool
    nullable: bool
    reader: Reader
    column: Any
    targets: tuple[tuple[int, Mapping[str, float] | None], ...]


class FastPath:
    def __init__(self, row: FastRow, source: str) -> None:
        self.row = row
        self.source = source

    @classmethod
    def of(cls, columns: Sequence[ColumnPlan], width: int) -> FastPath:
        writer = _Writer(columns, width)
        source = writer.source()
        namespace: dict[str, Any] = dict(writer.namespace)
        exec(compile(source, "<cloudscore instance fast path>", "exec"), namespace)
        return cls(namespace["row"], source)


class _Writer:
    def __init__(self, columns: Sequence[ColumnPlan], width: int) -> None:
        self.columns = columns
        self.width = width
        self.namespace: dict[str, Any] = {"_ABSENT": _ABSENT, "nan": math.nan, "_float": float}
        self.lines: list[str] = []
        self.inputs: dict[int, str] = {}  # model input position -> the local holding it

    def source(self) -> str:
        for index, plan in enumerate(self.columns):
            self._column(index, plan)
        inputs = ", ".join(self.inputs.get(p, "nan") for p in range(self.width))
        return "\n".join(
            [
                "def row(instance):",
                f"{_INDENT}get = instance.get",
                *self.lines,
                f"{_INDENT}return [{inputs}]",
                "",
            ]
        )

    def _column(self, index: int, plan: ColumnPlan) -> None:
        add = self.lines.append
        value = f"x{index}"  # the accepted value, None when missing
        add(f"{_INDENT}raw = get({plan.name!r}, _ABSENT)")
        # Bounds are written into the source for numbers only, where they must be finite.
        fast = plan.fast
        if fast in (NUMBER, INTEGER) and not (_finite(plan.low) and _finite(plan.high)):
            fast = None
        self._fast_acceptance(index, plan, fast, value)
        if fast is not None and plan.nullable:
            # null in a nullable column is a missing value, as every reader reads it: common in
            # real requests, and without this line it sends the whole instance to the loop.
            add(f"{_INDENT}elif raw is None: {value} = None")
        # Missing (None) when an absent field is accepted, a null is, or a reader says so.
        may_miss = not plan.required or plan.nullable
        if not plan.required:
            add(f"{_INDENT}{'if' if fast is None else 'elif'} raw is _ABSENT: {value} = None")
        elif fast is None:
            add(f"{_INDENT}if raw is _ABSENT: return None")
        if fast is None:
            self.namespace[f"read{index}"] = plan.reader
            self.namespace[f"column{index}"] = plan.column
            add(f"{_INDENT}else:")
            add(f"{_INDENT * 2}{value}, reason = read{index}(raw, column{index})")
            add(f"{_INDENT * 2}if reason is not None: return None")
            if not plan.nullable:
                add(f"{_INDENT * 2}if {value} is None: return None")
        else:
            add(f"{_INDENT}else: return None")
        for position, codes in plan.targets:
            if codes is None:
                # Numbers are floats already; a reader's value is made one, as the checker does.
                made = value if fast in (NUMBER, INTEGER, BOOLEAN) else f"_float({value})"
            else:
                self.namespace[f"codes{position}"] = codes
                made = f"codes{position}.get({value}, nan)"
            local = f"i{position}"
            add(
                f"{_INDENT}{local} = "
                + (f"nan if {value} is None else {made}" if may_miss else made)
            )
            self.inputs[position] = local

    def _fast_acceptance(self, index: int, plan: ColumnPlan, fast: str | None, value: str) -> None:
        add = self.lines.append
        bounds = f"{plan.low!r} <= raw <= {plan.high!r}"
        if fast == NUMBER:
            add(f"{_INDENT}if type(raw) is float and {bounds}: {value} = raw")
            add(f"{_INDENT}elif type(raw) is int and {bounds}: {value} = _float(raw)")
        elif fast == INTEGER:
            add(f"{_INDENT}if type(raw) is int and {bounds}: {value} = _float(raw)")
        elif fast == CATEGORY:
            self.namespace[f"known{index}"] = plan.known
            add(f"{_INDENT}if type(raw) is str and raw in known{index}: {value} = raw")
        elif fast == BOOLEAN:
            add(f"{_INDENT}if raw is True: {value} = 1.0")
            add(f"{_INDENT}elif raw is False: {value} = 0.0")


def _finite(bound: float) -> bool:
    # An int bound is exact in the source however large (math.isfinite would overflow on it).
    return isinstance(bound, int) or math.isfinite(bound)


class _Absent:
    """A field the instance does not have (None is a value: JSON null)."""


_ABSENT: Final = _Absent()
