"""Score checked instances with one model version, without the per-call overhead of the batch
path's frames (`ScoringModel.predict_scores` builds a DataFrame; a scikit-learn pipeline checks
its input on every call, 8-10 ms for one row).

    predictor = Predictor.of_version(version)   # a registry ModelVersion
    predictor = Predictor.of(model)             # a ScoringModel in memory (with its ONNX graph)
    predictor.scores(rows)                      # rows of model inputs from InstanceChecker
    predictor.explain(rows)                     # per-feature contributions to the margin

An XGBoost model is scored by onnxruntime from the ONNX graph stored beside its booster
(`shared.training.onnx_export`, which holds the graph to XGBoost's scores when it is made): one
call for all the rows of a request, ~10 µs for one row and ~0.2 ms for a hundred, where
`inplace_predict` costs ~150 µs and ~0.4 ms; the request path imports neither XGBoost nor
scikit-learn. A version without a graph (the conversion was refused) is scored by XGBoost.
A scikit-learn pipeline, which cloudscore always builds as imputers, a scaler and a one-hot
encoder in front of the classifier (`shared.training.sklearn_fit`), is compiled into the same
arithmetic on NumPy arrays; the classifier then scores the transformed matrix (logistic
regression: one dot product). A parity test holds each to `ScoringModel.predict_scores`.

Explanations are additive contributions to the model's margin (log-odds), one per feature, plus
a bias: for XGBoost its own SHAP values (`pred_contribs`, the booster read on the first
explanation), for logistic regression coefficient times transformed value, summed over a
feature's columns. The margin is of the uncalibrated model: with a calibrator the score is
calibrate(sigmoid(margin)). Forests and histogram boosting from scikit-learn have no exact
additive explanation here: `NotExplainable`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from shared.errors import UsageError
from shared.model import Calibrator, FeatureSpec, Label
from shared.serving.onnx_scorer import OnnxScorer

if TYPE_CHECKING:
    from shared.model import ScoringModel
    from shared.registry import ModelVersion

FloatMatrix = npt.NDArray[np.float64]


class NotExplainable(UsageError):
    """The model kind has no sound additive explanation here."""


@dataclass(frozen=True)
class Explanation:
    contributions: dict[str, float]
    bias: float

    @property
    def margin(self) -> float:
        return self.bias + math.fsum(self.contributions.values())


class Described(Protocol):
    """What a predictor needs to know of a model besides its estimator: a `ModelCard` or a
    `ScoringModel`."""

    @property
    def family(self) -> str: ...
    @property
    def features(self) -> tuple[FeatureSpec, ...]: ...
    @property
    def threshold(self) -> float: ...
    @property
    def positive_label(self) -> Label: ...
    @property
    def negative_label(self) -> Label: ...
    @property
    def calibrator(self) -> Calibrator | None: ...


class Predictor:
    def __init__(
        self,
        described: Described,
        model: Callable[[], ScoringModel],
        scorer: bytes | None = None,
    ) -> None:
        """`model`: the scoring model, read when first needed (an XGBoost model scored by its
        ONNX graph `scorer` needs its booster only to explain)."""
        self.family = described.family
        self.feature_names: tuple[str, ...] = tuple(f.name for f in described.features)
        # A Python float: a model's threshold may be a NumPy scalar, whose comparison with each
        # score costs µs.
        self._threshold = float(described.threshold)
        self._positive = described.positive_label
        self._negative = described.negative_label
        self._calibrator = described.calibrator
        self._model = model
        self._onnx = OnnxScorer(scorer) if scorer is not None else None
        self._pipeline = _CompiledPipeline(model()) if described.family != "xgboost" else None

    @classmethod
    def of(cls, model: ScoringModel, scorer: bytes | None = None) -> Predictor:
        return cls(model, lambda: model, scorer)

    @classmethod
    def of_version(cls, version: ModelVersion) -> Predictor:
        return cls(version.card, lambda: version.model, version.scorer)

    @property
    def scored_by(self) -> str:
        """What scores the rows: onnxruntime, xgboost or numpy."""
        if self._pipeline is not None:
            return "numpy"
        return "onnxruntime" if self._onnx is not None else "xgboost"

    def scores(self, rows: list[list[float]]) -> list[float]:
        scores = self.raw_scores(rows)
        if self._calibrator is not None:
            scores = np.asarray(self._calibrator(scores), dtype=np.float64)
        values: list[float] = scores.tolist()
        return values

    def labels(self, scores: list[float]) -> list[Any]:
        positive, negative, threshold = self._positive, self._negative, self._threshold
        return [positive if score >= threshold else negative for score in scores]

    def raw_scores(self, rows: list[list[float]]) -> npt.NDArray[np.float64]:
        """The uncalibrated scores: sigmoid of the margin the explanations add up to."""
        if self._pipeline is not None:
            return self._pipeline.predict(np.asarray(rows, dtype=np.float64))
        matrix = np.asarray(rows, dtype=np.float32)
        if self._onnx is not None:
            return self._onnx.scores(matrix)
        return np.asarray(self._model().estimator.inplace_predict(matrix), dtype=np.float64)

    def explain(self, rows: list[list[float]]) -> list[Explanation]:
        matrix = np.asarray(rows, dtype=np.float64)
        if self._pipeline is None:
            return self._explain_xgboost(matrix)
        return self._pipeline.explain(matrix, self.feature_names)

    def _explain_xgboost(self, matrix: FloatMatrix) -> list[Explanation]:
        import xgboost

        booster = self._model().estimator
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


def _is_logistic(classifier: Any) -> bool:
    return type(classifier).__name__ == "LogisticRegression"
