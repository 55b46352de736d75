"""Evaluation of a model on labelled rows, and the paired bootstrap that compares two models.

`evaluate(model, frame, spec)` is the one evaluation used for the held-out test split at
training time and, later, for champion and challenger on the same fresh labelled data. Its keys:

    roc_auc, pr_auc, log_loss, brier     of the scores
    precision, recall, f1                at the model's threshold (score >= threshold: positive)
    expected_cost                        business cost per row at that threshold (spec with a cost)
    positive_rate, flagged_rate          share of positive labels / of rows flagged positive
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pandas as pd

from shared.errors import DataError, UsageError
from shared.metric_table import metrics_of
from shared.model import FloatArray, ScoringModel
from shared.training.labels import as_zero_one, binary_target, require_both_classes
from shared.training.metrics import (
    RankedScores,
    brier,
    expected_cost,
    log_loss,
    pr_auc,
    pr_auc_from_groups,
    precision_recall_f1,
    roc_auc,
    roc_auc_from_groups,
    row_brier,
    row_cost,
    row_log_loss,
)
from shared.training.spec import Cost, TrainingSpec

BOOTSTRAP_METRICS = metrics_of("binary_classification")
Rows = npt.NDArray[np.intp]
# metric(a) - metric(b) on the rows a bootstrap round drew (with repeats)
_Difference = Callable[[Rows], float]


def evaluate(model: ScoringModel, frame: pd.DataFrame, spec: TrainingSpec) -> dict[str, float]:
    y = binary_target(frame, spec.target, spec.positive_label)
    require_both_classes(y, "the evaluation data")
    return score_metrics(y, model.predict_scores(frame), model.threshold, spec.cost)


def score_metrics(
    y: npt.NDArray[np.integer], scores: FloatArray, threshold: float, cost: Cost | None
) -> dict[str, float]:
    y = as_zero_one(y)
    precision, recall, f1 = precision_recall_f1(y, scores, threshold)
    metrics = {
        "roc_auc": roc_auc(y, scores),
        "pr_auc": pr_auc(y, scores),
        "log_loss": log_loss(y, scores),
        "brier": brier(y, scores),
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }
    if cost is not None:
        metrics["expected_cost"] = expected_cost(y, scores, threshold, cost)
    metrics["positive_rate"] = float(np.mean(y))
    metrics["flagged_rate"] = float(np.mean(scores >= threshold))
    return metrics


def bootstrap_metric_difference(
    y: npt.NDArray[np.integer],
    scores_a: FloatArray,
    scores_b: FloatArray,
    metric: str,
    *,
    rounds: int = 1000,
    seed: int = 0,
    cost: Cost | None = None,
    thresholds: tuple[float, float] | None = None,
) -> tuple[float, float, float]:
    """Paired bootstrap of metric(a) - metric(b) on the same rows: (mean, 2.5%, 97.5%).

    Each round draws n rows with replacement, the same rows for both models, so the interval
    reflects how the difference, not each value, varies with the sample. For "expected_cost" give
    `cost` and each model's decision threshold as `thresholds`.
    """
    y = as_zero_one(y)
    scores_a = np.asarray(scores_a, dtype=np.float64)
    scores_b = np.asarray(scores_b, dtype=np.float64)
    _check_paired("y, scores_a and scores_b", len(y), len(scores_a), len(scores_b), rounds)
    require_both_classes(y, "the bootstrap sample")
    difference = _paired_difference(y, scores_a, scores_b, metric, cost=cost, thresholds=thresholds)
    differences = _resampled(difference, len(y), rounds, seed)
    # A resample may miss a class entirely, leaving a ranking metric undefined for that round.
    kept = differences[~np.isnan(differences)]
    if not len(kept):
        raise DataError("every bootstrap round missed a class; too few rows of one label")
    low, high = np.percentile(kept, [2.5, 97.5])
    return float(kept.mean()), float(low), float(high)


def bootstrap_difference(
    task: str,
    y: npt.NDArray[np.generic],
    outputs_a: FloatArray,
    outputs_b: FloatArray,
    metric: str,
    *,
    rounds: int = 1000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """`bootstrap_metric_difference` for a multiclass or regression model: (mean, 2.5%, 97.5%)
    of metric(a) - metric(b) over rounds of the same rows drawn with replacement."""
    from shared.training.task_metrics import row_scorer

    _check_paired("y and both outputs", len(y), len(outputs_a), len(outputs_b), rounds)
    if not len(y):
        raise DataError("the bootstrap sample has no row")
    score_a = row_scorer(task, metric, y, np.asarray(outputs_a, dtype=np.float64))
    score_b = row_scorer(task, metric, y, np.asarray(outputs_b, dtype=np.float64))
    differences = _resampled(lambda rows: score_a(rows) - score_b(rows), len(y), rounds, seed)
    low, high = np.percentile(differences, [2.5, 97.5])
    return float(differences.mean()), float(low), float(high)


def _check_paired(names: str, rows: int, rows_a: int, rows_b: int, rounds: int) -> None:
    if not rows == rows_a == rows_b:
        raise UsageError(f"{names} must have equal lengths, got {rows}, {rows_a}, {rows_b}")
    if rounds < 1:
        raise UsageError(f"rounds must be at least 1, got {rounds}")


def _resampled(difference: _Difference, rows: int, rounds: int, seed: int) -> FloatArray:
    """`difference` of `rounds` resamples of the `rows` rows, each drawn with replacement (the
    same rows for both models)."""
    rng = np.random.default_rng(seed)
    differences = np.empty(rounds)
    for round_ in range(rounds):
        differences[round_] = difference(rng.integers(0, rows, rows))
    return differences


def _paired_difference(
    y: npt.NDArray[np.integer],
    scores_a: FloatArray,
    scores_b: FloatArray,
    metric: str,
    *,
    cost: Cost | None,
    thresholds: tuple[float, float] | None,
) -> _Difference:
    if metric in ("roc_auc", "pr_auc"):
        from_groups = roc_auc_from_groups if metric == "roc_auc" else pr_auc_from_groups
        ranked_a, ranked_b = RankedScores.of(y, scores_a), RankedScores.of(y, scores_b)

        def ranking(rows: Rows) -> float:
            a = from_groups(*ranked_a.class_totals(rows=rows))
            return a - from_groups(*ranked_b.class_totals(rows=rows))

        return ranking
    if metric == "expected_cost":
        if cost is None or thresholds is None:
            raise UsageError("the expected_cost metric needs a cost and the two thresholds")
        loss = row_cost(y, scores_a, thresholds[0], cost) - row_cost(
            y, scores_b, thresholds[1], cost
        )
    elif metric in ("log_loss", "brier"):
        per_row = row_log_loss if metric == "log_loss" else row_brier
        loss = per_row(y, scores_a) - per_row(y, scores_b)
    else:
        raise UsageError(f"unknown metric {metric!r}; known: {', '.join(BOOTSTRAP_METRICS)}")

    def mean_loss(rows: Rows) -> float:
        return float(loss[rows].mean())

    return mean_loss
