"""Binary classification metrics in numpy, each with optional row weights. Which way each
improves, and which ones rank, is `shared.metric_table`'s.

Ranking metrics are computed from per-score-group class totals (`RankedScores`), which a
bootstrap round recounts over the rows it drew without sorting again. Unweighted, the values
equal scikit-learn's ``roc_auc_score``,
``average_precision_score``, ``log_loss`` and ``brier_score_loss`` (tests pin that).
Ranking metrics group tied scores the way scikit-learn does: a tie counts half in ROC AUC and
forms one threshold in PR AUC.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from shared.errors import UsageError
from shared.model import FloatArray
from shared.training.spec import Cost
from shared.training.threshold import minimum_expected_cost

_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class RankedScores:
    """Labelled scores grouped by distinct score, highest first: sorted once, counted often."""

    # 2 * (the row's score group) + its 0/1 label: one count per (group, class) cell
    keys: npt.NDArray[np.intp]
    groups: int

    @classmethod
    def of(cls, y: npt.NDArray[np.integer], scores: FloatArray) -> RankedScores:
        distinct, inverse = np.unique(-scores, return_inverse=True)
        keys = 2 * inverse.astype(np.intp) + np.asarray(y, dtype=np.intp)
        return cls(keys=keys, groups=len(distinct))

    def class_totals(
        self, weights: FloatArray | None = None, rows: npt.NDArray[np.intp] | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """Weight of the positive and of the negative rows in each group, over all rows (or the
        rows drawn, repeats counting again)."""
        keys = self.keys if rows is None else self.keys[rows]
        cells = np.bincount(keys, weights=weights, minlength=2 * self.groups).reshape(-1, 2)
        return cells[:, 1].astype(np.float64), cells[:, 0].astype(np.float64)


def roc_auc_from_groups(positive: FloatArray, negative: FloatArray) -> float:
    negatives_below = negative.sum() - np.cumsum(negative)
    pairs = positive.sum() * negative.sum()
    if pairs == 0:
        return float("nan")
    return float((positive * (negatives_below + 0.5 * negative)).sum() / pairs)


def pr_auc_from_groups(positive: FloatArray, negative: FloatArray) -> float:
    true_positive, false_positive = np.cumsum(positive), np.cumsum(negative)
    total = positive.sum()
    if total == 0:
        return float("nan")
    flagged = true_positive + false_positive
    precision = np.divide(true_positive, flagged, out=np.zeros_like(flagged), where=flagged > 0)
    return float((positive * precision).sum() / total)


def roc_auc(
    y: npt.NDArray[np.integer], scores: FloatArray, weights: FloatArray | None = None
) -> float:
    return roc_auc_from_groups(*RankedScores.of(y, scores).class_totals(weights))


def pr_auc(
    y: npt.NDArray[np.integer], scores: FloatArray, weights: FloatArray | None = None
) -> float:
    return pr_auc_from_groups(*RankedScores.of(y, scores).class_totals(weights))


def row_log_loss(y: npt.NDArray[np.integer], scores: FloatArray) -> FloatArray:
    p = np.clip(scores, _EPS, 1 - _EPS)
    return np.asarray(-(y * np.log(p) + (1 - y) * np.log1p(-p)))


def row_brier(y: npt.NDArray[np.integer], scores: FloatArray) -> FloatArray:
    return np.asarray((scores - y) ** 2)


def row_cost(
    y: npt.NDArray[np.integer], scores: FloatArray, threshold: float, cost: Cost
) -> FloatArray:
    flagged = scores >= threshold
    return np.where(
        flagged,
        np.where(y == 1, cost.true_positive, cost.false_positive),
        np.where(y == 1, cost.false_negative, cost.true_negative),
    ).astype(np.float64)


def weighted_mean(values: FloatArray, weights: FloatArray | None = None) -> float:
    if weights is None:
        return float(values.mean())
    return float((values * weights).sum() / weights.sum())


def log_loss(
    y: npt.NDArray[np.integer], scores: FloatArray, weights: FloatArray | None = None
) -> float:
    return weighted_mean(row_log_loss(y, scores), weights)


def brier(
    y: npt.NDArray[np.integer], scores: FloatArray, weights: FloatArray | None = None
) -> float:
    return weighted_mean(row_brier(y, scores), weights)


def expected_cost(
    y: npt.NDArray[np.integer],
    scores: FloatArray,
    threshold: float,
    cost: Cost,
    weights: FloatArray | None = None,
) -> float:
    """Mean business cost per row when rows scoring >= threshold are flagged positive."""
    return weighted_mean(row_cost(y, scores, threshold, cost), weights)


def precision_recall_f1(
    y: npt.NDArray[np.integer], scores: FloatArray, threshold: float
) -> tuple[float, float, float]:
    flagged = scores >= threshold
    true_positive = int((flagged & (y == 1)).sum())
    precision = true_positive / int(flagged.sum()) if flagged.any() else 0.0
    positives = int((y == 1).sum())
    recall = true_positive / positives if positives else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def metric_value(
    metric: str, y: npt.NDArray[np.integer], scores: FloatArray, cost: Cost | None = None
) -> float:
    """One metric by name; expected cost at the threshold that minimises it on these rows."""
    if metric == "expected_cost":
        if cost is None:
            raise UsageError("the expected_cost metric needs a cost")
        return minimum_expected_cost(y, scores, cost)
    if metric not in _BY_NAME:
        known = ", ".join([*_BY_NAME, "expected_cost"])
        raise UsageError(f"unknown metric {metric!r}; known: {known}")
    return _BY_NAME[metric](y, scores, None)


_BY_NAME = {"roc_auc": roc_auc, "pr_auc": pr_auc, "log_loss": log_loss, "brier": brier}
