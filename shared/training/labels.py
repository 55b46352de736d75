"""The target column as 0/1: 1 for the positive label, 0 for the other one."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from shared.errors import DataError, UsageError
from shared.model import Label

IntArray = npt.NDArray[np.int8]


def binary_target(frame: pd.DataFrame, target: str, positive_label: Label) -> IntArray:
    """1 where the target equals `positive_label`, else 0; refuses missing or 3+ distinct labels."""
    if target not in frame.columns:
        raise DataError(f"target column {target!r} is missing")
    labels = frame[target]
    missing = int(labels.isna().sum())
    if missing:
        raise DataError(f"target column {target!r} has {missing} missing value(s)")
    distinct = labels.unique()
    if len(distinct) > 2:
        shown = ", ".join(repr(_plain(value)) for value in distinct[:5])
        raise DataError(
            f"target column {target!r} holds {len(distinct)} distinct labels ({shown}...); "
            "binary classification needs two"
        )
    return np.asarray(labels.to_numpy() == positive_label, dtype=np.int8)


def negative_label(frame: pd.DataFrame, target: str, positive_label: Label) -> Label:
    """The label that is not `positive_label`; both must occur."""
    distinct = [_plain(value) for value in frame[target].unique()]
    others = [value for value in distinct if value != positive_label]
    if len(others) != 1 or len(distinct) != 2:
        found = ", ".join(map(repr, distinct))
        raise DataError(
            f"target column {target!r} must hold the positive label {positive_label!r} and one "
            f"other label; found: {found}"
        )
    return others[0]


def as_zero_one(y: npt.ArrayLike) -> IntArray:
    """Labels given as 0/1 or booleans, as int8; anything else is a caller's mistake."""
    values = np.asarray(y)
    if values.size and not np.isin(values, (0, 1)).all():
        raise UsageError("labels must be 0/1 or booleans (1 = the positive label)")
    return values.astype(np.int8)


def require_both_classes(y: npt.NDArray[np.integer], what: str) -> None:
    positives = int(y.sum())
    if positives == 0 or positives == len(y):
        raise DataError(
            f"{what} has {positives} positive and {len(y) - positives} negative row(s); "
            "both classes are needed"
        )


def _plain(value: object) -> Label:
    """A numpy scalar as the Python value, so that labels pickle and serialise plainly."""
    plain = value.item() if isinstance(value, np.generic) else value
    if not isinstance(plain, bool | int | float | str):
        raise DataError(f"label {value!r} is not a bool, number or string")
    return plain
