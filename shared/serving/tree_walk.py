"""One row through a small XGBoost ensemble in plain Python: the compiled trees written out as
nested `if` statements, compiled to a function once, when the model loads.

    walk = TreeWalk.of(trees)     # None when the ensemble is too large to be walked this way
    walk.margin(values)           # float32 values as Python floats, NaN = missing -> the margin

Why: a one-row request is the common one. The array form (`CompiledTrees.margin_one`) makes a
dozen NumPy calls per row, and on a server each costs several µs, because the request's other
work has pushed NumPy's code out of the CPU's caches between requests. The walk makes two: a
tree costs its depth in comparisons, and the leaves are summed at the end.

It decides exactly as the arrays do (see `shared.serving.compiled_trees`):
- a numeric split goes right when value >= condition; a missing value (NaN) compares false both
  ways, so the comparison is written `>=` when the default child is the left one and `<` (with
  the branches swapped) when it is the right one;
- a categorical split goes right when the value's category is in the split's set. The category
  of a value is computed once per input: the value truncated to an integer when it is at least 0
  and below the first value beyond every category, -1 when it is not (no category: left), -2 when
  it is missing, which is in the set when the split's default is right;
- each tree's leaf is kept in a local of its own, and the margin is the base margin plus each
  leaf in tree order, summed in float32 (XGBoost's own arithmetic) by one `np.add.accumulate`,
  as the arrays sum them. The leaves reach NumPy as float32 bytes packed by `struct` (C's
  cast, as NumPy's) and read in place by `np.frombuffer`: half the time of `np.array` of a
  tuple, which converts element by element through NumPy's machinery for any sequence.

The source is made only of integers and the `repr` of finite numbers read from the arrays (split
conditions and leaf values, float32 values that a Python float holds exactly).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final

import numpy as np

if TYPE_CHECKING:
    from shared.serving.compiled_trees import CompiledTrees

# An ensemble is walked when its trees x (levels + 2) stays within this: a walk costs about
# 20 ns per level of each tree and 40 ns per tree on this project's x86 machine, so the limit
# keeps a walk near 100 µs, where the arrays' fixed cost stops being the larger part.
WALK_WORK_LIMIT: Final = 4_000
# Python's tokenizer refuses more than 100 levels of indentation.
MAX_WALK_DEPTH: Final = 64
# The source holds every node: writing and compiling it costs about 16 µs and 50 bytes of
# source a node, paid by each worker when it loads a version. Beyond this many nodes (~130 ms),
# one row goes through the arrays: a large model must not cost seconds and GB at a cold start.
MAX_WALK_NODES: Final = 8_000
_INDENT: Final = "    "


class TreeWalk:
    """A compiled walk; holds no state between calls, so safe to share between threads."""

    def __init__(self, margin: Callable[[Sequence[float]], float], source: str) -> None:
        self._margin = margin
        self.source = source

    @classmethod
    def of(cls, trees: CompiledTrees) -> TreeWalk | None:
        """The walk of these trees, or None when they are too large or too deep for one."""
        if (
            trees.depth > MAX_WALK_DEPTH
            or trees.n_nodes > MAX_WALK_NODES
            or trees.n_trees * (trees.depth + 2) > WALK_WORK_LIMIT
        ):
            return None
        if not all(math.isfinite(value) for value in trees.leaf_value.tolist()):
            return None
        source = _Writer(trees).source()
        namespace: dict[str, object] = {
            "_accumulate": np.add.accumulate,
            "_frombuffer": np.frombuffer,
            "_float32": np.float32,
            # The leaves, each a float32 value (so packed exactly), the base margin first.
            "_pack": struct.Struct(f"{trees.n_trees + 1}f").pack,
        }
        exec(compile(source, "<cloudscore tree walk>", "exec"), namespace)
        margin = namespace["margin"]
        assert callable(margin)
        return cls(margin, source)

    def margin(self, values: Sequence[float]) -> float:
        """The margin of one row of float32 values (one per feature, NaN for missing)."""
        return self._margin(values)

    @property
    def margin_function(self) -> Callable[[Sequence[float]], float]:
        """`margin` itself, for a caller that saves the method call (once per request)."""
        return self._margin


class _Writer:
    """Writes the source of `margin(row)` from the compiled trees' arrays."""

    def __init__(self, trees: CompiledTrees) -> None:
        self.features = trees.n_features
        self.slot = trees.slot.tolist()
        self.threshold = trees.threshold.tolist()
        self.leaf_value = trees.leaf_value.tolist()
        self.left = trees.left.tolist()
        self.roots = trees.roots.tolist()
        self.beyond = trees.category_beyond
        # Per categorical split (by its row of the table, which its slot points to): its input
        # and the categories it sends right, with -2 (missing) when its default is right.
        self.categorical = trees.categorical_splits()
        self.lines: list[str] = []

    def source(self) -> str:
        inputs = ", ".join(f"v{i}" for i in range(self.features))
        head = [
            "def margin(row, add=_accumulate, frombuffer=_frombuffer, float32=_float32, "
            "pack=_pack):",
            f"{_INDENT}{inputs}, = row",
        ]
        for feature in sorted({feature for feature, _ in self.categorical}):
            value = f"v{feature}"
            head.append(
                f"{_INDENT}k{feature} = int({value}) if 0.0 <= {value} < {self.beyond}.0 "
                f"else (-1 if {value} == {value} else -2)"
            )
        # The first root is the base margin's leaf, a constant.
        terms = [repr(self.leaf_value[self.roots[0]])]
        for tree, root in enumerate(self.roots[1:], start=1):
            self._node(root, 1, f"t{tree}")
            terms.append(f"t{tree}")
        total = f"add(frombuffer(pack({', '.join(terms)}), float32)).item(-1)"
        return "\n".join([*head, *self.lines, f"{_INDENT}return {total}", ""])

    def _node(self, at: int, level: int, leaf: str) -> None:
        pad = _INDENT * level
        left = self.left[at]
        if left == at:  # a leaf
            self.lines.append(f"{pad}{leaf} = {self.leaf_value[at]!r}")
            return
        slot, features = self.slot[at], self.features
        if slot < features:  # numeric, missing goes left: right when value >= condition
            self.lines.append(f"{pad}if v{slot} >= {self.threshold[at]!r}:")
            first, second = left + 1, left
        elif slot < 2 * features:  # numeric, missing goes right: left when value < condition
            self.lines.append(f"{pad}if v{slot - features} < {self.threshold[at]!r}:")
            first, second = left, left + 1
        else:
            feature, right = self.categorical[slot - 2 * features - 1]
            chosen = ", ".join(str(c) for c in sorted(right))
            # A set display of constants compiles to a frozenset: one hash look-up.
            members = f"{{{chosen}}}" if chosen else "()"
            self.lines.append(f"{pad}if k{feature} in {members}:")
            first, second = left + 1, left
        self._node(first, level + 1, leaf)
        self.lines.append(f"{pad}else:")
        self._node(second, level + 1, leaf)
