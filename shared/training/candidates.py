"""The search space of each model family: a sensible default, tried first, and random draws.

The default comes first so that a budget too small for a search still yields the model a
practitioner would start from. Drawn floats keep four significant digits, so the parameters
recorded in lineage reproduce the model exactly.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

ParamValue = int | float | str | None
Params = dict[str, ParamValue]
Draw = Callable[[np.random.Generator], ParamValue]


@dataclass(frozen=True)
class SearchSpace:
    default: Mapping[str, ParamValue]
    dimensions: Mapping[str, Draw]

    def draw(self, rng: np.random.Generator) -> Params:
        return {name: draw(rng) for name, draw in self.dimensions.items()}


def family_rng(family: str, seed: int) -> np.random.Generator:
    """A generator per (family, seed): adding a family never changes another family's draws."""
    return np.random.default_rng([seed, zlib.crc32(family.encode())])


def _significant(value: float) -> float:
    return float(f"{value:.4g}")


def log_uniform(low: float, high: float) -> Draw:
    return lambda rng: _significant(math.exp(rng.uniform(math.log(low), math.log(high))))


def uniform(low: float, high: float) -> Draw:
    return lambda rng: _significant(rng.uniform(low, high))


def integers(low: int, high: int) -> Draw:
    """A whole number from low to high inclusive, uniform."""
    return lambda rng: int(rng.integers(low, high + 1))


def log_integers(low: int, high: int) -> Draw:
    """A whole number from low to high, uniform on a log scale (small values as likely as big)."""
    return lambda rng: round(math.exp(rng.uniform(math.log(low), math.log(high))))


def one_of(*options: ParamValue) -> Draw:
    return lambda rng: options[int(rng.integers(len(options)))]


SEARCH_SPACES: dict[str, SearchSpace] = {
    "xgboost": SearchSpace(
        default={
            "eta": 0.1,
            "max_depth": 6,
            "min_child_weight": 1.0,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "lambda": 1.0,
            "alpha": 0.0,
        },
        dimensions={
            "eta": log_uniform(0.02, 0.3),
            "max_depth": integers(3, 10),
            "min_child_weight": log_uniform(1.0, 50.0),
            "subsample": uniform(0.5, 1.0),
            "colsample_bytree": uniform(0.5, 1.0),
            "lambda": log_uniform(0.1, 20.0),
            "alpha": log_uniform(0.001, 5.0),
        },
    ),
    "logistic_regression": SearchSpace(
        default={"C": 1.0},
        dimensions={"C": log_uniform(0.001, 100.0)},
    ),
    "random_forest": SearchSpace(
        default={"max_depth": 12, "min_samples_leaf": 5, "max_features": "sqrt"},
        dimensions={
            "max_depth": integers(6, 20),
            "min_samples_leaf": log_integers(1, 50),
            "max_features": one_of("sqrt", 0.3, 0.5),
        },
    ),
    "hist_gradient_boosting": SearchSpace(
        default={
            "learning_rate": 0.1,
            "max_leaf_nodes": 31,
            "min_samples_leaf": 20,
            "l2_regularization": 0.0,
        },
        dimensions={
            "learning_rate": log_uniform(0.02, 0.3),
            "max_leaf_nodes": log_integers(8, 128),
            "min_samples_leaf": log_integers(5, 200),
            "l2_regularization": log_uniform(0.0001, 10.0),
        },
    ),
}
