"""What to train: the target, the features, the candidates, the metric and the business cost.

A `TrainingSpec` is derived from a checked `ProjectConfig` (`shared.registration.training_spec`)
and the data contract: its settings are not checked again here, where an error could name no
file and no key. Its defaults are the configuration's (`ProjectConfig` reads them from here,
so each is written once).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import UsageError
from shared.model import FeatureSpec, Label
from shared.tasks import Task

__all__ = ["Cost", "Task", "TrainingSpec"]


@dataclass(frozen=True)
class Cost:
    """What one decision costs the business, per row; a negative value is a gain. The
    configuration's `[cost]` (checked there: a false positive costs more than a true negative,
    a false negative more than a true positive)."""

    false_positive: float
    false_negative: float
    true_positive: float = 0.0
    true_negative: float = 0.0


@dataclass(frozen=True, kw_only=True)
class TrainingSpec:
    """Everything `train_model` needs besides the data.

    `time_budget_s` bounds the whole training: the hyperparameter search across all candidates
    gets 90% of it, the steps after it the rest (each family's default trial always completes,
    so huge data can overrun a tiny budget). `max_trials` bounds the search per family, so
    small data does not spend the whole budget overfitting the validation split. With
    `time_bounded` false the time budget cuts nothing: each family runs `max_trials` trials,
    each to its end, so the same data, spec and seed give the same model, byte for byte.
    `n_jobs` is the thread count of the fitters, and of every prediction training makes:
    XGBoost's and the forests' parameter, histogram boosting's and BLAS's thread pools.
    """

    target: str
    features: tuple[FeatureSpec, ...]
    positive_label: Label = 1
    time_column: str | None = None
    task: Task = "binary_classification"
    candidates: tuple[str, ...] = ("xgboost", "logistic_regression")
    primary_metric: str = "roc_auc"
    cost: Cost | None = None
    time_budget_s: float = 300.0
    seed: int = 42
    test_fraction: float = 0.2
    validation_fraction: float = 0.2
    max_trials: int = 20
    time_bounded: bool = True
    n_jobs: int = 2

    def __post_init__(self) -> None:
        # The features come from the data contract, not the configuration: checked here.
        if not self.features:
            raise UsageError("features: at least one feature is needed")
        names = [feature.name for feature in self.features]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise UsageError(f"features: repeated feature name(s) {repeated}")
        for role, column in (("target", self.target), ("time_column", self.time_column)):
            if column in names:
                raise UsageError(f"{role} {column!r} cannot also be a feature")
