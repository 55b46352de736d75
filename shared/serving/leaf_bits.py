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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from shared.serving.compiled_trees import CompiledTrees

# Building the masks costs up to about 4 µs a node when a version loads (30 ms at this limit on
# this project's x86 machine); beyond it one row goes through the arrays, so a large model does
# not cost seconds at a cold start.
MAX_BITS_NODES: Final = 8_000
# What the masks and the lanes' table hold (within the node limit, at most about 6 MB without
# categorical splits). Counted before anything is built: beyond it, one row goes through the
# arrays.
MAX_MASK_BYTES: Final = 16 << 20
# A categorical input's masks cost one AND per split for each category its splits list: beyond
# this many in all (inputs of thousands of categories split many times), the arrays.
MAX_CATEGORY_STEPS: Final = 200_000
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
        self.mask_bytes = mask_bytes  # what the masks and the lanes' table hold
        self.lane_bits = lane_bits  # 16, or 32 beyond 256 lanes

    @classmethod
    def of(cls, trees: CompiledTrees) -> LeafBits | None:
        """The masks of these trees, or None when they are too large for them."""
        if trees.n_nodes > MAX_BITS_NODES:
            return None
        layout = _Layout(trees)
        if layout.mask_bytes > MAX_MASK_BYTES or layout.category_steps > MAX_CATEGORY_STEPS:
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


@dataclass(frozen=True, slots=True)
class _Split:
    """A split as the masks need it: the leaves each direction rules out (those of the other
    child), as bits of its tree's own lanes, and where those lanes start in the whole integer."""

    condition: float  # numeric: goes right at or above it
    default_right: bool  # numeric: where a missing value goes
    right: frozenset[int]  # categorical: the categories it sends right (-2: missing)
    offset: int
    out_if_right: int  # going right rules out the left subtree's leaves
    out_if_left: int


class _Layout:
    """Where each leaf's bit is and what each split rules out, read from the compiled trees'
    arrays; the masks' size is known before they are built."""

    def __init__(self, trees: CompiledTrees) -> None:
        features = trees.n_features
        self.left = trees.left.tolist()
        self.leaf_value = trees.leaf_value.tolist()
        roots = trees.roots.tolist()
        # Each tree's leaves from left to right, and its first lane. Lane 0 holds the base
        # margin (the first root, a leaf), a bit no split rules out.
        leaves_of = [self._leaves_left_to_right(root) for root in roots[1:]]
        first_lane = [1]
        for leaves in leaves_of:
            first_lane.append(first_lane[-1] + -(-len(leaves) // _LANE_LEAVES))
        self.lanes = first_lane[-1]
        self.lane_bits = 16 if self.lanes <= 1 << 8 else 32
        self.leaf_bit: dict[int, int] = {roots[0]: 0}  # leaf -> its bit, lanes of 8 bits
        for lane, leaves in zip(first_lane, leaves_of, strict=False):
            for number, leaf in enumerate(leaves):
                self.leaf_bit[leaf] = lane * _LANE_LEAVES + number
        slot, threshold = trees.slot.tolist(), trees.threshold.tolist()
        categorical = trees.categorical_splits()
        self.numeric: dict[int, list[_Split]] = {}
        self.categorical: dict[int, list[_Split]] = {}
        for root, lane in zip(roots[1:], first_lane, strict=False):
            for node, out_if_right, out_if_left in self._rules(root, lane):
                kind = slot[node]
                offset = lane * self.lane_bits
                if kind < 2 * features:
                    split = _Split(
                        threshold[node], kind >= features, frozenset(), offset,
                        out_if_right, out_if_left,
                    )  # fmt: skip
                    self.numeric.setdefault(kind % features, []).append(split)
                else:
                    feature, right = categorical[kind - 2 * features - 1]
                    split = _Split(0.0, False, right, offset, out_if_right, out_if_left)
                    self.categorical.setdefault(feature, []).append(split)
        self.beyond = trees.category_beyond
        # Counted: a mask per place among a numeric input's conditions (and one for missing), a
        # mask per category a categorical input's splits list (and one they share, the rest
        # pointing to it), and the table of 256 values per lane.
        places = sum(len({s.condition for s in splits}) + 2 for splits in self.numeric.values())
        listed = {f: _listed(splits) for f, splits in self.categorical.items()}
        distinct = places + sum(len(categories) + 1 for categories in listed.values())
        self.category_steps = sum(
            len(listed[f]) * len(splits) for f, splits in self.categorical.items()
        )
        self.mask_bytes = (
            distinct * self.lanes * self.lane_bits // 8
            + len(self.categorical) * (self.beyond + 2) * 8
            + self.lanes * 256 * 4
        )
        self.every = sum(1 << self._place(bit) for bit in self.leaf_bit.values())
        for lane in range(self.lanes):
            self.every |= lane << (lane * self.lane_bits + _LANE_LEAVES)

    def _place(self, bit: int) -> int:
        """A leaf's bit (lanes of 8) in the integer of lanes of `lane_bits`."""
        lane, number = divmod(bit, _LANE_LEAVES)
        return lane * self.lane_bits + number

    def _leaves_left_to_right(self, root: int) -> list[int]:
        left, leaves, stack = self.left, [], [root]
        while stack:
            node = stack.pop()
            if left[node] == node:
                leaves.append(node)
            else:
                stack += [left[node] + 1, left[node]]  # the left child first off the stack
        return leaves

    def _rules(self, root: int, lane: int) -> list[tuple[int, int, int]]:
        """Each split of the tree: (node, the leaves going right rules out, going left), as bits
        from the tree's first lane. Subtrees' bits are built bottom up, once each."""
        left, origin = self.left, lane * self.lane_bits
        below: dict[int, int] = {}
        rules = []
        stack = [(root, False)]
        while stack:
            node, children_done = stack.pop()
            if left[node] == node:
                below[node] = 1 << (self._place(self.leaf_bit[node]) - origin)
            elif children_done:
                out_left, out_right = below.pop(left[node]), below.pop(left[node] + 1)
                below[node] = out_left | out_right
                rules.append((node, out_left, out_right))
            else:
                stack += [(node, True), (left[node] + 1, False), (left[node], False)]
        return rules

    def margin_function(self) -> Margin:
        every = self.every
        numeric = [(f, *_numeric_masks(self.numeric[f], every)) for f in sorted(self.numeric)]
        categorical = [
            (f, _category_masks(self.categorical[f], every, self.beyond))
            for f in sorted(self.categorical)
        ]
        conditions_and_masks = tuple((conditions, masks) for _, conditions, masks in numeric)
        numeric_values = _getter([feature for feature, _, _ in numeric])
        category_masks = tuple(masks for _, masks in categorical)
        categorical_values = _getter([feature for feature, _ in categorical])
        beyond = float(self.beyond)
        size = self.lanes * self.lane_bits // 8
        take: Callable[[Any], npt.NDArray[np.float32]] = self._table().take
        lane_dtype = np.dtype("<u2") if self.lane_bits == 16 else np.dtype("<u4")
        frombuffer, accumulate = np.frombuffer, np.add.accumulate

        def margin(values: Sequence[float], bisect: Callable[..., int] = bisect_right) -> float:
            kept = every
            for (conditions, masks), value in zip(
                conditions_and_masks, numeric_values(values), strict=True
            ):
                # The count of conditions at or below the value: the splits that go right. NaN
                # compares false, so bisect counts them all, and (value != value) moves it one
                # place on, to the mask of each split's default. (NaN is the one value unequal
                # to itself: cheaper than a call to math.isnan, once per input.)
                kept &= masks[bisect(conditions, value) + (value != value)]  # noqa: PLR0124
            for masks, value in zip(category_masks, categorical_values(values), strict=True):
                if 0.0 <= value < beyond:
                    kept &= masks[int(value) + 2]  # the category's
                else:  # no category (1: every split left), or missing (0: each one's default)
                    kept &= masks[1 if value == value else 0]  # noqa: PLR0124
            lanes = frombuffer(kept.to_bytes(size, "little"), lane_dtype)
            total: float = accumulate(take(lanes)).item(-1)
            return total

        return margin

    def _table(self) -> npt.NDArray[np.float32]:
        """The leaf value of each lane's value: lane number x 256 + its byte of leaf bits, whose
        one set bit is the surviving leaf; -0.0 for a byte of none."""
        by_bit = np.full(self.lanes * _LANE_LEAVES + 1, -0.0, dtype=np.float32)
        for leaf, bit in self.leaf_bit.items():
            by_bit[bit] = self.leaf_value[leaf]
        lane = np.arange(self.lanes, dtype=np.intp)[:, None]
        bit_of_value = lane * _LANE_LEAVES + _LOWEST_BIT[None, :]
        bit_of_value[:, 0] = self.lanes * _LANE_LEAVES  # a byte of no leaf: the last, -0.0
        table: npt.NDArray[np.float32] = by_bit[bit_of_value].reshape(-1)
        table.setflags(write=False)
        return table


def _out(split: _Split, goes_right: bool) -> int:
    """The leaves the split rules out, placed in the whole integer."""
    return (split.out_if_right if goes_right else split.out_if_left) << split.offset


def _numeric_masks(splits: list[_Split], every: int) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """An input's split conditions in order, and a mask per place among them: place k when k
    conditions are at or below the value (those splits go right, the others left), then one
    for a missing value (each split to its default)."""
    conditions = tuple(sorted({split.condition for split in splits}))
    at: list[list[_Split]] = [[] for _ in conditions]
    place = {condition: k for k, condition in enumerate(conditions)}
    for split in splits:
        at[place[split.condition]].append(split)
    # What going left rules out, from each place to the end; then, walking up the places, what
    # going right rules out below it.
    left_out = [0] * (len(conditions) + 1)
    for k in range(len(conditions) - 1, -1, -1):
        left_out[k] = left_out[k + 1]
        for split in at[k]:
            left_out[k] |= _out(split, goes_right=False)
    masks, right_out = [], 0
    for k in range(len(conditions) + 1):
        masks.append(every & ~(right_out | left_out[k]))
        if k < len(conditions):
            for split in at[k]:
                right_out |= _out(split, goes_right=True)
    missing_out = 0
    for split in splits:
        missing_out |= _out(split, goes_right=split.default_right)
    return conditions, (*masks, every & ~missing_out)


def _listed(splits: list[_Split]) -> list[int]:
    """The categories (and -2, missing, when a default is right) some split sends right."""
    return sorted(set().union(*(split.right for split in splits)))


def _category_masks(splits: list[_Split], every: int, beyond: int) -> tuple[int, ...]:
    """An input's masks by category: missing (-2), none (-1), then each category from 0. Every
    split sends a category it does not list left: the categories no split lists share one mask."""
    all_left = 0
    for split in splits:
        all_left |= _out(split, goes_right=False)
    unlisted = every & ~all_left
    masks = [unlisted] * (beyond + 2)
    for category in _listed(splits):
        out = 0
        for split in splits:
            out |= _out(split, goes_right=category in split.right)
        masks[category + 2] = every & ~out
    return tuple(masks)


def _getter(positions: list[int]) -> Callable[[Sequence[float]], Sequence[float]]:
    """The values at these positions, as a sequence (itemgetter gives a bare value for one)."""
    if not positions:
        return lambda values: ()
    if len(positions) == 1:
        only = positions[0]
        return lambda values: (values[only],)
    return itemgetter(*positions)
