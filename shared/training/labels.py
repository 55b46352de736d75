"""The target column as 0/1: 1 for the positive label, 0 for the other one.

Labels are compared as `shared.values.label_text` spells them, as the labels loader and the
monitoring check compare them: a CSV's "1", a Parquet 1.0 and a JSON true are the same label.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from shared.errors import DataError, UsageError
from shared.model import Label
from shared.values import label_text

IntArray = npt.NDArray[np.int8]


def label_texts(frame: pd.DataFrame, target: str) -> npt.NDArray[np.object_]:
    """The target column's labels as text ("" where missing)."""
    if target not in frame.columns:
        raise DataError(f"target column {target!r} is missing")
    codes, uniques = pd.factorize(frame[target], use_na_sentinel=True)
    # One label_text per distinct value: a target holds few labels and many rows.
    texts = np.array([*(label_text(value) for value in uniques), ""], dtype=object)
    spelled: npt.NDArray[np.object_] = texts[codes]
    return spelled


def binary_target(frame: pd.DataFrame, target: str, positive_label: Label) -> IntArray:
    """1 where the target is `positive_label`, else 0; refuses missing or 3+ distinct labels."""
    texts = label_texts(frame, target)
    missing = int((texts == "").sum())
    if missing:
        raise DataError(f"target column {target!r} has {missing} missing value(s)")
    distinct = pd.unique(texts)
    if len(distinct) > 2:
        shown = ", ".join(repr(value) for value in distinct[:5])
        raise DataError(
            f"target column {target!r} holds {len(distinct)} distinct labels ({shown}...); "
            "binary classification needs two"
        )
    return np.asarray(texts == label_text(positive_label), dtype=np.int8)


def negative_label(frame: pd.DataFrame, target: str, positive_label: Label) -> str:
    """The label that is not `positive_label`, as text; both must occur."""
    distinct = [str(value) for value in pd.unique(label_texts(frame, target))]
    positive = label_text(positive_label)
    others = [value for value in distinct if value != positive]
    if len(others) != 1 or len(distinct) != 2:
        found = ", ".join(map(repr, distinct))
        raise DataError(
            f"target column {target!r} must hold the positive label {positive!r} and one "
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
