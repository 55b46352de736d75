"""The metrics of every task, by name, in numpy (`shared.training.metrics` holds the binary ones).

    metric_value(task, metric, y, outputs, cost)        one metric, as the search compares them
    output_metrics(task, y, outputs, ...)               every metric of the task, as reported
    row_scorer(task, metric, y, outputs)                metric on a subset of rows (bootstrap)

`y` is what training makes of the target (`shared.training.labels.encode_target`): 0/1 for
binary, the class index for multiclass, the value for regression. `outputs` is what the model
outputs (`shared.model.ScoringModel.predict_outputs`): P(positive), an (n, k) matrix of class
probabilities, or the predicted value.

Unweighted, each equals scikit-learn's function of the same name on the same rows (tests pin
that): multiclass `log_loss(labels=all classes)`, `f1_score(average="macro" | "weighted")`,
`accuracy_score`, `recall_score(average=None)`; regression `root_mean_squared_error`,
`mean_absolute_error`, `r2_score`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from shared.errors import UsageError
from shared.model import FloatArray
from shared.tasks import definition
from shared.training import metrics as binary
from shared.training.spec import Cost

_EPS = float(np.finfo(np.float64).eps)
Rows = npt.NDArray[np.intp]


# --- multiclass ---------------------------------------------------------------------------------


def multiclass_log_loss(y: npt.NDArray[np.integer], probabilities: FloatArray) -> float:
    return float(np.mean(row_multiclass_log_loss(y, probabilities)))


def row_multiclass_log_loss(y: npt.NDArray[np.integer], probabilities: FloatArray) -> FloatArray:
    chosen = probabilities[np.arange(len(y)), np.asarray(y, dtype=np.intp)]
    return np.asarray(-np.log(np.clip(chosen, _EPS, 1 - _EPS)), dtype=np.float64)


def confusion(
    y: npt.NDArray[np.integer], predicted: npt.NDArray[np.integer], classes: int
) -> npt.NDArray[np.int64]:
    """Rows: the true class; columns: the predicted one."""
    keys = np.asarray(y, dtype=np.intp) * classes + np.asarray(predicted, dtype=np.intp)
    return np.bincount(keys, minlength=classes * classes).reshape(classes, classes)


def _per_class(matrix: npt.NDArray[np.int64]) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Precision, recall and F1 of each class (0 where undefined, as scikit-learn)."""
    hits = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    actual = matrix.sum(axis=1).astype(np.float64)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, actual, out=np.zeros_like(hits), where=actual > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(hits), where=both > 0)
    return precision, recall, f1


def f1_averages(
    y: npt.NDArray[np.integer], predicted: npt.NDArray[np.integer], classes: int
) -> tuple[float, float]:
    """Macro and weighted F1 over the classes that occur in `y` or in `predicted` (as
    scikit-learn averages over the labels present, when none are given)."""
    matrix = confusion(y, predicted, classes)
    _, _, f1 = _per_class(matrix)
    present = (matrix.sum(axis=0) + matrix.sum(axis=1)) > 0
    support = matrix.sum(axis=1).astype(np.float64)
    macro = float(f1[present].mean()) if present.any() else 0.0
    weighted = float((f1 * support).sum() / support.sum()) if support.sum() else 0.0
    return macro, weighted


def class_recalls(
    y: npt.NDArray[np.integer], predicted: npt.NDArray[np.integer], classes: int
) -> FloatArray:
    return _per_class(confusion(y, predicted, classes))[1]


def predicted_classes(probabilities: FloatArray) -> npt.NDArray[np.intp]:
    """The most probable class of each row (the first on a tie)."""
    return np.asarray(np.argmax(probabilities, axis=1), dtype=np.intp)


def multiclass_metric(metric: str, y: npt.NDArray[np.integer], probabilities: FloatArray) -> float:
    if metric == "log_loss":
        return multiclass_log_loss(y, probabilities)
    predicted = predicted_classes(probabilities)
    if metric == "accuracy":
        return float(np.mean(predicted == y))
    macro, weighted = f1_averages(y, predicted, probabilities.shape[1])
    if metric == "macro_f1":
        return macro
    if metric == "weighted_f1":
        return weighted
    raise UsageError(f"unknown multiclass metric {metric!r}")


# --- regression ---------------------------------------------------------------------------------


def regression_metric(metric: str, y: FloatArray, predicted: FloatArray) -> float:
    error = np.asarray(predicted, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    if metric == "rmse":
        return float(np.sqrt(np.mean(error**2)))
    if metric == "mae":
        return float(np.mean(np.abs(error)))
    if metric == "r2":
        spread = float(np.sum((y - np.mean(y)) ** 2))
        residual = float(np.sum(error**2))
        if spread == 0:
            return 1.0 if residual == 0 else 0.0
        return 1.0 - residual / spread
    raise UsageError(f"unknown regression metric {metric!r}")


# --- any task -----------------------------------------------------------------------------------


def metric_value(
    task: str,
    metric: str,
    y: npt.NDArray[np.generic],
    outputs: FloatArray,
    cost: Cost | None = None,
) -> float:
    """One metric by name; binary expected cost at the threshold that minimises it."""
    output = definition(task).output
    if output == "probability":
        return binary.metric_value(metric, y.astype(np.int8), outputs, cost)
    if output == "probabilities":
        return multiclass_metric(metric, y.astype(np.intp), outputs)
    return regression_metric(metric, y.astype(np.float64), outputs)


def output_metrics(
    task: str,
    y: npt.NDArray[np.generic],
    outputs: FloatArray,
    *,
    threshold: float = 0.5,
    cost: Cost | None = None,
    classes: tuple[str, ...] = (),
) -> dict[str, float]:
    """Every metric of the task on these rows. Multiclass adds `recall[<class>]` for each class
    (0 for a class absent from the rows) and `class_share[<class>]`; regression the mean of the
    target and of the predictions. Binary: `shared.training.evaluation.score_metrics`."""
    output = definition(task).output
    if output == "probability":
        from shared.training.evaluation import score_metrics

        return score_metrics(y.astype(np.int8), outputs, threshold, cost)
    if output == "probabilities":
        y_index = y.astype(np.intp)
        metrics = {
            name: multiclass_metric(name, y_index, outputs)
            for name in ("log_loss", "macro_f1", "weighted_f1", "accuracy")
        }
        recalls = class_recalls(y_index, predicted_classes(outputs), outputs.shape[1])
        shares = np.bincount(y_index, minlength=outputs.shape[1]) / max(len(y_index), 1)
        for position, name in enumerate(classes):
            metrics[f"recall[{name}]"] = float(recalls[position])
        for position, name in enumerate(classes):
            metrics[f"class_share[{name}]"] = float(shares[position])
        return metrics
    values = y.astype(np.float64)
    metrics = {name: regression_metric(name, values, outputs) for name in ("rmse", "mae", "r2")}
    metrics["target_mean"] = float(np.mean(values)) if len(values) else float("nan")
    metrics["prediction_mean"] = float(np.mean(outputs)) if len(outputs) else float("nan")
    return metrics


def row_scorer(
    task: str, metric: str, y: npt.NDArray[np.generic], outputs: FloatArray
) -> Callable[[Rows], float]:
    """metric(rows): the metric on the rows drawn (repeats counting again), for a bootstrap of a
    multiclass or regression model. Per-row losses are taken once; the rest is recounted."""
    output = definition(task).output
    if output == "probabilities":
        y_index = y.astype(np.intp)
        if metric == "log_loss":
            losses = row_multiclass_log_loss(y_index, outputs)
            return lambda rows: float(losses[rows].mean())
        predicted = predicted_classes(outputs)
        classes = outputs.shape[1]

        def by_class(rows: Rows) -> float:
            chosen_y, chosen = y_index[rows], predicted[rows]
            if metric == "accuracy":
                return float(np.mean(chosen == chosen_y))
            macro, weighted = f1_averages(chosen_y, chosen, classes)
            return macro if metric == "macro_f1" else weighted

        return by_class
    if output == "value":
        values = y.astype(np.float64)
        squared = (outputs - values) ** 2
        if metric == "rmse":
            return lambda rows: float(np.sqrt(squared[rows].mean()))
        if metric == "mae":
            absolute = np.abs(outputs - values)
            return lambda rows: float(absolute[rows].mean())
        return lambda rows: regression_metric(metric, values[rows], outputs[rows])
    raise UsageError("row_scorer is for multiclass and regression models")
