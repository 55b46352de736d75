"""scikit-learn trials: one preprocessing shared by every family, then the family's classifier
(or, for regression, its regressor: forests and histogram boosting).

Preprocessing: numeric -> median imputation (with a missing-indicator column for features that
had gaps in training) and standard scaling; categorical -> most-frequent imputation and one-hot
over the declared categories (unknown ones ignored). It is fitted once on the training split and
its output reused by all trials of all scikit-learn families. The model that is kept is the
`Pipeline` of that preprocessing and the classifier, so it scores raw feature frames.

Forests grow in batches of trees and gradient boosting in batches of iterations (warm start),
so that a trial stops at its deadline with the trees it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.model import FeatureSpec, FloatArray, ScoringModel, library_versions
from shared.training.candidates import Params
from shared.training.fitting import FittedTrial, SplitData, past

FOREST_TREES = 200
FOREST_BATCH = 25
# Each tree sees at most this many rows: it bounds fit time and model size on large data, where
# more rows per tree barely help a forest.
FOREST_ROWS_PER_TREE = 50_000
BOOSTING_MAX_ITER = 1000
BOOSTING_BATCH = 50
BOOSTING_PATIENCE = 20


@dataclass(frozen=True)
class Preprocessed:
    transformer: Any
    train: FloatArray
    validation: FloatArray


def build_preprocessor(features: tuple[FeatureSpec, ...]) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [feature.name for feature in features if feature.kind == "numeric"]
    categorical = [feature for feature in features if feature.kind == "categorical"]
    parts: list[tuple[str, Any, list[str]]] = []
    if numeric:
        steps = make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
        )
        parts.append(("numeric", steps, numeric))
    if categorical:
        encoder = OneHotEncoder(
            categories=[list(feature.categories or ()) for feature in categorical],
            handle_unknown="ignore",
            sparse_output=False,
        )
        steps = make_pipeline(SimpleImputer(strategy="most_frequent"), encoder)
        parts.append(("categorical", steps, [feature.name for feature in categorical]))
    return ColumnTransformer(parts, sparse_threshold=0.0)


def preprocess(data: SplitData) -> Preprocessed:
    transformer = build_preprocessor(data.features)
    train = np.asarray(transformer.fit_transform(data.train), dtype=np.float64)
    validation = np.asarray(transformer.transform(data.validation), dtype=np.float64)
    return Preprocessed(transformer, train, validation)


class SklearnTrainer:
    def __init__(self, family: str, data: SplitData, prepared: Preprocessed) -> None:
        self.family = family
        self._data = data
        self._prepared = prepared

    def fit(self, params: Params, deadline: float) -> FittedTrial:
        fit = {
            "logistic_regression": self._fit_logistic_regression,
            "random_forest": self._fit_random_forest,
            "hist_gradient_boosting": self._fit_hist_gradient_boosting,
        }[self.family]
        # Histogram boosting's and the linear algebra's threads are training's (fitter_threads).
        estimator, fitted, stopped = fit(params, deadline)
        validation = self._prepared.validation
        if self._data.task == "regression":
            scores = np.asarray(estimator.predict(validation), dtype=np.float64)
        elif self._data.classes:
            scores = np.asarray(estimator.predict_proba(validation), dtype=np.float64)
        else:
            scores = np.asarray(estimator.predict_proba(validation)[:, 1], np.float64)
        return FittedTrial(fitted, estimator, scores, stopped)

    def scoring_model(self, trial: FittedTrial) -> ScoringModel:
        from sklearn.pipeline import Pipeline

        pipeline = Pipeline(
            [("preprocess", self._prepared.transformer), ("classifier", trial.estimator)]
        )
        return ScoringModel(
            family=self.family,
            features=self._data.features,
            estimator=pipeline,
            versions=library_versions("sklearn"),
            task=self._data.task,
            classes=self._data.classes,
        )

    def _fit_logistic_regression(self, params: Params, deadline: float) -> tuple[Any, Params, bool]:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=params["C"], max_iter=1000)
        model.fit(self._prepared.train, self._data.y_train)
        return model, dict(params), False

    def _fit_random_forest(self, params: Params, deadline: float) -> tuple[Any, Params, bool]:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        forest = (
            RandomForestRegressor if self._data.task == "regression" else RandomForestClassifier
        )
        rows = len(self._data.y_train)
        per_tree = None if rows <= FOREST_ROWS_PER_TREE else FOREST_ROWS_PER_TREE / rows
        # Warm start keeps the trees grown so far; the forest's seed makes the batches add the
        # same trees a single fit would.
        model = forest(
            n_estimators=0,
            warm_start=True,
            max_samples=per_tree,
            random_state=self._data.seed,
            n_jobs=self._data.n_jobs,
            **params,
        )
        stopped = False
        for trees in range(FOREST_BATCH, FOREST_TREES + 1, FOREST_BATCH):
            model.set_params(n_estimators=trees)
            model.fit(self._prepared.train, self._data.y_train)
            if trees < FOREST_TREES and past(deadline):
                stopped = True
                break
        return model, {**params, "n_estimators": len(model.estimators_)}, stopped

    def _fit_hist_gradient_boosting(
        self, params: Params, deadline: float
    ) -> tuple[Any, Params, bool]:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        regression = self._data.task == "regression"
        boosting = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
        model = boosting(
            max_iter=BOOSTING_BATCH,
            warm_start=True,
            early_stopping=True,
            n_iter_no_change=BOOSTING_PATIENCE,
            random_state=self._data.seed,
            **params,
        )
        stopped = False
        for limit in range(BOOSTING_BATCH, BOOSTING_MAX_ITER + 1, BOOSTING_BATCH):
            model.set_params(max_iter=limit)
            model.fit(
                self._prepared.train,
                self._data.y_train,
                X_val=self._prepared.validation,
                y_val=self._data.y_validation,
            )
            if model.n_iter_ < limit:  # early stopping ended it
                break
            if limit < BOOSTING_MAX_ITER and past(deadline):
                stopped = True
                break
        return model, {**params, "max_iter": int(model.n_iter_)}, stopped
