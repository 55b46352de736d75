"""XGBoost trials: native categorical splits, early stopping on the validation split, a deadline.

The training and validation matrices are quantised once (`QuantileDMatrix`, the validation one
on the training bins) and shared by all trials, which saves both time and memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shared.model import ScoringModel, library_versions
from shared.tasks import definition
from shared.training.candidates import Params
from shared.training.fitting import FittedTrial, SplitData, past

MAX_ROUNDS = 2000
EARLY_STOPPING_ROUNDS = 50


class XGBoostTrainer:
    family = "xgboost"

    def __init__(self, data: SplitData) -> None:
        import xgboost as xgb

        self._data = data
        self._train = xgb.QuantileDMatrix(
            data.train, data.y_train, enable_categorical=True, nthread=data.n_jobs
        )
        self._validation = xgb.QuantileDMatrix(
            data.validation,
            data.y_validation,
            enable_categorical=True,
            ref=self._train,
            nthread=data.n_jobs,
        )

    def fit(self, params: Params, deadline: float) -> FittedTrial:
        import xgboost as xgb

        deadline_hit = _DeadlineFlag()
        task = definition(self._data.task)
        classes = {"num_class": len(self._data.classes)} if self._data.classes else {}
        booster = xgb.train(
            {
                "objective": task.xgboost_objective,
                "eval_metric": task.xgboost_eval_metric,
                **classes,
                "tree_method": "hist",
                "seed": self._data.seed,
                "nthread": self._data.n_jobs,
                **params,
            },
            self._train,
            num_boost_round=MAX_ROUNDS,
            evals=[(self._validation, "validation")],
            # Early stopping goes first: XGBoost stops asking callbacks once one says stop, and
            # it must record every round's validation loss, the last one included.
            callbacks=[
                xgb.callback.EarlyStopping(rounds=EARLY_STOPPING_ROUNDS),
                _deadline_callback(deadline, deadline_hit),
            ],
            verbose_eval=False,
        )
        # Keep only the rounds up to the best one: a smaller model that scores faster.
        best = booster[: booster.best_iteration + 1]
        scores = np.asarray(best.inplace_predict(self._data.validation), dtype=np.float64)
        fitted = {**params, "rounds": best.num_boosted_rounds()}
        return FittedTrial(fitted, best, scores, deadline_hit.hit)

    def scoring_model(self, trial: FittedTrial) -> ScoringModel:
        return ScoringModel(
            family=self.family,
            features=self._data.features,
            estimator=trial.estimator,
            versions=library_versions("xgboost"),
            task=self._data.task,
            classes=self._data.classes,
        )


class _DeadlineFlag:
    hit = False


def _deadline_callback(deadline: float, flag: _DeadlineFlag) -> Any:
    """A training callback that ends boosting once the deadline has passed."""
    import xgboost as xgb

    class StopAtDeadline(xgb.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            if past(deadline):
                flag.hit = True
                return True
            return False

    return StopAtDeadline()
