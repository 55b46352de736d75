"""One row through a small XGBoost ensemble by bit masks: each input's value picks one mask, the
masks are ANDed, and what survives is each tree's leaf.

    bits = LeafBits.of(trees)     # None when the ensemble is too large for its masks
    bits.margin(values)           # float32 values as Python floats, NaN = missing -> the margin

Why: a one-row request is the common one. The array form (`CompiledTrees.margin_one`) makes a
dozen NumPy calls per row, each costing several µs on a server, where the request's other work
has pushed NumPy's code out of the CPU's caches. A walk of each tree in Python costs its depth in
comparisons per tree, and its code is large. Here a row costs one look-up and one AND of
integers per input, then three NumPy calls, whatever the number of trees; and its data stays
small (one mask per input per row).

How (the idea of QuickScorer, Lucchese et al., SIGIR 2015, with masks for both directions):
- every tree's leaves are numbered left to right, each a bit of one Python integer;
- a split that sends the row right rules out the leaves of its left subtree, and one that sends
  it left those of its right subtree. For each input, which of its splits go right depends only
  on where the value falls among their conditions: so for each place (and for a missing value,
  and for each category of a categorical input) the ANDed masks of all its splits are computed
  once, when the version loads;
- a row ANDs one mask per input. A leaf survives when every split of its tree agrees with the
  path to it, so exactly one leaf per tree survives: the one XGBoost reaches;
- the integer's bytes are read as lanes of 16 (or 32) bits: a byte of leaf bits, above it the
  lane's number. A table indexed by the lane's value gives the leaf value of the surviving bit,
  or -0.0 for a lane whose leaves were all ruled out (x + -0.0 is x, to the bit). The margin is
  the base margin then each tree's leaf, summed in float32 in tree order (XGBoost's own
  arithmetic) by one `np.add.accumulate`, as the arrays sum them.

It decides exactly as the arrays do (see `shared.serving.compiled_trees`): a numeric split goes
right when value >= condition, a missing value (NaN) to its default child; a categorical split
goes right when the value's category is in its set: the value truncated to an integer when it is
at least 0 and below the first value beyond every category, none (left) when it is not, its
default child when it is missing.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from shared.serving.compiled_trees import CompiledTrees

# Building the masks costs up to about 10 µs a node when a version loads (90 ms at this limit on
# this project's x86 machine); beyond it one row goes through the arrays, so a large model does
# not cost seconds at a cold start.
MAX_BITS_NODES: Final = 8_000
# The masks' size: one integer of every leaf bit per place among each input's splits (within the
# node limit, at most about 6 MB). A guard: beyond it, one row goes through the arrays.
MAX_MASK_BYTES: Final = 16 << 20
_LANE_LEAVES: Final = 8  # the leaf bits of a lane: one byte
# The lowest set bit of each byte (a lane holds one surviving leaf; 8: none).
_LOWEST_BIT: Final = np.array(
    [((b & -b).bit_length() - 1) if b else _LANE_LEAVES for b in range(256)], dtype=np.intp
)

Margin = Callable[[Sequence[float]], float]


class LeafBits:
    """The masks of an ensemble; holds no state between calls, so safe to share between
    threads."""

    def __init__(self, margin: Margin, *, mask_bytes: int, lane_bits: int) -> None:
        self._margin = margin
        self.mask_bytes = mask_bytes  # what the masks hold, all inputs together
        self.lane_bits = lane_bits  # 16, or 32 beyond 256 lanes

    @classmethod
    def of(cls, trees: CompiledTrees) -> LeafBits | None:
        """The masks of these trees, or None when they are too large for them."""
        if trees.n_nodes > MAX_BITS_NODES:
            return None
        layout = _Layout(trees)
        if layout.mask_bytes > MAX_MASK_BYTES:
            return None
        return cls(
            layout.margin_function(), mask_bytes=layout.mask_bytes, lane_bits=layout.lane_bits
        )

    def margin(self, values: Sequence[float]) -> float:
        """The margin of one row of float32 values (one per feature, NaN for missing)."""
        return self._margin(values)

    @property
    def margin_function(self) -> Margin:
        """`margin` itself, for a caller that saves the method call (once per request)."""
        return self._margin


class _Layout:
    """Where each leaf's bit is, and each input's masks, from the compiled trees' arrays."""

    def __init__(self, trees: CompiledTrees) -> None:
        self.features = trees.n_features
        self.left = trees.left.tolist()
        roots = trees.roots.tolist()
        leaf_value = trees.leaf_value.tolist()
        # Lane 0 holds the base margin (the first root, a leaf), a bit no split rules out.
        self.leaf_bit: dict[int, int] = {roots[0]: 0}
        lanes = 1
        for root in roots[1:]:
            leaves = self._leaves_left_to_right(root)
            for number, leaf in enumerate(leaves):
                self.leaf_bit[leaf] = lanes * _LANE_LEAVES + number
            lanes += -(-len(leaves) // _LANE_LEAVES)
        self.lanes = lanes
        self.lane_bits = 16 if lanes <= 1 << 8 else 32
        self.lane_dtype = np.dtype("<u2") if self.lane_bits == 16 else np.dtype("<u4")
        # The leaf value of each bit (-0.0 where no leaf is), then of each lane's value.
        by_bit = np.full(lanes * _LANE_LEAVES + 1, -0.0, dtype=np.float32)
        for leaf, bit in self.leaf_bit.items():
            by_bit[bit] = leaf_value[leaf]
        lane_of_value = np.arange(lanes, dtype=np.intp)[:, None]
        bit_of_value = np.minimum(
            lane_of_value * _LANE_LEAVES + _LOWEST_BIT[None, :], lanes * _LANE_LEAVES
        )
        bit_of_value[:, 0] = lanes * _LANE_LEAVES  # no leaf left in the lane: -0.0
        self.table: npt.NDArray[np.float32] = by_bit[bit_of_value].reshape(-1)
        self.table.setflags(write=False)
        # Every leaf bit, and each lane's number above its byte: what a row starts from.
        self.every = self._bits(self.leaf_bit.values())
        for lane in range(lanes):
            self.every |= lane << (lane * self.lane_bits + _LANE_LEAVES)
        self._masks(trees)

    def _leaves_left_to_right(self, root: int) -> list[int]:
        left, leaves, stack = self.left, [], [root]
        while stack:
            node = stack.pop()
            if left[node] == node:
                leaves.append(node)
            else:
                stack += [left[node] + 1, left[node]]  # the left child first off the stack
        return leaves

    def _bits(self, bits: Iterable[int]) -> int:
        """The integer of these leaf bits, placed in their lanes."""
        value = 0
        width = self.lane_bits
        for bit in bits:
            lane, number = divmod(bit, _LANE_LEAVES)
            value |= 1 << (lane * width + number)
        return value

    def _subtree_bits(self, node: int) -> int:
        return self._bits(self.leaf_bit[leaf] for leaf in self._leaves_left_to_right(node))

    def _masks(self, trees: CompiledTrees) -> None:
        features, left, every = self.features, self.left, self.every
        slot, threshold = trees.slot.tolist(), trees.threshold.tolist()
        categorical = trees.categorical_splits()
        # Per split: what going right keeps (its left subtree ruled out) and going left.
        numeric: dict[int, list[tuple[float, bool, int, int]]] = {}
        by_category: dict[int, list[tuple[frozenset[int], int, int]]] = {}
        for node in range(1, len(left)):
            if left[node] == node:
                continue
            rules_out_left = self._subtree_bits(left[node])
            rules_out_right = self._subtree_bits(left[node] + 1)
            if_right, if_left = every & ~rules_out_left, every & ~rules_out_right
            kind = slot[node]
            if kind < 2 * features:
                missing_right = kind >= features
                numeric.setdefault(kind % features, []).append(
                    (threshold[node], missing_right, if_right, if_left)
                )
            else:
                feature, right = categorical[kind - 2 * features - 1]
                by_category.setdefault(feature, []).append((right, if_right, if_left))
        self.numeric = [
            (feature, *_numeric_masks(numeric[feature], every)) for feature in sorted(numeric)
        ]
        beyond = trees.category_beyond
        self.categorical = [
            (feature, _category_masks(by_category[feature], every, beyond))
            for feature in sorted(by_category)
        ]
        self.beyond = beyond
        count = sum(len(m) for _, _, m in self.numeric) + sum(len(m) for _, m in self.categorical)
        self.mask_bytes = count * (self.lanes * self.lane_bits // 8)

    def margin_function(self) -> Margin:
        every = self.every
        numeric = tuple((conditions, masks) for _, conditions, masks in self.numeric)
        numeric_values = _getter([feature for feature, _, _ in self.numeric])
        categorical = tuple(masks for _, masks in self.categorical)
        categorical_values = _getter([feature for feature, _ in self.categorical])
        beyond = float(self.beyond)
        size = self.lanes * self.lane_bits // 8
        take: Callable[[Any], npt.NDArray[np.float32]] = self.table.take
        lane_dtype = self.lane_dtype
        frombuffer, accumulate = np.frombuffer, np.add.accumulate

        def margin(values: Sequence[float], bisect: Callable[..., int] = bisect_right) -> float:
            kept = every
            for (conditions, masks), value in zip(numeric, numeric_values(values), strict=True):
                # The count of conditions at or below the value: the splits that go right. NaN
                # compares false, so bisect counts them all, and (value != value) moves it one
                # place on, to the mask of each split's default. (NaN is the one value unequal
                # to itself: cheaper than a call to math.isnan, once per input.)
                kept &= masks[bisect(conditions, value) + (value != value)]  # noqa: PLR0124
            for masks, value in zip(categorical, categorical_values(values), strict=True):
                if 0.0 <= value < beyond:
                    kept &= masks[int(value) + 2]  # the category's
                else:  # no category (1: every split left), or missing (0: each one's default)
                    kept &= masks[1 if value == value else 0]  # noqa: PLR0124
            lanes = frombuffer(kept.to_bytes(size, "little"), lane_dtype)
            total: float = accumulate(take(lanes)).item(-1)
            return total

        return margin


def _numeric_masks(
    splits: list[tuple[float, bool, int, int]], every: int
) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """An input's split conditions in order, and a mask per place among them: place k when k
    conditions are at or below the value (those splits go right, the others left), then one
    for a missing value (each split to its default)."""
    conditions = tuple(sorted({condition for condition, _, _, _ in splits}))
    place = {condition: k for k, condition in enumerate(conditions)}
    # Splits at place k go right from mask k + 1 on: the ANDs of what going right keeps from
    # the start, and of what going left keeps from the end, meet at each place.
    right_so_far, left_from_here = [every], [every] * (len(conditions) + 1)
    goes_right_at: list[int] = [every] * len(conditions)
    goes_left_at: list[int] = [every] * len(conditions)
    for condition, _, if_right, if_left in splits:
        goes_right_at[place[condition]] &= if_right
        goes_left_at[place[condition]] &= if_left
    for k in range(len(conditions)):
        right_so_far.append(right_so_far[-1] & goes_right_at[k])
    for k in range(len(conditions) - 1, -1, -1):
        left_from_here[k] = left_from_here[k + 1] & goes_left_at[k]
    masks = [right_so_far[k] & left_from_here[k] for k in range(len(conditions) + 1)]
    missing = every
    for _, missing_right, if_right, if_left in splits:
        missing &= if_right if missing_right else if_left
    return conditions, (*masks, missing)


def _category_masks(
    splits: list[tuple[frozenset[int], int, int]], every: int, beyond: int
) -> tuple[int, ...]:
    """An input's masks by category: missing (-2, in a split's set when its default is right),
    none (-1: every split left), then each category from 0."""
    masks = []
    for category in range(-2, beyond):
        mask = every
        for right, if_right, if_left in splits:
            mask &= if_right if category in right else if_left
        masks.append(mask)
    return tuple(masks)


def _getter(positions: list[int]) -> Callable[[Sequence[float]], Sequence[float]]:
    """The values at these positions, as a sequence (itemgetter gives a bare value for one)."""
    if not positions:
        return lambda values: ()
    if len(positions) == 1:
        only = positions[0]
        return lambda values: (values[only],)
    return itemgetter(*positions)
