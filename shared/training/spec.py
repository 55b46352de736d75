"""What to train: the target, the features, the candidates, the metric and the business cost."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from shared.errors import UsageError
from shared.model import FAMILIES, FeatureSpec, Label

Task = Literal["binary_classification", "regression"]
Metric = Literal["roc_auc", "pr_auc", "log_loss", "brier", "expected_cost"]
METRICS: tuple[str, ...] = get_args(Metric)
TASKS: tuple[str, ...] = get_args(Task)


@dataclass(frozen=True)
class Cost:
    """What one decision costs the business, per row; a negative value is a gain."""

    false_positive: float
    false_negative: float
    true_positive: float = 0.0
    true_negative: float = 0.0

    def __post_init__(self) -> None:
        for name in ("false_positive", "false_negative", "true_positive", "true_negative"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise UsageError(f"cost.{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise UsageError(f"cost.{name} must be finite, got {value!r}")
        # Otherwise one constant decision is always cheapest and no model can help.
        if self.false_positive <= self.true_negative:
            raise UsageError(
                f"cost.false_positive ({self.false_positive}) must exceed "
                f"cost.true_negative ({self.true_negative})"
            )
        if self.false_negative <= self.true_positive:
            raise UsageError(
                f"cost.false_negative ({self.false_negative}) must exceed "
                f"cost.true_positive ({self.true_positive})"
            )


@dataclass(frozen=True, kw_only=True)
class TrainingSpec:
    """Everything `train_model` needs besides the data.

    `time_budget_s` bounds the whole training: the hyperparameter search across all candidates
    gets 90% of it, the steps after it the rest (each family's default trial always completes,
    so huge data can overrun a tiny budget). `max_trials` bounds the search per family, so
    small data does not spend the whole budget overfitting the validation split. `n_jobs` is
    the thread count of the fitters.
    """

    target: str
    features: tuple[FeatureSpec, ...]
    positive_label: Label = 1
    time_column: str | None = None
    task: Task = "binary_classification"
    candidates: tuple[str, ...] = ("xgboost", "logistic_regression")
    primary_metric: Metric = "roc_auc"
    cost: Cost | None = None
    time_budget_s: float = 300.0
    seed: int = 0
    test_fraction: float = 0.2
    validation_fraction: float = 0.2
    max_trials: int = 20
    n_jobs: int = 2

    def __post_init__(self) -> None:
        self._check_columns()
        self._check_choices()
        self._check_numbers()

    def _check_columns(self) -> None:
        if not self.features:
            raise UsageError("features: at least one feature is needed")
        names = [feature.name for feature in self.features]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise UsageError(f"features: repeated feature name(s) {repeated}")
        for role, column in (("target", self.target), ("time_column", self.time_column)):
            if column in names:
                raise UsageError(f"{role} {column!r} cannot also be a feature")

    def _check_choices(self) -> None:
        if self.task not in TASKS:
            raise UsageError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if not self.candidates:
            raise UsageError("candidates: at least one model family is needed")
        for family in self.candidates:
            if family not in FAMILIES:
                raise UsageError(
                    f"candidates: unknown model family {family!r}; known: {', '.join(FAMILIES)}"
                )
        if len(set(self.candidates)) != len(self.candidates):
            raise UsageError(f"candidates: a family is listed twice in {self.candidates}")
        if self.primary_metric not in METRICS:
            raise UsageError(
                f"primary_metric must be one of {', '.join(METRICS)}, got {self.primary_metric!r}"
            )
        if self.primary_metric == "expected_cost" and self.cost is None:
            raise UsageError("primary_metric 'expected_cost' needs a cost")

    def _check_numbers(self) -> None:
        for name in ("test_fraction", "validation_fraction"):
            share = getattr(self, name)
            if not 0 < share < 1:
                raise UsageError(f"{name} must be between 0 and 1, got {share!r}")
        if self.test_fraction + self.validation_fraction >= 0.9:
            raise UsageError(
                "test_fraction + validation_fraction must leave at least 10% of the rows to "
                f"train on, got {self.test_fraction} + {self.validation_fraction}"
            )
        if not self.time_budget_s > 0:
            raise UsageError(f"time_budget_s must be positive, got {self.time_budget_s!r}")
        for name, low in (("seed", 0), ("max_trials", 1), ("n_jobs", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise UsageError(f"{name} must be an integer >= {low}, got {value!r}")
