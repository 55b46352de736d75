"""What every family's trainer shares: the data it fits on, one fitted trial, the deadline rule.

A trainer prepares its data once (XGBoost's quantised matrices, scikit-learn's preprocessed
arrays) and then fits one trial per call. Fitters that grow a model step by step (boosting
rounds, forest trees) stop at the deadline and keep what they have; `math.inf` means no
deadline, which the search uses for each family's first, default trial.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from shared.model import FeatureSpec, FloatArray, ScoringModel
from shared.training.candidates import Params
from shared.training.labels import IntArray


@dataclass(frozen=True)
class SplitData:
    """Feature frames (already in the model's types) and 0/1 labels of the fitting splits."""

    features: tuple[FeatureSpec, ...]
    train: pd.DataFrame
    y_train: IntArray
    validation: pd.DataFrame
    y_validation: IntArray
    seed: int
    n_jobs: int


@dataclass(frozen=True)
class FittedTrial:
    # The parameters as fitted, including what the fit decided (rounds, trees).
    params: Params
    estimator: Any
    validation_scores: FloatArray
    stopped_by_time: bool


class Trainer(Protocol):
    family: str

    def fit(self, params: Params, deadline: float) -> FittedTrial: ...

    def scoring_model(self, trial: FittedTrial) -> ScoringModel:
        """The uncalibrated model of a trial, with the default threshold."""
        ...


def past(deadline: float) -> bool:
    return time.monotonic() >= deadline
