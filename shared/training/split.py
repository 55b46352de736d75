"""Train / validation / test split: stratified on the label (a regression target: drawn at
random), or by time when a time column is set.

Both are deterministic: the stratified split draws from a generator seeded with the spec's seed,
the time split only sorts (stably, so equal times keep their input order). Each split's row
positions come back sorted ascending.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from shared.errors import DataError
from shared.tasks import definition
from shared.training.labels import require_both_classes

Positions = npt.NDArray[np.intp]


@dataclass(frozen=True)
class SplitPositions:
    """Row positions (for `DataFrame.iloc`) of each split."""

    train: Positions
    validation: Positions
    test: Positions

    def counts(self) -> dict[str, int]:
        return {
            "train": len(self.train),
            "validation": len(self.validation),
            "test": len(self.test),
        }


def split_rows(
    frame: pd.DataFrame,
    y: npt.NDArray[np.generic],
    *,
    seed: int,
    test_fraction: float,
    validation_fraction: float,
    time_column: str | None = None,
    task: str = "binary_classification",
) -> SplitPositions:
    """`y`: 0/1 (binary), the class index (multiclass) or the value (regression)."""
    output = definition(task).output
    if time_column is not None:
        order = np.argsort(_sortable_times(frame, time_column), kind="stable")
        split = _cut(order, test_fraction, validation_fraction)
    elif output == "value":
        split = _cut(np.random.default_rng(seed).permutation(len(y)), test_fraction,
                     validation_fraction)  # fmt: skip
    else:
        split = _stratified(y, seed, test_fraction, validation_fraction)
    parts = (
        ("the training split", split.train),
        ("the validation split", split.validation),
        ("the test split", split.test),
    )
    if output == "probability":
        for name, positions in parts:
            require_both_classes(y[positions].astype(np.int8), name)
    elif output == "probabilities":
        _require_classes(y, split)
    else:
        for name, positions in parts:
            if len(positions) < 2:
                raise DataError(f"{name} has {len(positions)} row(s); at least 2 are needed")
    return split


def _require_classes(y: npt.NDArray[np.generic], split: SplitPositions) -> None:
    """Every class in the training split (a model learns only the classes it sees), and two or
    more in the validation and test splits (or no metric compares models)."""
    classes = np.unique(y)
    missing = np.setdiff1d(classes, np.unique(y[split.train]))
    if len(missing):
        raise DataError(
            f"the training split has no row of {len(missing)} of the {len(classes)} classes; "
            "each class needs rows in it (more rows, or a split not by time)"
        )
    for name, positions in (("validation", split.validation), ("test", split.test)):
        if len(np.unique(y[positions])) < 2:
            raise DataError(f"the {name} split holds fewer than two classes")


def _cut(ordered: Positions, test_fraction: float, validation_fraction: float) -> SplitPositions:
    """The first rows of `ordered` train, the next validate, the last test."""
    n_test = round(len(ordered) * test_fraction)
    n_validation = round(len(ordered) * validation_fraction)
    n_train = len(ordered) - n_test - n_validation
    return SplitPositions(
        train=np.sort(ordered[:n_train]),
        validation=np.sort(ordered[n_train : n_train + n_validation]),
        test=np.sort(ordered[n_train + n_validation :]),
    )


def _stratified(
    y: npt.NDArray[np.generic], seed: int, test_fraction: float, validation_fraction: float
) -> SplitPositions:
    rng = np.random.default_rng(seed)
    # Binary: 0 then 1, as always (np.unique sorts): the same seed splits as it did.
    parts = [
        _cut(rng.permutation(np.flatnonzero(y == label)), test_fraction, validation_fraction)
        for label in np.unique(y)
    ]
    return SplitPositions(
        train=np.sort(np.concatenate([part.train for part in parts])),
        validation=np.sort(np.concatenate([part.validation for part in parts])),
        test=np.sort(np.concatenate([part.test for part in parts])),
    )


def _sortable_times(
    frame: pd.DataFrame, time_column: str
) -> npt.NDArray[np.int64] | npt.NDArray[np.float64]:
    if time_column not in frame.columns:
        raise DataError(f"time column {time_column!r} is missing")
    column = frame[time_column]
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column):
        values: npt.NDArray[np.int64] | npt.NDArray[np.float64] = column.to_numpy(np.float64)
        missing = int(np.isnan(values).sum())
    else:
        try:
            stamps = pd.to_datetime(column, utc=True)
        except (TypeError, ValueError) as exc:
            raise DataError(f"time column {time_column!r} cannot be read as times: {exc}") from exc
        missing = int(stamps.isna().sum())
        # Only the order matters, and the integer view of datetime64 keeps it at any unit.
        values = stamps.dt.tz_convert(None).to_numpy().astype(np.int64)
    if missing:
        raise DataError(f"time column {time_column!r} has {missing} missing value(s)")
    return values
