"""What every family's trainer shares: the data it fits on, one fitted trial, the deadline rule.

A trainer prepares its data once (XGBoost's quantised matrices, scikit-learn's preprocessed
arrays) and then fits one trial per call. Fitters that grow a model step by step (boosting
rounds, forest trees) stop at the deadline and keep what they have; `math.inf` means no
deadline, which the search uses for each family's first, default trial.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from shared.model import FeatureSpec, FloatArray, ScoringModel
from shared.tasks import Task
from shared.training.candidates import Params

Target = npt.NDArray[np.generic]


@dataclass(frozen=True)
class SplitData:
    """Feature frames (already in the model's types) and targets of the fitting splits: 0/1,
    the class index (multiclass) or the value (regression)."""

    features: tuple[FeatureSpec, ...]
    train: pd.DataFrame
    y_train: Target
    validation: pd.DataFrame
    y_validation: Target
    seed: int
    n_jobs: int
    task: Task = "binary_classification"
    classes: tuple[str, ...] = ()  # multiclass: the class labels, by index


@dataclass(frozen=True)
class FittedTrial:
    # The parameters as fitted, including what the fit decided (rounds, trees).
    params: Params
    estimator: Any
    validation_scores: FloatArray  # the model's outputs (`ScoringModel.predict_outputs`)
    stopped_by_time: bool


class Trainer(Protocol):
    family: str

    def fit(self, params: Params, deadline: float) -> FittedTrial: ...

    def scoring_model(self, trial: FittedTrial) -> ScoringModel:
        """The uncalibrated model of a trial, with the default threshold."""
        ...


def past(deadline: float) -> bool:
    return time.monotonic() >= deadline


@contextlib.contextmanager
def fitter_threads(n_jobs: int) -> Iterator[None]:
    """Training's thread count, `n_jobs`, for the libraries that take none as a parameter:
    scikit-learn's histogram boosting (OpenMP, in its fits and in every prediction training
    makes with it) and the linear algebra (BLAS). XGBoost (`nthread`) and forests (`n_jobs`)
    are given the same count as a parameter. The process's own settings come back after."""
    # Loaded first: threadpoolctl sets the thread pools of the libraries loaded when it is
    # called, and scikit-learn brings its own OpenMP runtime.
    import sklearn  # noqa: F401
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    with threadpool_limits(limits=n_jobs):
        yield
