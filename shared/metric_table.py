"""Every metric cloudscore measures, in one table: its name, the task it measures, which way it
improves, whether it may be a primary metric, and whether it ranks (is unchanged by a monotone
recalibration of the scores). The configuration, training's search and gate, the retrain
check's policy and challenge, and the report all read it here. Standard library only: the
report imports it without numpy.

    METRICS                          the rows
    metrics_of(task, primary=True)   the names a task's primary metric may take
    higher_is_better(name)           which way a metric improves
    is_better(name, value, than)     whether `value` is better than `than`
    worse_by(name, value, reference) how much worse `value` is than `reference` (< 0: better)
    in_target_units(name)            whether the metric is in the target's units (RMSE, MAE):
                                     a drop in it is judged as a share of its value

A task, or a metric, is added by adding rows (a name may appear under several tasks, with the
same direction: log loss measures binary and multiclass models alike).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from shared.errors import UsageError
from shared.tasks import TASKS, Task

__all__ = ["METRICS", "TASKS", "Metric", "Task"]


@dataclass(frozen=True)
class Metric:
    name: str
    task: Task
    higher_is_better: bool
    primary: bool = True  # may be training.primary_metric
    ranking: bool = False  # unchanged by a monotone recalibration of the scores
    # In the target's units (a price, a duration): no fixed drop means the same for every
    # model, so a drop is judged as a share of the value at training.
    target_units: bool = False


METRICS: Final[tuple[Metric, ...]] = (
    Metric("roc_auc", "binary_classification", higher_is_better=True, ranking=True),
    Metric("pr_auc", "binary_classification", higher_is_better=True, ranking=True),
    Metric("log_loss", "binary_classification", higher_is_better=False),
    Metric("brier", "binary_classification", higher_is_better=False),
    # At the threshold that minimises it on the rows measured: a ranking metric too.
    Metric("expected_cost", "binary_classification", higher_is_better=False, ranking=True),
    # At the model's threshold: reported, never what a model is chosen by.
    Metric("f1", "binary_classification", higher_is_better=True, primary=False),
    Metric("precision", "binary_classification", higher_is_better=True, primary=False),
    Metric("recall", "binary_classification", higher_is_better=True, primary=False),
    Metric("log_loss", "multiclass_classification", higher_is_better=False),
    Metric("macro_f1", "multiclass_classification", higher_is_better=True),
    Metric("weighted_f1", "multiclass_classification", higher_is_better=True),
    Metric("accuracy", "multiclass_classification", higher_is_better=True),
    Metric("rmse", "regression", higher_is_better=False, target_units=True),
    Metric("mae", "regression", higher_is_better=False, target_units=True),
    Metric("r2", "regression", higher_is_better=True),
)

_DIRECTION: Final[dict[str, bool]] = {}
for _row in METRICS:
    if _DIRECTION.setdefault(_row.name, _row.higher_is_better) != _row.higher_is_better:
        raise AssertionError(f"metric {_row.name!r} is listed with two directions")


def metrics_of(task: str, *, primary: bool = True) -> tuple[str, ...]:
    """The metrics of `task` (with `primary`: only those a model may be chosen by), in order."""
    return tuple(m.name for m in METRICS if m.task == task and (m.primary or not primary))


def primary_metrics() -> tuple[str, ...]:
    """Every name a primary metric may take, whatever the task."""
    return tuple(dict.fromkeys(m.name for m in METRICS if m.primary))


def is_known(name: str) -> bool:
    return name in _DIRECTION


def higher_is_better(name: str) -> bool:
    try:
        return _DIRECTION[name]
    except KeyError:
        known = ", ".join(_DIRECTION)
        raise UsageError(f"unknown metric {name!r}; known: {known}") from None


def is_ranking(name: str) -> bool:
    return any(m.ranking for m in METRICS if m.name == name)


def in_target_units(name: str) -> bool:
    return any(m.target_units for m in METRICS if m.name == name)


def is_better(name: str, value: float, than: float) -> bool:
    return value > than if higher_is_better(name) else value < than


def worse_by(name: str, value: float, reference: float) -> float:
    """How much worse `value` is than `reference` (negative: better)."""
    return reference - value if higher_is_better(name) else value - reference


def direction(name: str) -> str:
    """Which way the metric improves, in words."""
    return "higher is better" if higher_is_better(name) else "lower is better"
