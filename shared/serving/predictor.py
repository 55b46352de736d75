"""Score checked instances with one model version, without the per-call overhead of the batch
path's frames (`ScoringModel.predict_scores` builds a DataFrame; a scikit-learn pipeline checks
its input on every call, 8-10 ms for one row).

    predictor = Predictor.of_version(version)   # a registry ModelVersion
    predictor = Predictor.of(model)             # a ScoringModel in memory (with its ONNX graph)
    predictor.outputs(rows)                     # what the model's task outputs, per row of
                                                # model inputs from InstanceChecker
    predictor.scores(rows)                      # binary: P(positive), calibrated
    predictor.explain(rows)                     # per-feature contributions to the margin
    predictor.explain_classes(rows)             # multiclass: the same, per class

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
from shared.tasks import Task

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
    @property
    def task(self) -> Task: ...
    @property
    def classes(self) -> tuple[str, ...]: ...


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
        self.task = described.task
        self.classes = described.classes
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

    def outputs(self, rows: list[list[float]]) -> npt.NDArray[np.float64]:
        """P(positive) (calibrated), (rows, classes) probabilities, or the value, per row."""
        outputs = self.raw_scores(rows)
        if self._calibrator is not None:
            outputs = np.asarray(self._calibrator(outputs), dtype=np.float64)
        return outputs

    def scores(self, rows: list[list[float]]) -> list[float]:
        values: list[float] = self.outputs(rows).tolist()
        return values

    def labels(self, scores: list[float]) -> list[Any]:
        positive, negative, threshold = self._positive, self._negative, self._threshold
        return [positive if score >= threshold else negative for score in scores]

    def raw_scores(self, rows: list[list[float]]) -> npt.NDArray[np.float64]:
        """The uncalibrated outputs: sigmoid (softmax) of the margin(s) the explanations add up
        to, or the value."""
        if self._pipeline is not None:
            return self._pipeline.predict(np.asarray(rows, dtype=np.float64))
        matrix = np.asarray(rows, dtype=np.float32)
        if self._onnx is not None:
            return self._onnx.outputs(matrix)
        return np.asarray(self._model().estimator.inplace_predict(matrix), dtype=np.float64)

    def explain(self, rows: list[list[float]]) -> list[Explanation]:
        """Binary and regression models: each row's contributions to its one margin."""
        if self.classes:
            raise UsageError("a multiclass model is explained per class: explain_classes")
        matrix = np.asarray(rows, dtype=np.float64)
        if self._pipeline is None:
            return [per_class[0] for per_class in self._explain_xgboost(matrix)]
        return [per_class[0] for per_class in self._pipeline.explain(matrix, self.feature_names)]

    def explain_classes(self, rows: list[list[float]]) -> list[dict[str, Explanation]]:
        """A multiclass model: each row's contributions to the margin of every class."""
        matrix = np.asarray(rows, dtype=np.float64)
        if self._pipeline is None:
            explained = self._explain_xgboost(matrix)
        else:
            explained = self._pipeline.explain(matrix, self.feature_names)
        return [dict(zip(self.classes, per_class, strict=True)) for per_class in explained]

    def _explain_xgboost(self, matrix: FloatMatrix) -> list[list[Explanation]]:
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
        if contributions.ndim == 2:  # one margin: (rows, features + bias)
            contributions = contributions[:, np.newaxis, :]
        return [
            [
                Explanation(
                    dict(zip(self.feature_names, (float(v) for v in margin[:-1]), strict=True)),
                    float(margin[-1]),
                )
                for margin in row
            ]
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
            coef, intercept = self.classifier.coef_, self.classifier.intercept_
            if len(coef) == 1:  # binary: one margin
                margin = transformed @ coef[0] + intercept[0]
                return np.asarray(0.5 * (1.0 + np.tanh(0.5 * margin)), dtype=np.float64)
            margins = transformed @ coef.T + intercept
            exp = np.exp(margins - margins.max(axis=1, keepdims=True))
            return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float64)
        if not hasattr(self.classifier, "predict_proba"):  # a regressor
            return np.asarray(self.classifier.predict(transformed), dtype=np.float64)
        probabilities = np.asarray(self.classifier.predict_proba(transformed), dtype=np.float64)
        return probabilities[:, 1] if probabilities.shape[1] == 2 else probabilities

    def explain(self, matrix: FloatMatrix, names: tuple[str, ...]) -> list[list[Explanation]]:
        """Per row, per margin (one, or one per class)."""
        if not _is_logistic(self.classifier):
            raise NotExplainable(
                f"explanations are not supported for {type(self.classifier).__name__} models; "
                "XGBoost and logistic regression models have them"
            )
        transformed = self.transform(matrix)
        coef, intercept = self.classifier.coef_, self.classifier.intercept_
        explanations = []
        for row in transformed:
            per_margin = []
            for weights, bias in zip(coef, intercept.tolist(), strict=True):
                by_feature = dict.fromkeys(names, 0.0)
                for owner, term in zip(self.owners, (row * weights).tolist(), strict=True):
                    by_feature[owner] += term
                per_margin.append(Explanation(by_feature, float(bias)))
            explanations.append(per_margin)
        return explanations


def _is_logistic(classifier: Any) -> bool:
    return type(classifier).__name__ == "LogisticRegression"
