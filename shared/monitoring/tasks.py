"""What monitoring measures for each task, in one place: a period's realized metrics and its
estimator. A task is monitored once it has a row in `TASKS`; everything else (periods, drift,
the verdict, the table, the report) is the same for every task.

    task_monitoring(task) -> TaskMonitoring
        .realized(rows, context)   {metric: value} of a period's labelled rows, or a problem
        .estimate(rows, context)   {metric: value} from the period's outputs alone (no label);
                                   None: the task has no estimator (`.no_estimate` says why,
                                   and the report says so)
        .reference(y, outputs, context)   at training: the reference of the sampling error
                                   (`shared.monitoring.estimation`) from the test split

`rows` is a frame of the period's predictions with the columns of `shared.tables.PREDICTIONS`
the check reads (`score`, `predicted_label`, `probabilities`) and, for labelled rows, `label`
(the label as `shared.values.label_text` spells it). `y` and `outputs` are as training holds
them (`shared.training.task_metrics`). `context` carries what the metrics need of the model and
the configuration. The realized metrics are `shared.training.task_metrics.output_metrics`, the
ones training reports, by the names of `shared.metric_table`, so the policy can judge the
primary metric and its direction:

| task       | realized                                             | estimated (no label)       |
|------------|------------------------------------------------------|----------------------------|
| binary     | roc_auc, pr_auc, log_loss, brier, precision, recall, | the same, CBPE             |
|            | f1, expected_cost                                    |                            |
| multiclass | log_loss, macro_f1, weighted_f1, accuracy,           | the same, CBPE one class   |
|            | recall[<class>]                                      | against the rest           |
| regression | rmse, mae, r2                                        | none (see `NO_REGRESSION_  |
|            |                                                      | ESTIMATE`)                 |
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from shared.errors import DataError, UsageError
from shared.model import FloatArray
from shared.monitoring.estimation import (
    binary_estimates,
    multiclass_estimates,
    sampling_reference,
)
from shared.training.evaluation import score_metrics
from shared.training.spec import Cost
from shared.training.task_metrics import output_metrics

# Why a regression model's performance is not estimated before its labels arrive.
NO_REGRESSION_ESTIMATE: Final = (
    "no estimate before the labels arrive for regression: an estimate of its error (direct "
    "loss estimation) needs a second model trained on the inputs, and the check reads only the "
    "predictions and the drift counts; the realized RMSE and MAE are judged as labels arrive"
)


@dataclass(frozen=True)
class MetricContext:
    """What a task's metrics need besides the rows."""

    positive_label: str = "1"  # binary: the label text that is positive
    threshold: float = 0.5  # binary: the model's decision threshold
    cost: Cost | None = None
    seed: int = 0
    classes: tuple[str, ...] = ()  # multiclass: the labels, in the order of the probabilities


@dataclass(frozen=True)
class Realized:
    values: dict[str, float]  # empty when nothing sound could be measured
    problem: str | None = None  # why `values` is empty, in words


Realize = Callable[[pd.DataFrame, MetricContext], Realized]
Estimate = Callable[[pd.DataFrame, MetricContext], dict[str, float]]
Reference = Callable[[npt.NDArray[Any], FloatArray, MetricContext], dict[str, Any]]


@dataclass(frozen=True)
class TaskMonitoring:
    realized: Realize
    estimate: Estimate | None  # None: no estimate before labels for this task
    # At training: the sampling-error reference from the test split's labels and outputs.
    reference: Reference | None = None
    no_estimate: str | None = None  # why there is no estimate, when there is none


def _finite(values: Mapping[str, float]) -> dict[str, float]:
    return {name: float(v) for name, v in values.items() if math.isfinite(v)}


# --- binary classification ----------------------------------------------------------------------


def _binary_y(rows: pd.DataFrame, context: MetricContext) -> npt.NDArray[np.int8]:
    return np.asarray(rows["label"].astype(str) == context.positive_label).astype(np.int8)


def _binary_metrics(
    y: npt.NDArray[np.integer], scores: FloatArray, context: MetricContext
) -> dict[str, float]:
    return _finite(score_metrics(y, scores, context.threshold, context.cost))


def binary_realized(rows: pd.DataFrame, context: MetricContext) -> Realized:
    """The training metrics (and the business cost per row) of the labelled rows."""
    y = _binary_y(rows, context)
    if not len(y):
        return Realized({}, "no labelled rows")
    if y.min() == y.max():
        only = "positive" if y[0] else "negative"
        return Realized({}, f"all {len(y)} labels are {only}; metrics need both classes")
    scores = rows["score"].to_numpy(dtype=np.float64)
    return Realized(_binary_metrics(y, scores, context))


def binary_estimate(rows: pd.DataFrame, context: MetricContext) -> dict[str, float]:
    """CBPE: every metric's expected value from the calibrated scores alone."""
    scores = rows["score"].to_numpy(dtype=np.float64)
    return binary_estimates(scores[np.isfinite(scores)], context.threshold, context.cost)


def binary_reference(
    y: npt.NDArray[Any], scores: FloatArray, context: MetricContext
) -> dict[str, Any]:
    def realized(y_drawn: npt.NDArray[np.integer], drawn: FloatArray) -> dict[str, float]:
        if y_drawn.min() == y_drawn.max():
            return {}
        return _binary_metrics(y_drawn, drawn, context)

    return sampling_reference(np.asarray(y, dtype=np.int8), scores, realized, seed=context.seed)


# --- multiclass classification ------------------------------------------------------------------


def class_probabilities(texts: pd.Series, classes: tuple[str, ...]) -> FloatArray:
    """The (rows, classes) probabilities of `probabilities` JSON objects, in `classes`' order."""
    matrix = np.empty((len(texts), len(classes)), dtype=np.float64)
    for position, text in enumerate(texts.tolist()):
        try:
            found = json.loads(text) if isinstance(text, str) else None
            matrix[position] = [found[name] for name in classes]  # type: ignore[index]
        except (ValueError, TypeError, KeyError) as exc:
            raise DataError(
                f"a multiclass prediction's probabilities {str(text)[:200]!r} do not hold "
                f"a number for each class ({', '.join(classes)}): {exc}"
            ) from None
    return matrix


def _class_index(
    rows: pd.DataFrame, classes: tuple[str, ...]
) -> tuple[npt.NDArray[np.intp], str | None]:
    """Each labelled row's class index; a problem naming labels the model has no class for."""
    texts = rows["label"].astype(str)
    index = pd.Index(classes).get_indexer(pd.Index(texts))
    unknown = index < 0
    if unknown.any():
        names = ", ".join(repr(v) for v in pd.unique(texts[unknown])[:5])
        return np.asarray(index, dtype=np.intp), (
            f"{int(unknown.sum())} labels name no class of the model ({names}); its classes: "
            f"{', '.join(classes)}"
        )
    return np.asarray(index, dtype=np.intp), None


def _multiclass_metrics(
    y: npt.NDArray[np.integer], probabilities: FloatArray, context: MetricContext
) -> dict[str, float]:
    found = output_metrics("multiclass_classification", y, probabilities, classes=context.classes)
    return _finite({k: v for k, v in found.items() if not k.startswith("class_share[")})


def multiclass_realized(rows: pd.DataFrame, context: MetricContext) -> Realized:
    """Log loss, macro and weighted F1, accuracy and each class's recall of the labelled rows
    (each equal to scikit-learn's of the same rows)."""
    if not len(rows):
        return Realized({}, "no labelled rows")
    y, problem = _class_index(rows, context.classes)
    if problem:
        return Realized({}, problem)
    probabilities = class_probabilities(rows["probabilities"], context.classes)
    return Realized(_multiclass_metrics(y, probabilities, context))


def multiclass_estimate(rows: pd.DataFrame, context: MetricContext) -> dict[str, float]:
    """CBPE one class against the rest, from the class probabilities alone."""
    probabilities = class_probabilities(rows["probabilities"], context.classes)
    return multiclass_estimates(probabilities, context.classes)


def multiclass_reference(
    y: npt.NDArray[Any], probabilities: FloatArray, context: MetricContext
) -> dict[str, Any]:
    def realized(y_drawn: npt.NDArray[np.integer], drawn: FloatArray) -> dict[str, float]:
        return _multiclass_metrics(y_drawn, drawn, context)

    return sampling_reference(
        np.asarray(y, dtype=np.intp), probabilities, realized, seed=context.seed
    )


# --- regression ---------------------------------------------------------------------------------


def _regression_metrics(y: FloatArray, predicted: FloatArray) -> dict[str, float]:
    return _finite(output_metrics("regression", y, predicted))


def regression_realized(rows: pd.DataFrame, context: MetricContext) -> Realized:
    """RMSE, MAE and R² of the labelled rows (each equal to scikit-learn's), and the means of
    the target and of the predictions."""
    if not len(rows):
        return Realized({}, "no labelled rows")
    texts = rows["label"].astype(str)
    values = pd.to_numeric(texts, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        first = texts[bad].iloc[0]
        return Realized(
            {}, f"{int(bad.sum())} labels are not finite numbers (the first: {first!r})"
        )
    return Realized(_regression_metrics(values, rows["score"].to_numpy(dtype=np.float64)))


def regression_reference(
    y: npt.NDArray[Any], predicted: FloatArray, context: MetricContext
) -> dict[str, Any]:
    return sampling_reference(
        np.asarray(y, dtype=np.float64), predicted, _regression_metrics, seed=context.seed
    )


TASKS: Mapping[str, TaskMonitoring] = {
    "binary_classification": TaskMonitoring(binary_realized, binary_estimate, binary_reference),
    "multiclass_classification": TaskMonitoring(
        multiclass_realized, multiclass_estimate, multiclass_reference
    ),
    "regression": TaskMonitoring(
        regression_realized, None, regression_reference, no_estimate=NO_REGRESSION_ESTIMATE
    ),
}


def task_monitoring(task: str) -> TaskMonitoring:
    try:
        return TASKS[task]
    except KeyError:
        raise UsageError(
            f"monitoring of {task!r} models is not supported (monitored: {', '.join(TASKS)})"
        ) from None
