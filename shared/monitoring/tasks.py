"""What monitoring measures for each task, in one place: a period's realized metrics and its
estimator. A task is monitored once it has a row in `TASKS`; everything else (periods, drift,
the verdict, the table, the report) is the same for every task.

    task_monitoring(task) -> TaskMonitoring
        .realized(rows, context)   {metric: value} of a period's labelled rows, or a problem
        .estimate(rows, context)   {metric: value} from the period's scores alone (no label);
                                   None: the task has no estimator, and the report says so
        .sampling_reference(y, rows, context)   at training: the reference of the estimates'
                                   sampling error (`shared.monitoring.estimation`)

`rows` is a frame of the period's predictions with the columns of `shared.tables.PREDICTIONS`
the check reads (`score`, `predicted_label`) and, for labelled rows, `label` (the label as
`shared.values.label_text` spells it). `context` carries what the metrics need of the model and
the configuration. To monitor another task, write its two functions and add its row: the
realized metrics must use the names of `shared.metric_table`, so the policy can judge the
primary metric and its direction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from shared.errors import UsageError
from shared.model import FloatArray
from shared.monitoring.estimation import binary_estimates, sampling_reference
from shared.training.evaluation import score_metrics
from shared.training.spec import Cost


@dataclass(frozen=True)
class MetricContext:
    """What a task's metrics need besides the rows."""

    positive_label: str  # binary: the label text that is positive
    threshold: float  # binary: the model's decision threshold
    cost: Cost | None = None
    seed: int = 0


@dataclass(frozen=True)
class Realized:
    values: dict[str, float]  # empty when nothing sound could be measured
    problem: str | None = None  # why `values` is empty, in words


Realize = Callable[[pd.DataFrame, MetricContext], Realized]
Estimate = Callable[[pd.DataFrame, MetricContext], dict[str, float]]


@dataclass(frozen=True)
class TaskMonitoring:
    realized: Realize
    estimate: Estimate | None  # None: no estimate before labels for this task
    # At training: the sampling-error reference from the test split's labels and scores.
    reference: Callable[[pd.DataFrame, MetricContext], dict[str, Any]] | None = None


# --- binary classification ----------------------------------------------------------------------


def _binary_y(rows: pd.DataFrame, context: MetricContext) -> npt.NDArray[np.int8]:
    return np.asarray(rows["label"].astype(str) == context.positive_label).astype(np.int8)


def _binary_metrics(
    y: npt.NDArray[np.integer], scores: FloatArray, context: MetricContext
) -> dict[str, float]:
    values = score_metrics(y, scores, context.threshold, context.cost)
    return {name: float(v) for name, v in values.items() if np.isfinite(v)}


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


def binary_reference(rows: pd.DataFrame, context: MetricContext) -> dict[str, Any]:
    y = _binary_y(rows, context)
    scores = rows["score"].to_numpy(dtype=np.float64)

    def realized(y_drawn: npt.NDArray[np.integer], drawn: FloatArray) -> dict[str, float]:
        if y_drawn.min() == y_drawn.max():
            return {}
        return _binary_metrics(y_drawn, drawn, context)

    return sampling_reference(y, scores, realized, seed=context.seed)


TASKS: Mapping[str, TaskMonitoring] = {
    "binary_classification": TaskMonitoring(binary_realized, binary_estimate, binary_reference),
}


def task_monitoring(task: str) -> TaskMonitoring:
    try:
        return TASKS[task]
    except KeyError:
        raise UsageError(
            f"monitoring of {task!r} models is not supported yet (monitored: {', '.join(TASKS)})"
        ) from None
