"""Performance estimated before the labels arrive: confidence-based performance estimation
(CBPE, as nannyml names it) for binary and multiclass classifiers, and the sampling error of any
metric.

CBPE reads a calibrated score p as the chance that the row is positive. A period's rows then
have an expected confusion matrix at the model's threshold t (a flagged row, p >= t, is a true
positive with chance p and a false positive with chance 1 - p; an unflagged one a false negative
with chance p and a true negative with chance 1 - p), and every metric has an expected value:

    roc_auc, pr_auc   the curves of expected true and false positives over the sorted scores:
                      the metric of the scores with each row counted p positive and 1 - p
                      negative (nannyml's `estimate_roc_auc`, ties grouped as for the realized)
    log_loss, brier   the expected loss of each row: -p log p - (1-p) log(1-p); p (1 - p)
    precision, recall, f1, expected_cost   from the expected confusion matrix

Multiclass, as nannyml estimates it: each class against the rest, the class's probability p_c
read as the chance that the row is of class c, and "flagged" meaning predicted as c (the most
probable class). Per class, the expected true positives, false positives and false negatives
give its precision, recall and F1; macro F1 is their mean over the classes, weighted F1 their
mean weighted by each class's expected count (the sum of its probabilities); accuracy is the
mean probability of the predicted class; log loss the mean entropy of the probabilities.

It holds while the scores stay calibrated and the link between the inputs and the label does
not change (covariate shift only); training calibrates binary scores when that helps (see
`shared.training.calibration`); a multiclass model's probabilities are used as it gives them:
recalibrating each class's probability on the test split (isotonic, as nannyml does) moved the
estimates of nannyml's multiclass data by 0.002-0.006 and held in no more weeks, with a
logistic regression or with XGBoost. No label is read.

Uncertainty: the sampling error of a metric on n rows is estimated as nannyml estimates it for
average precision — from the reference, the model's test split at training (m labelled rows):
the standard deviation of the metric over `SAMPLING_ROUNDS` bootstrap resamples of those rows,
scaled by sqrt(m / n). A period's estimate is stated as value ± 3 sampling errors, nannyml's
band. The same error bounds the realized value's own noise, which is why a realized value
outside the band says the estimate's assumptions broke (or the model did).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from shared.model import FloatArray
from shared.training.metrics import RankedScores, pr_auc_from_groups, roc_auc_from_groups
from shared.training.spec import Cost

SAMPLING_ROUNDS: Final = 100
BAND: Final = 3.0  # sampling errors either side of an estimate: its stated uncertainty
_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Estimate:
    value: float
    sampling_error: float | None  # None: the reference holds no sampling error for the metric

    @property
    def low(self) -> float | None:
        return None if self.sampling_error is None else self.value - BAND * self.sampling_error

    @property
    def high(self) -> float | None:
        return None if self.sampling_error is None else self.value + BAND * self.sampling_error

    def holds(self, realized: float) -> bool:
        """Whether `realized` lies within the stated uncertainty of the estimate."""
        if self.sampling_error is None:
            return False
        return abs(realized - self.value) <= BAND * self.sampling_error

    def record(self) -> dict[str, float | None]:
        return {
            "value": round(self.value, 6),
            "sampling_error": None
            if self.sampling_error is None
            else round(self.sampling_error, 6),
        }


def binary_estimates(scores: FloatArray, threshold: float, cost: Cost | None) -> dict[str, float]:
    """The expected value of each binary metric on rows with these calibrated scores."""
    p = np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
    if not len(p):
        return {}
    ranked = RankedScores.of(np.zeros(len(p), dtype=np.int8), p)
    # The rows' groups of equal scores, highest first, each weighing p positive, 1 - p negative.
    groups = ranked.keys // 2
    positive = np.bincount(groups, weights=p, minlength=ranked.groups).astype(np.float64)
    negative = np.bincount(groups, weights=1 - p, minlength=ranked.groups).astype(np.float64)
    clipped = np.clip(p, _EPS, 1 - _EPS)
    flagged = p >= threshold
    true_positive = float(p[flagged].sum())
    false_positive = float((1 - p[flagged]).sum())
    false_negative = float(p[~flagged].sum())
    true_negative = float((1 - p[~flagged]).sum())
    precision = _ratio(true_positive, true_positive + false_positive)
    recall = _ratio(true_positive, true_positive + false_negative)
    estimates = {
        "roc_auc": roc_auc_from_groups(positive, negative),
        "pr_auc": pr_auc_from_groups(positive, negative),
        "log_loss": float(np.mean(-(p * np.log(clipped) + (1 - p) * np.log1p(-clipped)))),
        "brier": float(np.mean(p * (1 - p))),
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
    }
    if cost is not None:
        total = (
            cost.true_positive * true_positive
            + cost.false_positive * false_positive
            + cost.false_negative * false_negative
            + cost.true_negative * true_negative
        )
        estimates["expected_cost"] = total / len(p)
    return {name: value for name, value in estimates.items() if math.isfinite(value)}


def multiclass_estimates(probabilities: FloatArray, classes: Sequence[str]) -> dict[str, float]:
    """The expected value of each multiclass metric (named as `shared.training.task_metrics`
    names them, `recall[<class>]` for each of `classes`) on rows with these probabilities."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 0.0, 1.0)
    rows = len(p)
    if not rows:
        return {}
    predicted = np.argmax(p, axis=1)
    flagged = predicted[:, None] == np.arange(p.shape[1])[None, :]
    true_positive = np.where(flagged, p, 0.0).sum(axis=0)
    false_positive = np.where(flagged, 1 - p, 0.0).sum(axis=0)
    false_negative = np.where(flagged, 0.0, p).sum(axis=0)
    support = p.sum(axis=0)
    f1 = _ratios(2 * true_positive, 2 * true_positive + false_positive + false_negative)
    recall = _ratios(true_positive, true_positive + false_negative)
    clipped = np.clip(p, _EPS, 1.0)
    estimates = {
        "log_loss": float(np.mean(-(p * np.log(clipped)).sum(axis=1))),
        "macro_f1": float(f1.mean()),
        "weighted_f1": float((f1 * support).sum() / support.sum()) if support.sum() else 0.0,
        "accuracy": float(np.mean(p[np.arange(rows), predicted])),
    }
    for position, name in enumerate(classes):
        estimates[f"recall[{name}]"] = float(recall[position])
    return {name: value for name, value in estimates.items() if math.isfinite(value)}


def _ratios(numerators: FloatArray, denominators: FloatArray) -> FloatArray:
    return np.divide(
        numerators, denominators, out=np.zeros_like(numerators), where=denominators > 0
    )


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else 0.0


def sampling_reference(
    y: npt.NDArray[Any],
    scores: FloatArray,
    realized: Callable[[npt.NDArray[Any], FloatArray], Mapping[str, float]],
    *,
    seed: int,
    rounds: int = SAMPLING_ROUNDS,
) -> dict[str, Any]:
    """The reference of the sampling error: the standard deviation of each metric that
    `realized(y, scores)` measures over `rounds` bootstrap resamples of the labelled rows."""
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {}
    for _ in range(rounds):
        rows = rng.integers(0, len(y), len(y))
        for name, value in realized(y[rows], scores[rows]).items():
            if math.isfinite(value):
                values.setdefault(name, []).append(float(value))
    return {
        "rows": len(y),
        "rounds": rounds,
        "std": {name: round(float(np.std(found)), 8) for name, found in values.items()},
    }


def sampling_error(reference: Mapping[str, Any] | None, metric: str, rows: int) -> float | None:
    """The sampling error of `metric` on `rows` rows: the reference's bootstrap standard
    deviation scaled by sqrt(reference rows / rows); None when the reference has none."""
    if not reference or rows <= 0:
        return None
    std = reference.get("std", {}).get(metric)
    size = reference.get("rows")
    if std is None or not size:
        return None
    return float(std) * math.sqrt(float(size) / rows)
