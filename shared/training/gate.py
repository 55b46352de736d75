"""The gate: a model is registered only if it beats the trivial baseline on the test split.

The baseline predicts what is known without the features (`shared.tasks`): binary, the training
split's positive rate for every row, its threshold chosen on validation by the model's own
rule; multiclass, the training class shares (so its label is the majority class); regression,
the training mean. "Beats" means the 95% paired bootstrap interval of the primary-metric
difference (model - baseline) on the test rows lies entirely on the better side: a model that
ranks no better than chance but lands a hair above 0.5 ROC AUC on one sample is refused, not
registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from shared.errors import CloudscoreError
from shared.metric_table import higher_is_better
from shared.model import FloatArray
from shared.tasks import definition
from shared.training.evaluation import bootstrap_difference, bootstrap_metric_difference
from shared.training.spec import Cost

if TYPE_CHECKING:
    from shared.training.pipeline import TrainingOutcome

GATE_BOOTSTRAP_ROUNDS = 1000


class GateRefused(CloudscoreError):
    """The trained model does not beat the baseline on the test split; it must not be registered.

    `outcome` holds everything measured (metrics, candidates), for the summary of a refused run.
    """

    http_status = 422

    def __init__(
        self,
        metric: str,
        model_value: float,
        baseline_value: float,
        interval: tuple[float, float],
        outcome: TrainingOutcome | None = None,
    ) -> None:
        low, high = interval
        baseline = definition(outcome.model.task if outcome else "binary_classification").baseline
        super().__init__(
            f"the model does not beat the baseline ({baseline}) "
            f"on the test split: {metric} {model_value:.4f} for the model vs "
            f"{baseline_value:.4f} for the baseline; the 95% interval of the difference, "
            f"[{low:+.4f}, {high:+.4f}], does not exclude zero on the better side. "
            "The model was not registered."
        )
        self.metric = metric
        self.model_value = model_value
        self.baseline_value = baseline_value
        self.interval = interval
        self.outcome = outcome


@dataclass(frozen=True)
class GateVerdict:
    metric: str
    model_value: float
    baseline_value: float
    difference: float  # model - baseline, bootstrap mean
    interval: tuple[float, float]

    @property
    def passed(self) -> bool:
        low, high = self.interval
        return low > 0 if higher_is_better(self.metric) else high < 0

    def refusal(self, outcome: TrainingOutcome | None = None) -> GateRefused:
        return GateRefused(
            self.metric, self.model_value, self.baseline_value, self.interval, outcome
        )


def baseline_scores(prior: float, rows: int) -> FloatArray:
    return np.full(rows, prior, dtype=np.float64)


def baseline_outputs(
    task: str, y_train: npt.NDArray[np.generic], rows: int, classes: int = 0
) -> FloatArray:
    """The baseline's outputs for `rows` rows: the training positive rate, the training class
    shares (`classes` of them), or the training mean."""
    output = definition(task).output
    if output == "probabilities":
        shares = np.bincount(y_train.astype(np.intp), minlength=classes) / len(y_train)
        return np.tile(shares.astype(np.float64), (rows, 1))
    return baseline_scores(float(np.mean(y_train.astype(np.float64))), rows)


def judge(
    task: str,
    y_test: npt.NDArray[np.generic],
    model_scores: FloatArray,
    baseline: FloatArray,
    *,
    metric: str,
    model_value: float,
    baseline_value: float,
    cost: Cost | None,
    thresholds: tuple[float, float],
    seed: int,
) -> GateVerdict:
    if definition(task).has_threshold:
        mean, low, high = bootstrap_metric_difference(
            y_test.astype(np.int8),
            model_scores,
            baseline,
            metric,
            rounds=GATE_BOOTSTRAP_ROUNDS,
            seed=seed,
            cost=cost,
            thresholds=thresholds,
        )
    else:
        mean, low, high = bootstrap_difference(
            task, y_test, model_scores, baseline, metric, rounds=GATE_BOOTSTRAP_ROUNDS, seed=seed
        )
    return GateVerdict(metric, model_value, baseline_value, mean, (low, high))
