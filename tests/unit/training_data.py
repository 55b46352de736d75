"""Data sets for the training tests: the demo loan data and two of other schemas."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cloudscore import demo_data
from cloudscore.demo_training import demo_training_spec
from shared.training import FeatureSpec, TrainingSpec

COLORS = ("red", "green", "blue")
SIZES = ("S", "M", "L", "XL")


def demo_frame(rows: int, seed: int) -> pd.DataFrame:
    return pd.concat(demo_data.iter_demo_frames(rows, seed=seed), ignore_index=True)


def quick_demo_spec(**overrides: object) -> TrainingSpec:
    """The demo spec with a search small enough for unit tests."""
    settings: dict[str, object] = {"seed": 1, "max_trials": 3, "time_budget_s": 120.0}
    return demo_training_spec(**(settings | overrides))


def numeric_frame(rows: int, seed: int) -> tuple[pd.DataFrame, TrainingSpec]:
    """sklearn's make_classification: numeric features only, text labels 'yes' / 'no'."""
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=rows, n_features=8, n_informative=4, flip_y=0.05, random_state=seed
    )
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(8)])
    frame["answer"] = np.where(y == 1, "yes", "no")
    spec = TrainingSpec(
        target="answer",
        positive_label="yes",
        features=tuple(FeatureSpec(f"x{i}", "numeric") for i in range(8)),
        candidates=("logistic_regression", "random_forest"),
        primary_metric="log_loss",
        seed=seed,
        max_trials=2,
        time_budget_s=60.0,
    )
    return frame, spec


def mixed_frame(rows: int, seed: int) -> tuple[pd.DataFrame, TrainingSpec]:
    """Numeric and categorical features with gaps, a boolean target, a time column."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3, 1, rows)
    ratio = rng.normal(0, 1, rows)
    color = rng.integers(0, len(COLORS), rows)
    size = rng.integers(0, len(SIZES), rows)
    logit = -1 + 0.8 * ratio + 0.4 * np.log(amount) - 1.2 * (color == 2) + 0.5 * size - 0.9
    target = rng.random(rows) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "amount": np.where(rng.random(rows) < 0.1, np.nan, amount),
            "ratio": np.where(rng.random(rows) < 0.05, np.nan, ratio),
            "color": pd.Series(np.array(COLORS, dtype=object)[color]).mask(rng.random(rows) < 0.08),
            "size": np.array(SIZES, dtype=object)[size],
            "happened_at": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.random(rows), "D"),
            "churned": target,
        }
    )
    spec = TrainingSpec(
        target="churned",
        positive_label=True,
        features=(
            FeatureSpec("amount", "numeric"),
            FeatureSpec("ratio", "numeric"),
            FeatureSpec("color", "categorical", COLORS),
            FeatureSpec("size", "categorical", SIZES),
        ),
        time_column="happened_at",
        candidates=("hist_gradient_boosting", "xgboost"),
        primary_metric="pr_auc",
        seed=seed,
        max_trials=2,
        time_budget_s=60.0,
    )
    return frame, spec


CARDS = ("basic", "gold", "platinum", "student")


def multiclass_frame(rows: int, seed: int) -> tuple[pd.DataFrame, TrainingSpec]:
    """Four text classes from two numeric features and a categorical one, with gaps."""
    rng = np.random.default_rng(seed)
    income = rng.normal(0, 1, rows)
    age = rng.normal(0, 1, rows)
    color = rng.integers(0, len(COLORS), rows)
    logits = 3 * np.stack(
        [0.5 * income, 1.5 * income + 0.5 * (color == 1), 2.5 * income - 1, -2 * age], axis=1
    ) + rng.gumbel(size=(rows, 4))
    frame = pd.DataFrame(
        {
            "income": np.where(rng.random(rows) < 0.05, np.nan, income),
            "age": age,
            "color": np.array(COLORS, dtype=object)[color],
            "card": np.array(CARDS, dtype=object)[np.argmax(logits, axis=1)],
        }
    )
    spec = TrainingSpec(
        target="card",
        task="multiclass_classification",
        features=(
            FeatureSpec("income", "numeric"),
            FeatureSpec("age", "numeric"),
            FeatureSpec("color", "categorical", COLORS),
        ),
        candidates=("xgboost", "logistic_regression"),
        primary_metric="log_loss",
        seed=seed,
        max_trials=2,
        time_budget_s=60.0,
    )
    return frame, spec


def regression_frame(rows: int, seed: int) -> tuple[pd.DataFrame, TrainingSpec]:
    """A price from a numeric and a categorical feature, with noise."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(0, 15, rows)
    size = rng.integers(0, len(SIZES), rows)
    price = 20_000 * np.exp(-0.15 * age) + 3_000 * size + rng.normal(0, 800, rows)
    frame = pd.DataFrame(
        {
            "age": age,
            "size": np.array(SIZES, dtype=object)[size],
            "price": price,
        }
    )
    spec = TrainingSpec(
        target="price",
        task="regression",
        features=(FeatureSpec("age", "numeric"), FeatureSpec("size", "categorical", SIZES)),
        candidates=("xgboost", "hist_gradient_boosting"),
        primary_metric="rmse",
        seed=seed,
        max_trials=2,
        time_budget_s=60.0,
    )
    return frame, spec
