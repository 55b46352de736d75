"""An XGBoost tree ensemble compiled to flat NumPy arrays, to score a few rows without XGBoost's
per-call cost (`Booster.inplace_predict` spends ~150-200 µs on one row, most of it setting up the
call; these arrays score it in a few tens of µs).

    trees = CompiledTrees.of(booster)      # NotCompilable if the model is not one it reproduces
    trees.predict(matrix)                  # float32 scores, what inplace_predict returns
    trees.margin(matrix)                   # the untransformed margin
    trees.predict_one(row)                 # one row of numbers -> its score, with fewest calls
                                           # (by bit masks when small: `leaf_bits`)

The compiler reads the model XGBoost saves as JSON (`Booster.save_raw("json")`, the schema of
XGBoost's doc/model.schema) and reproduces its prediction exactly, as XGBoost's CPU predictor
walks a tree:

- a numeric split sends the row left when float32(value) < split_condition (float32), and a
  missing value (NaN) to its default child;
- a categorical split sends the row RIGHT when the value, truncated to an integer, is one of the
  node's categories; left when it is not, when it is negative, infinite or beyond every category;
  a missing value goes to the default child;
- the margin is base_score (as a margin) plus each tree's leaf, added in float32 in tree order;
  binary:logistic and reg:logistic then take the float32 sigmoid, 1 / (1 + expf(-margin)), with
  the C library's expf as XGBoost does; binary:logitraw returns the margin.

Every tree is scored at once. A row is first extended: its values with NaN as -inf (read by
the splits whose missing values go left), again with NaN as +inf (read by the others), one NaN
(read by every leaf), and each categorical split's decision as 1 or 0 (a look-up in a table of
the split's categories). Each node then only compares one value of the extended row with its
threshold and goes to its left child plus the outcome, as XGBoost does; a leaf compares NaN, so
it stays where it is. One row compares every node at once, then follows the outcomes for as many
steps as the deepest tree has levels; several rows go level by level, comparing only the nodes
on their paths.

Gradient boosted trees with one output are compiled: gbtree (any num_parallel_tree) with the
objectives above. Anything else (gblinear, dart, multi-class or multi-target models, vector
leaves, a non-finite split condition, categories beyond `MAX_CATEGORY`) raises `NotCompilable`,
and the caller scores with XGBoost itself. `of` also scores probe rows (values at and around
every split condition, every category, missing and infinite values) both ways and refuses a
model they disagree on (margins to the bit, scores within `PROBE_TOLERANCE`), so an XGBoost
whose semantics moved is caught when the model loads.
"""

from __future__ import annotations

import ctypes
import json
import math
import struct
from array import array as _array
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from shared.serving.leaf_bits import LeafBits

Float32Array = npt.NDArray[np.float32]
IndexArray = npt.NDArray[np.intp]

# The objectives whose prediction is reproduced, and the transform of the margin each applies.
_TRANSFORMS: Final = {
    "binary:logistic": "sigmoid",
    "reg:logistic": "sigmoid",
    "binary:logitraw": "identity",
}
# A categorical split's table has a column per category up to the largest one a split uses:
# larger categories are refused rather than given a table of that width.
MAX_CATEGORY: Final = 1 << 16
# What `of` lets the compiled scores differ from XGBoost's by on its probe rows.
PROBE_TOLERANCE: Final = 1e-6
# Rows scored together: the decisions of a block are rows x nodes, kept small enough to stay in
# the CPU's cache.
BLOCK_ROWS: Final = 64
_F32_ONE: Final = np.float32(1.0)
_BASE_SCORE_EPS: Final = np.float32(1e-6)
# Constants as 0-d arrays: NumPy takes them with the least overhead per call.
_MINUS_ONE: Final = np.array(-1.0, dtype=np.float32)
_MINUS_INF: Final = np.array(-np.inf, dtype=np.float32)
_PLUS_INF: Final = np.array(np.inf, dtype=np.float32)
_NAN: Final = np.array([np.nan], dtype=np.float32)
# XGBoost's float sigmoid clamps the exponent so expf cannot overflow.
_SIGMOID_CLAMP: Final = float(np.float32(88.7))


class NotCompilable(ValueError):
    """The model uses something the compiler does not reproduce exactly; score it with XGBoost."""


class CompiledTrees:
    """A compiled ensemble; immutable once built, so safe to share between threads."""

    def __init__(self, model: Mapping[str, Any], *, bits: bool = True) -> None:
        """`bits`: also build the trees' bit masks for one row (`leaf_bits`), when they are
        small enough; without them, one row goes through the arrays."""
        learner = _field(model, "learner")
        params = _field(learner, "learner_model_param")
        objective = str(_field(_field(learner, "objective"), "name"))
        if objective not in _TRANSFORMS:
            raise NotCompilable(f"objective {objective} is not compiled")
        if int(params.get("num_class", "0")) > 1 or int(params.get("num_target", "1")) != 1:
            raise NotCompilable("models with more than one output are not compiled")
        booster = _field(learner, "gradient_booster")
        if booster.get("name") != "gbtree":
            raise NotCompilable(f"booster {booster.get('name')} is not compiled (only gbtree)")
        trees = _field(_field(booster, "model"), "trees")
        if not trees:
            raise NotCompilable("the model has no trees")
        self.objective = objective
        self.transform = _TRANSFORMS[objective]
        self.n_features = int(params["num_feature"])
        self.base_margin = _base_margin(_base_score(params["base_score"]), self.transform)
        self._compile(trees)
        self.bits = LeafBits.of(self) if bits else None
        self._bits_margin = self.bits.margin_function if self.bits is not None else None

    @classmethod
    def of(cls, booster: Any) -> CompiledTrees:
        """The compiled form of an `xgboost.Booster`, checked against it on probe rows."""
        trees = cls(json.loads(bytes(booster.save_raw("json"))))
        probes = trees.probe_rows()
        # The margins to the bit, by the arrays and row by row (the bit masks, when there are):
        # the same sums of the same float32 leaves. (The scores may differ by an ulp where the
        # C library's expf is not at hand.)
        margins = np.asarray(booster.inplace_predict(probes, predict_type="margin"), np.float32)
        one_margins = np.array([trees.margin_one(row) for row in probes.tolist()], np.float32)
        for got in (trees.margin(probes), one_margins):
            if not _same_bits(got, margins):
                raise NotCompilable(
                    "the compiled trees' margins differ from XGBoost's on probe rows"
                )
        expected = np.asarray(booster.inplace_predict(probes), dtype=np.float32)
        # Each row alone too: the path of one-row requests (the bit masks, when there are).
        one_by_one = np.array([trees.predict_one(row) for row in probes.tolist()], np.float32)
        for got, wanted in (
            (trees.predict(probes), expected),
            (trees.predict(probes[:1]), expected[:1]),
            (one_by_one, expected),
        ):
            if got.shape != wanted.shape or not np.allclose(
                got, wanted, rtol=0, atol=PROBE_TOLERANCE
            ):
                raise NotCompilable("the compiled trees disagree with XGBoost on probe rows")
        return trees

    def probe_rows(self, count: int = 64) -> Float32Array:
        """Rows whose values are drawn, feature by feature, from the split conditions it is
        compared with and the float32 values either side, the categories its splits list and
        the values around them, 0, NaN and the infinities."""
        features = self.n_features
        numeric = self.slot < 2 * features
        candidates: list[list[float]] = [
            [0.0, math.nan, math.inf, -math.inf] for _ in range(features)
        ]
        for slot, condition in zip(
            self.slot[numeric].tolist(), self.threshold[numeric].tolist(), strict=True
        ):
            at = np.float32(condition)
            candidates[slot % features] += [
                condition,
                float(np.nextafter(at, _MINUS_INF)),
                float(np.nextafter(at, _PLUS_INF)),
            ]
        beyond = int(self._cat_beyond)  # every category, and the first value beyond them
        for feature in self.cat_inputs.tolist():
            candidates[feature] += [-1.0, -0.5, 0.5, beyond + 0.5] + [
                float(c) for c in range(beyond + 1)
            ]
        rng = np.random.default_rng(0)
        rows = np.empty((count, features), dtype=np.float32)
        for feature, values in enumerate(candidates):
            # Every value when there are no more than rows, else as many as there are rows.
            column = np.asarray(values, dtype=np.float32)
            if len(column) <= count:
                rows[:, feature] = rng.permutation(np.resize(column, count))
            else:
                rows[:, feature] = rng.choice(column, size=count, replace=False)
        return rows

    @property
    def n_trees(self) -> int:
        return len(self.roots) - 1  # the first root is the base margin's leaf

    @property
    def n_nodes(self) -> int:
        return len(self.threshold) - 1

    @property
    def category_beyond(self) -> int:
        """The first value beyond every category a split lists (0 without categorical splits)."""
        return self._cat_beyond_int

    def categorical_splits(self) -> list[tuple[int, frozenset[int]]]:
        """Each categorical split, in the order of its table row (its slot less 2 x features
        less 1): the input it reads and the categories it sends right, with -2 among them when
        a missing value goes right."""
        columns = self._cat_beyond_int + 3
        table = self.cat_table.reshape(-1, columns)
        splits = []
        for row, input_index in enumerate(self.cat_input_of_node.tolist()):
            # Column c + 1 holds category c; the last one, the missing value's direction.
            right = set(np.flatnonzero(table[row, 1 : self._cat_beyond_int + 1]).tolist())
            if table[row, columns - 1]:
                right.add(-2)
            splits.append((int(self.cat_inputs[input_index]), frozenset(right)))
        return splits

    def predict(self, matrix: npt.ArrayLike) -> Float32Array:
        """What `inplace_predict` returns for these rows (n x n_features, NaN = missing)."""
        margin = self.margin(matrix)
        if self.transform == "identity":
            return margin
        exponential = np.array([_expf(-m) for m in margin.tolist()], dtype=np.float32)
        exponential += _F32_ONE
        return np.asarray(np.divide(_F32_ONE, exponential), dtype=np.float32)

    def predict_one(self, row: Sequence[float]) -> float:
        """`predict` of one row given as numbers (NaN = missing): the same float32 score, with
        the fewest NumPy calls (three with the bit masks, to read the leaves and sum them in
        float32: see `leaf_bits`)."""
        by_bits = self._bits_margin
        if by_bits is not None and len(row) == self.n_features:
            # `margin_one` with its calls unwound: this runs once per one-row request.
            margin = by_bits(_array("f", row).tolist())
        else:
            margin = self.margin_one(row)
        if self.transform == "identity":
            return margin
        return sigmoid32(margin)

    def margin_one(self, row: Sequence[float]) -> float:
        if len(row) != self.n_features:
            raise ValueError(f"expected a row of {self.n_features} features, got {len(row)}")
        values = _array("f", row).tolist()  # as XGBoost reads them (NumPy's cast, to the bit)
        if self.bits is not None:
            return self.bits.margin(values)
        return self._margin_one_by_arrays(values)

    def _margin_one_by_arrays(self, values: list[float]) -> float:
        # The extended row, as `_leaves_all_nodes` builds it, in Python.
        extended = [-math.inf if math.isnan(v) else v for v in values]
        extended += [math.inf if math.isnan(v) else v for v in values]
        extended.append(math.nan)
        beyond = self._cat_beyond_int
        for position, columns in self._cat_lists:
            value = values[position]
            if math.isnan(value):
                column = beyond + 2  # missing: each split's default
            elif value < 0.0 or value >= beyond:
                column = 0  # no category: every split sends it left
            else:
                column = int(value) + 1
            extended += columns[column]
        following = self.left + (
            np.array(extended, dtype=np.float32).take(self.slot) >= self.threshold
        )
        at = self.roots
        for _ in range(self.depth):
            at = following.take(at)
        # XGBoost adds each tree's leaf to the base margin (the first "leaf") in turn, in float32.
        return float(np.add.accumulate(self.leaf_value.take(at))[-1])

    def margin(self, matrix: npt.ArrayLike) -> Float32Array:
        rows = np.asarray(matrix, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[1] != self.n_features:
            raise ValueError(
                f"expected rows of {self.n_features} features, got an array of shape {rows.shape}"
            )
        count = rows.shape[0]
        if count == 1 and self._one_row_all_nodes:
            leaves = self._leaves_all_nodes(rows[0])[None, :]
        elif count <= BLOCK_ROWS:
            leaves = self._leaves_by_level(rows)
        else:
            blocks = range(0, count, BLOCK_ROWS)
            leaves = np.concatenate(
                [self._leaves_by_level(rows[i : i + BLOCK_ROWS]) for i in blocks]
            )
        # XGBoost adds each tree's leaf to the base margin (the first "leaf") in turn, in float32.
        return np.asarray(np.add.accumulate(leaves, axis=1)[:, -1])

    # --- scoring ------------------------------------------------------------------------------

    def _leaves_all_nodes(self, row: Float32Array) -> Float32Array:
        """One row: every split decided at once, then followed level by level."""
        parts = [np.fmax(row, _MINUS_INF), np.fmin(row, _PLUS_INF), _NAN]
        if self.cat_nodes.size:
            parts.append(self._categorical(row))
        extended = np.concatenate(parts, dtype=np.float32)
        following = self.left + (extended.take(self.slot) >= self.threshold)
        at = self.roots
        for _ in range(self.depth):
            at = following.take(at)
        return np.asarray(self.leaf_value.take(at))

    def _leaves_by_level(self, rows: Float32Array) -> Float32Array:
        """Rows together, level by level: only the splits on each row's paths are decided."""
        count = rows.shape[0]
        parts = [np.fmax(rows, _MINUS_INF), np.fmin(rows, _PLUS_INF), np.full((count, 1), np.nan)]
        if self.cat_nodes.size:
            parts.append(self._categorical(rows))
        extended = np.concatenate(parts, axis=1, dtype=np.float32)
        width = extended.shape[1]
        starts = np.arange(0, count * width, width, dtype=np.intp)[:, None]
        at = np.broadcast_to(self.roots, (count, len(self.roots)))
        for _ in range(self.depth):
            value = extended.take(self.slot.take(at) + starts)
            at = self.left.take(at) + (value >= self.threshold.take(at))
        return np.asarray(self.leaf_value.take(at))

    def _categorical(self, rows: Float32Array) -> npt.NDArray[np.bool_]:
        """Whether each categorical split sends each row (or the one row) right: a look-up in
        the split's table at the column of the row's category (see `_compile_categorical`)."""
        # floor, then -1 for negative values, largest + 1 beyond the categories, and (fmin
        # ignores NaN) largest + 2 for a missing value: the table's columns, less one.
        column = np.floor(rows.take(self.cat_inputs, axis=-1))
        column = np.fmin(
            np.minimum(np.maximum(column, _MINUS_ONE), self._cat_beyond), self._cat_missing
        )
        at = column.astype(np.intp).take(self.cat_input_of_node, axis=-1)
        at += self.cat_start
        return np.asarray(self.cat_table.take(at), dtype=np.bool_)

    # --- compiling ----------------------------------------------------------------------------

    def _compile(self, trees: Sequence[Mapping[str, Any]]) -> None:
        features = self.n_features
        sizes = [len(_field(tree, "left_children")) for tree in trees]
        # Node 0 is a leaf holding the base margin, the first term of every row's sum.
        starts = np.cumsum([0, 1, *sizes])
        total = int(starts[-1])
        self.roots: IndexArray = np.asarray(starts[:-1], dtype=np.intp)
        # Per node: where its value sits in the extended row (a leaf: at the NaN), the
        # threshold it goes right at or above, its left child (a leaf: itself; the right child
        # is the next node), its leaf value.
        self.slot: IndexArray = np.full(total, 2 * features, dtype=np.intp)
        self.threshold: Float32Array = np.zeros(total, dtype=np.float32)
        self.left: IndexArray = np.arange(total, dtype=np.intp)
        self.leaf_value: Float32Array = np.zeros(total, dtype=np.float32)
        self.leaf_value[0] = self.base_margin
        categorical: list[tuple[int, int, bool, list[int]]] = []
        depth = 0
        for tree, start in zip(trees, starts[1:-1].tolist(), strict=True):
            depth = max(depth, self._compile_tree(tree, start, categorical))
        self.depth = depth
        self._compile_categorical(categorical)
        for array in (self.roots, self.slot, self.threshold, self.left, self.leaf_value):
            array.setflags(write=False)
        # One row: deciding every split at once costs a pass over all nodes, level by level six
        # operations per level. Fitted on this project's x86 machine, µs: it is all nodes
        # unless the trees are both deep and full.
        all_nodes = 3.5 + 0.0012 * self.n_nodes + 0.3 * depth
        by_level = 2.0 + depth * (3.9 + 0.0065 * self.n_trees)
        self._one_row_all_nodes = all_nodes <= by_level

    def _compile_tree(
        self,
        tree: Mapping[str, Any],
        start: int,
        categorical: list[tuple[int, int, bool, list[int]]],
    ) -> int:
        """Fill the arrays from one tree whose nodes start at `start`; its depth."""
        param = tree.get("tree_param", {})
        if int(param.get("size_leaf_vector", "1") or "1") > 1:
            raise NotCompilable("trees with vector leaves are not compiled")
        left = [int(c) for c in _field(tree, "left_children")]
        right = [int(c) for c in _field(tree, "right_children")]
        feature = [int(f) for f in _field(tree, "split_indices")]
        condition = np.asarray(_field(tree, "split_conditions"), dtype=np.float32)
        default_left = [bool(d) for d in _field(tree, "default_left")]
        split_type = [int(t) for t in tree.get("split_type") or [0] * len(left)]
        sets = _category_sets(tree)
        size = len(left)
        if any(
            len(column) != size for column in (right, feature, condition, default_left, split_type)
        ):
            raise NotCompilable("a tree's node arrays differ in length")
        # Walk from the root: only the nodes reached are compiled, each once.
        depth, stack, seen = 0, [(0, 0)], set()
        while stack:
            node, level = stack.pop()
            if node in seen or not 0 <= node < size:
                raise NotCompilable("a tree's children do not form a tree")
            seen.add(node)
            at = start + node
            if left[node] == -1:
                self.leaf_value[at] = condition[node]
                depth = max(depth, level)
                continue
            if right[node] != left[node] + 1:
                # XGBoost's own predictor takes the right child to be the next node.
                raise NotCompilable("a split's right child is not the node after its left one")
            if not 0 <= feature[node] < self.n_features:
                raise NotCompilable(f"a split reads feature {feature[node]}, beyond the inputs")
            self.left[at] = start + left[node]
            if split_type[node] == 1:
                if node not in sets:
                    raise NotCompilable("a categorical split has no categories")
                categorical.append((at, feature[node], not default_left[node], sets[node]))
            elif split_type[node] == 0:
                if not math.isfinite(float(condition[node])):
                    raise NotCompilable("a split condition is not finite")
                self.threshold[at] = condition[node]
                self.slot[at] = feature[node] + (0 if default_left[node] else self.n_features)
            else:
                raise NotCompilable(f"unknown split type {split_type[node]}")
            stack += [(left[node], level + 1), (right[node], level + 1)]
        return depth

    def _compile_categorical(self, categorical: list[tuple[int, int, bool, list[int]]]) -> None:
        """One row of a table per categorical split: a column for negative values, one per
        category (True: right), one for values beyond them, one for a missing value (its
        default). The split then reads its decision from the extended row, at 0.5."""
        largest = max((max(cats, default=-1) for *_, cats in categorical), default=-1)
        if largest >= MAX_CATEGORY:
            raise NotCompilable(f"a categorical split uses category {largest}")
        columns = largest + 4
        table = np.zeros((len(categorical), columns), dtype=np.bool_)
        inputs = sorted({feature for _, feature, _, _ in categorical})
        categorical = sorted(categorical, key=lambda split: split[1])  # grouped by input
        for row, (at, _, default_right, cats) in enumerate(categorical):
            table[row, [c + 1 for c in cats]] = True
            table[row, columns - 1] = default_right
            self.slot[at] = 2 * self.n_features + 1 + row
            self.threshold[at] = 0.5
        self.cat_nodes: IndexArray = np.asarray([c[0] for c in categorical], dtype=np.intp)
        self.cat_inputs: IndexArray = np.asarray(inputs, dtype=np.intp)
        self.cat_input_of_node: IndexArray = np.asarray(
            [inputs.index(c[1]) for c in categorical], dtype=np.intp
        )
        # Column c + 1 holds category c: a split's column is its start + 1 + floor(value).
        self.cat_start: IndexArray = np.arange(1, table.size + 1, columns, dtype=np.intp)
        self.cat_table: npt.NDArray[np.bool_] = table.ravel()
        for array in (self.cat_inputs, self.cat_input_of_node, self.cat_start, self.cat_table):
            array.setflags(write=False)
        self._cat_beyond = np.array(largest + 1, dtype=np.float32)
        self._cat_missing = np.array(largest + 2, dtype=np.float32)
        self._cat_beyond_int = largest + 1
        # For one row, per input: its position and, per table column, the decisions (1.0 or
        # 0.0) of its splits, which come one input after another in the extended row.
        self._cat_lists: tuple[tuple[int, tuple[list[float], ...]], ...] = tuple(
            (
                feature,
                tuple(
                    table[[c[1] == feature for c in categorical], column].astype(float).tolist()
                    for column in range(columns)
                ),
            )
            for feature in inputs
        )


def _same_bits(a: Float32Array, b: Float32Array) -> bool:
    """The same float32 values to the bit: -0.0 is not 0.0 (as array_equal has it)."""
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def _libm_expf() -> Any:
    """The C library's expf (glibc's, on Linux), called with the GIL held, or None.

    Held, because a function of a `CDLL` releases the GIL for each call: in a worker serving
    requests on several threads, that hands the GIL to another thread in the middle of every
    request, and the switches back and forth cost more than the request's own work."""
    try:
        expf = ctypes.PyDLL("libm.so.6").expf
    except (OSError, AttributeError):
        return None
    expf.restype = ctypes.c_float
    expf.argtypes = [ctypes.c_float]
    return expf


def _load_expf() -> Callable[[float], float]:
    """expf(min(x, 88.7)) as XGBoost's float sigmoid computes it: with the C library's expf.
    Without it, exp in float64 rounded to float32, which differs from glibc's expf by one unit
    in the last place for about one value in 1,500 (a few 1e-9 on a probability)."""
    expf = _LIBM_EXPF
    if expf is None:
        return lambda x: float(np.float32(math.exp(min(x, _SIGMOID_CLAMP))))
    return lambda x: float(expf(min(x, _SIGMOID_CLAMP)))


_LIBM_EXPF: Final = _libm_expf()
_expf: Final = _load_expf()
_FLOAT32: Final = struct.Struct("f")


def _sigmoid32_function() -> Callable[[float], float]:
    _pack, _unpack, clamp = _FLOAT32.pack, _FLOAT32.unpack, _SIGMOID_CLAMP
    expf = _LIBM_EXPF if _LIBM_EXPF is not None else _expf

    def sigmoid32(margin: float) -> float:
        """XGBoost's float32 sigmoid of one margin, 1 / (1 + expf(-margin)), without NumPy
        scalars (each costs µs on a server): a float32 sum or quotient computed in double,
        then rounded to float32 (`struct`'s "f", C's cast), is the float32 result, since a
        double holds more than 2 x 24 + 2 bits. Written out, without helper calls: it runs
        once per one-row request."""
        x = -margin
        exponential: float = expf(clamp if x > clamp else x)  # NaN stays NaN, as in min()
        denominator: float = _unpack(_pack(exponential + 1.0))[0]
        score: float = _unpack(_pack(1.0 / denominator))[0]
        return score

    return sigmoid32


sigmoid32: Final = _sigmoid32_function()


def _field(document: Mapping[str, Any], name: str) -> Any:
    try:
        return document[name]
    except (KeyError, TypeError) as exc:
        raise NotCompilable(f"the model JSON has no {name!r}") from exc


def _category_sets(tree: Mapping[str, Any]) -> dict[int, list[int]]:
    """Each categorical split's categories (those sent right), by node."""
    categories = [int(c) for c in tree.get("categories", [])]
    nodes = tree.get("categories_nodes", [])
    segments = tree.get("categories_segments", [])
    sizes = tree.get("categories_sizes", [])
    sets = {}
    if not len(nodes) == len(segments) == len(sizes):
        raise NotCompilable("a tree's categorical split arrays differ in length")
    for node, begin, size in zip(nodes, segments, sizes, strict=True):
        chosen = categories[int(begin) : int(begin) + int(size)]
        if any(c < 0 for c in chosen):
            raise NotCompilable("a categorical split lists a negative category")
        sets[int(node)] = chosen
    return sets


def _base_score(text: Any) -> float:
    """base_score as XGBoost saves it: "5E-1", or "[5E-1]" since 3.0 (one value per output)."""
    values = str(text).strip().strip("[]").split(",")
    if len(values) != 1:
        raise NotCompilable("a base_score per output is not compiled")
    return float(values[0])


def _base_margin(base_score: float, transform: str) -> np.float32:
    """The margin every row starts from, as XGBoost computes it in float32 (ProbToMargin)."""
    score = np.float32(base_score)
    if transform == "identity":
        return score
    if not 0.0 < score < 1.0:
        raise NotCompilable(f"base_score {base_score} is not a probability")
    # XGBoost takes the logit of the base score kept within [1e-6, 1 - 1e-6], in float32. (A
    # version that does otherwise is caught by the probe check of `of`, and scores alone.)
    score = min(max(score, _BASE_SCORE_EPS), _F32_ONE - _BASE_SCORE_EPS)
    odds = _F32_ONE / score - _F32_ONE
    return np.float32(-np.log(np.float64(odds)))
