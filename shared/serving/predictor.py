"""Score checked instances with one model version, without the per-call overhead of the batch
path's frames (`ScoringModel.predict_scores` builds a DataFrame; a scikit-learn pipeline checks
its input on every call, 8-10 ms for one row).

    predictor = Predictor.of(model)        # a ScoringModel, as the registry stores it
    predictor.scores(rows)                 # rows of model inputs from InstanceChecker
    predictor.explain(rows)                # per-feature contributions to the margin

XGBoost's trees are compiled to NumPy arrays (`shared.serving.compiled_trees`), which score a
few rows in tens of µs where `inplace_predict` costs ~150 µs a call, with the same float32
result; one row of an ensemble of up to 8,000 nodes goes through bit masks of its leaves
(`shared.serving.leaf_bits`), in ~6 µs with three NumPy calls (to read the leaves and sum them
in float32). Many rows, or a model the compiler refuses, are scored by `inplace_predict` on the
float matrix. A scikit-learn pipeline, which cloudscore always builds as imputers, a scaler and
a one-hot encoder in front of the classifier (`shared.training.sklearn_fit`), is compiled into
the same arithmetic on NumPy arrays; the classifier then scores the transformed matrix
(logistic regression: one dot product). A parity test holds each to
`ScoringModel.predict_scores`.

Explanations are additive contributions to the model's margin (log-odds), one per feature, plus
a bias: for XGBoost its own SHAP values (`pred_contribs`), for logistic regression coefficient
times transformed value, summed over a feature's columns. The margin is of the uncalibrated
model: with a calibrator the score is calibrate(sigmoid(margin)). Forests and histogram boosting
from scikit-learn have no exact additive explanation here: `NotExplainable`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from shared.errors import UsageError
from shared.serving.compiled_trees import CompiledTrees, NotCompilable

FloatMatrix = npt.NDArray[np.float64]
_LOGIT_CLIP: Final = 1e-12
# The compiled trees score a request while its rows x trees x levels stay below this; above it,
# `inplace_predict`'s fixed cost is paid back and it scores faster (measured on the demo model:
# equal at ~100 rows of 135 trees of depth 3).
COMPILED_WORK_LIMIT: Final = 30_000
_log = logging.getLogger(__name__)


class NotExplainable(UsageError):
    """The model kind has no sound additive explanation here."""


@dataclass(frozen=True)
class Explanation:
    contributions: dict[str, float]
    bias: float

    @property
    def margin(self) -> float:
        return self.bias + math.fsum(self.contributions.values())


class Predictor:
    def __init__(self, model: Any) -> None:
        self.model = model
        self.feature_names: tuple[str, ...] = tuple(f.name for f in model.features)
        # A Python float: a model's threshold may be a NumPy scalar, whose comparison with each
        # score costs µs.
        self._threshold = float(model.threshold)
        self._compiled = _CompiledPipeline(model) if model.family != "xgboost" else None
        self._trees = _compiled_trees(model.estimator) if model.family == "xgboost" else None
        self._trees_max_rows = (
            max(1, COMPILED_WORK_LIMIT // (self._trees.n_trees * max(1, self._trees.depth)))
            if self._trees is not None
            else 0
        )

    @classmethod
    def of(cls, model: Any) -> Predictor:
        return cls(model)

    @property
    def compiled_trees(self) -> CompiledTrees | None:
        """An XGBoost model's compiled trees; None when XGBoost scores every request."""
        return self._trees

    @property
    def compiled_max_rows(self) -> int:
        """The most rows a request may have to be scored by the compiled trees."""
        return self._trees_max_rows

    def scores(self, rows: list[list[float]]) -> list[float]:
        calibrator = self.model.calibrator
        if self._trees is not None and len(rows) == 1:  # the common request, without arrays
            raw = self._trees.predict_one(rows[0])
            return [raw if calibrator is None else calibrator.one(raw)]
        scores = self._raw(np.asarray(rows, dtype=np.float64))
        if calibrator is not None:
            scores = np.asarray(calibrator(scores), dtype=np.float64)
        values: list[float] = scores.tolist()
        return values

    def labels(self, scores: list[float]) -> list[Any]:
        positive, negative = self.model.positive_label, self.model.negative_label
        threshold = self._threshold
        if len(scores) == 1:  # the common request: no comprehension to set up
            return [positive if scores[0] >= threshold else negative]
        return [positive if score >= threshold else negative for score in scores]

    def explain(self, rows: list[list[float]]) -> list[Explanation]:
        matrix = np.asarray(rows, dtype=np.float64)
        if self._compiled is None:
            return self._explain_xgboost(matrix)
        return self._compiled.explain(matrix, self.feature_names)

    def raw_scores(self, rows: list[list[float]]) -> npt.NDArray[np.float64]:
        """The uncalibrated scores: sigmoid of the margin the explanations add up to."""
        return self._raw(np.asarray(rows, dtype=np.float64))

    def _raw(self, matrix: FloatMatrix) -> npt.NDArray[np.float64]:
        if self._compiled is not None:
            return self._compiled.predict(matrix)
        inputs = matrix.astype(np.float32)
        if self._trees is not None and len(inputs) <= self._trees_max_rows:
            return np.asarray(self._trees.predict(inputs), dtype=np.float64)
        booster = self.model.estimator
        return np.asarray(booster.inplace_predict(inputs), dtype=np.float64)

    def _explain_xgboost(self, matrix: FloatMatrix) -> list[Explanation]:
        import xgboost

        booster = self.model.estimator
        data = xgboost.DMatrix(
            matrix.astype(np.float32),
            feature_names=booster.feature_names,
            feature_types=booster.feature_types,
            enable_categorical=True,
            nthread=1,
        )
        contributions = booster.predict(data, pred_contribs=True)
        return [
            Explanation(
                dict(zip(self.feature_names, (float(v) for v in row[:-1]), strict=True)),
                float(row[-1]),
            )
            for row in contributions
        ]


class _CompiledPipeline:
    """A cloudscore scikit-learn pipeline as array arithmetic; see the module docstring."""

    def __init__(self, model: Any) -> None:
        pipeline = model.estimator
        preprocess = pipeline.named_steps["preprocess"]
        self.classifier = pipeline.named_steps["classifier"]
        position = {feature.name: i for i, feature in enumerate(model.features)}
        categories = {f.name: f.categories for f in model.features if f.categories is not None}
        self.numeric: list[int] = []
        self.numeric_fill = np.empty(0)
        self.indicator: list[int] = []  # positions (in self.numeric) with a missing indicator
        self.mean = np.empty(0)
        self.scale = np.empty(0)
        # Per categorical feature: its input position, the code a missing value is imputed
        # with, and the map from the model's category code to its one-hot column.
        self.categorical: list[tuple[int, float, npt.NDArray[np.intp]]] = []
        self.width = 0
        self.owners: list[str] = []  # the input feature of each transformed column
        for name, steps, columns in preprocess.transformers_:
            if steps == "drop" or not len(columns):
                continue
            if name == "numeric":
                self._compile_numeric(steps, list(columns), position)
            elif name == "categorical":
                self._compile_categorical(steps, list(columns), position, categories)
            else:
                raise UsageError(f"unknown preprocessing step {name!r} in the model pipeline")

    def _compile_numeric(self, steps: Any, columns: list[str], position: dict[str, int]) -> None:
        imputer, scaler = steps.steps[0][1], steps.steps[1][1]
        self.numeric = [position[c] for c in columns]
        self.numeric_fill = np.asarray(imputer.statistics_, dtype=np.float64)
        self.indicator = (
            [int(i) for i in imputer.indicator_.features_] if imputer.indicator_ else []
        )
        self.mean = np.asarray(scaler.mean_, dtype=np.float64)
        self.scale = np.asarray(scaler.scale_, dtype=np.float64)
        self.owners += columns + [columns[i] for i in self.indicator]
        self.width += len(columns) + len(self.indicator)

    def _compile_categorical(
        self,
        steps: Any,
        columns: list[str],
        position: dict[str, int],
        categories: dict[str, tuple[str, ...] | None],
    ) -> None:
        imputer, encoder = steps.steps[0][1], steps.steps[1][1]
        for index, column in enumerate(columns):
            known = list(categories[column] or ())
            encoded = [str(c) for c in encoder.categories_[index]]
            # Model code -> one-hot column (-1: a category the encoder ignores).
            onehot = np.array(
                [self.width + encoded.index(c) if c in encoded else -1 for c in known],
                dtype=np.intp,
            )
            fill = str(imputer.statistics_[index])
            fill_code = float(known.index(fill)) if fill in known else math.nan
            self.categorical.append((position[column], fill_code, onehot))
            self.owners += [column] * len(encoded)
            self.width += len(encoded)

    def transform(self, matrix: FloatMatrix) -> FloatMatrix:
        rows = matrix.shape[0]
        out = np.zeros((rows, self.width), dtype=np.float64)
        if self.numeric:
            values = matrix[:, self.numeric]
            missing = np.isnan(values)
            filled = np.where(missing, self.numeric_fill, values)
            imputed = np.hstack([filled, missing[:, self.indicator].astype(np.float64)])
            out[:, : imputed.shape[1]] = (imputed - self.mean) / self.scale
        for column, fill_code, onehot in self.categorical:
            codes = matrix[:, column]
            codes = np.where(np.isnan(codes), fill_code, codes)
            known = ~np.isnan(codes)
            targets = np.full(rows, -1, dtype=np.intp)
            targets[known] = onehot[codes[known].astype(np.intp)]
            hit = targets >= 0
            out[np.flatnonzero(hit), targets[hit]] = 1.0
        return out

    def predict(self, matrix: FloatMatrix) -> npt.NDArray[np.float64]:
        transformed = self.transform(matrix)
        if _is_logistic(self.classifier):
            margin = transformed @ self.classifier.coef_[0] + self.classifier.intercept_[0]
            return np.asarray(0.5 * (1.0 + np.tanh(0.5 * margin)), dtype=np.float64)
        return np.asarray(self.classifier.predict_proba(transformed)[:, 1], dtype=np.float64)

    def explain(self, matrix: FloatMatrix, names: tuple[str, ...]) -> list[Explanation]:
        if not _is_logistic(self.classifier):
            raise NotExplainable(
                f"explanations are not supported for {type(self.classifier).__name__} models; "
                "XGBoost and logistic regression models have them"
            )
        terms = self.transform(matrix) * self.classifier.coef_[0]
        bias = float(self.classifier.intercept_[0])
        explanations = []
        for row in terms:
            by_feature = dict.fromkeys(names, 0.0)
            for owner, term in zip(self.owners, row.tolist(), strict=True):
                by_feature[owner] += term
            explanations.append(Explanation(by_feature, bias))
        return explanations


def _compiled_trees(booster: Any) -> CompiledTrees | None:
    """The booster's trees compiled, or None (scored by XGBoost) when the compiler refuses it
    or fails: the model is served either way."""
    try:
        return CompiledTrees.of(booster)
    except NotCompilable as exc:
        _log.info("XGBoost model not compiled, scored by XGBoost: %s", exc)
    except Exception:
        _log.warning("compiling the XGBoost model failed; it is scored by XGBoost", exc_info=True)
    return None


def _is_logistic(classifier: Any) -> bool:
    return type(classifier).__name__ == "LogisticRegression"
