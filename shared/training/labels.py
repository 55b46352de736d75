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


# A class label is a category the model predicts one probability for: beyond this many, a
# target is more likely an id or a number than a class.
MAX_CLASSES = 100


def class_target(frame: pd.DataFrame, target: str) -> tuple[IntArray, tuple[str, ...]]:
    """Each row's class index, and the classes (as labels are spelled) in index order: numbers
    by value, then text in order; refuses missing labels and fewer than 3 or more than
    MAX_CLASSES distinct ones."""
    texts = label_texts(frame, target)
    missing = int((texts == "").sum())
    if missing:
        raise DataError(f"target column {target!r} has {missing} missing value(s)")
    classes = tuple(sorted((str(v) for v in pd.unique(texts)), key=_class_order))
    if len(classes) < 3:
        raise DataError(
            f"target column {target!r} holds {len(classes)} distinct label(s) "
            f"({', '.join(map(repr, classes))}); multiclass classification needs 3 or more "
            '(two labels: task = "binary_classification")'
        )
    if len(classes) > MAX_CLASSES:
        shown = ", ".join(map(repr, classes[:5]))
        raise DataError(
            f"target column {target!r} holds {len(classes)} distinct labels ({shown}, …); "
            f"multiclass classification takes at most {MAX_CLASSES}: is it an id or a number?"
        )
    index = pd.Index(classes).get_indexer(pd.Index(texts))
    return np.asarray(index, dtype=np.int8), classes


def _class_order(text: str) -> tuple[int, float, str]:
    try:
        return 0, float(text), text
    except ValueError:
        return 1, 0.0, text


def value_target(frame: pd.DataFrame, target: str) -> npt.NDArray[np.float64]:
    """The target as float64; refuses missing and non-numeric values, naming the first."""
    if target not in frame.columns:
        raise DataError(f"target column {target!r} is missing")
    column = frame[target]
    numbers = pd.to_numeric(column, errors="coerce")
    bad = numbers.isna() | ~np.isfinite(numbers.to_numpy(dtype=np.float64, na_value=np.nan))
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"target column {target!r} has {int(bad.sum())} value(s) that are not finite "
            f"numbers, first {column.iloc[first]!r} at data row {first + 1}; regression "
            "needs a number in every row"
        )
    return np.asarray(numbers.to_numpy(dtype=np.float64))
