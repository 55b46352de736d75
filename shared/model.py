"""The trained model as the scoring paths use it (stored by `shared.model_format`).

A `ScoringModel` holds one fitted estimator of a candidate family, its task
(`shared.tasks`), the features it reads (with their categories, in training order) and what
turns its outputs into labels: for binary classification the decision threshold, the two
labels and, when it helped on validation, a probability calibrator; for multiclass the classes,
in the order of the probabilities:

    model.predict_outputs(frame)  what the task outputs: P(positive), (n, k) class probabilities,
                                  or the value
    model.predict_scores(frame)   one float64 per row, in order: P(positive), P(the predicted
                                  class), or the value (what `predictions.score` holds)
    model.predict_labels(frame)   binary: positive_label where score >= threshold, else
                                  negative_label; multiclass: the most probable class

The frame may hold extra columns (ignored). Feature columns are brought to the training types
here, so that an XGBoost category code means the same category at scoring as at training:
numeric -> float64, categorical -> pandas Categorical with exactly the declared categories
(unknown values -> missing). A frame already in that form is not copied.

The estimator is an `xgboost.Booster` (family "xgboost", scored with `inplace_predict`) or a
fitted scikit-learn `Pipeline` of ``("preprocess", ColumnTransformer)`` then
``("classifier", estimator)`` (a regressor for regression: the step keeps its name). Neither
library is imported by this module: loading a model imports only the one it needs, which keeps a
function's cold start short.

Models are stored single-threaded (right for concurrent HTTP requests of a few rows); a batch
scorer that has the instance's cores to itself calls `set_threads(n)` once after loading.
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from shared.errors import DataError, UsageError
from shared.tasks import Task, definition

if TYPE_CHECKING:
    # Imported where it is used: unpickling a model for the HTTP path must not import pandas
    # (~0.5 s of a new instance's first request).
    import pandas as pd

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
Label = bool | int | float | str
FAMILIES: tuple[str, ...] = (
    "xgboost",
    "logistic_regression",
    "random_forest",
    "hist_gradient_boosting",
)
# Keeps logit() finite for scores of exactly 0 or 1.
_LOGIT_CLIP = 1e-12


@dataclass(frozen=True)
class FeatureSpec:
    """One model input. Booleans arrive as numeric 0/1; categorical ones list every category."""

    name: str
    kind: Literal["numeric", "categorical"]
    categories: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("numeric", "categorical"):
            raise UsageError(
                f"feature {self.name!r}: kind must be 'numeric' or 'categorical', got {self.kind!r}"
            )
        if self.kind == "numeric" and self.categories is not None:
            raise UsageError(f"feature {self.name!r} is numeric and cannot have categories")
        if self.kind == "categorical":
            if self.categories is not None and not isinstance(self.categories, tuple):
                # A list from a config file would make the spec unhashable and mutable.
                object.__setattr__(self, "categories", tuple(self.categories))
            if not self.categories:
                raise UsageError(f"categorical feature {self.name!r} needs its categories")
            if len(set(self.categories)) != len(self.categories):
                raise UsageError(f"categorical feature {self.name!r} repeats a category")


@dataclass(frozen=True)
class SigmoidCalibrator:
    """Platt scaling of the raw score's logit: p = sigmoid(slope * logit(score) + intercept)."""

    slope: float
    intercept: float

    @property
    def method(self) -> str:
        return "sigmoid"

    def __call__(self, scores: FloatArray) -> FloatArray:
        clipped = np.clip(scores, _LOGIT_CLIP, 1 - _LOGIT_CLIP)
        logit = np.log(clipped) - np.log1p(-clipped)
        # The logistic function written with tanh, which cannot overflow.
        return np.asarray(0.5 * (1.0 + np.tanh(0.5 * (self.slope * logit + self.intercept))))


@dataclass(frozen=True, eq=False)
class IsotonicCalibrator:
    """A monotone step function, linear between its knots and flat beyond the outer ones
    (what scikit-learn's IsotonicRegression(out_of_bounds="clip") predicts, without importing it).
    """

    knots_x: FloatArray
    knots_y: FloatArray

    @property
    def method(self) -> str:
        return "isotonic"

    def __call__(self, scores: FloatArray) -> FloatArray:
        return np.asarray(np.interp(scores, self.knots_x, self.knots_y), dtype=np.float64)


Calibrator = SigmoidCalibrator | IsotonicCalibrator


@dataclass(frozen=True, eq=False)
class ScoringModel:
    """A trained model ready to score frames; see the module docstring."""

    family: str
    features: tuple[FeatureSpec, ...]
    # An xgboost.Booster for family "xgboost", otherwise a fitted scikit-learn Pipeline.
    estimator: Any
    threshold: float = 0.5  # binary only
    positive_label: Label = 1  # binary only
    negative_label: Label = 0  # binary only
    calibrator: Calibrator | None = None  # binary only
    # Library versions at training time: a model read by other versions may score differently.
    versions: Mapping[str, str] = field(default_factory=dict)
    task: Task = "binary_classification"
    # Multiclass: every class label, as labels are spelled, in the order of the probabilities.
    classes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise UsageError(f"unknown model family {self.family!r}; known: {', '.join(FAMILIES)}")
        task = definition(self.task)
        if self.family not in task.families:
            raise UsageError(f"a {self.family} model cannot be a {self.task} model")
        if task.has_probabilities and len(self.classes) < 3:
            raise UsageError(f"a multiclass model needs 3 or more classes, got {self.classes}")
        if not task.has_probabilities and self.classes:
            raise UsageError(f"a {self.task} model has no class list")
        if self.calibrator is not None and not task.has_threshold:
            raise UsageError(f"a {self.task} model has no probability calibrator")

    @property
    def calibrated(self) -> bool:
        return self.calibrator is not None

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(feature.name for feature in self.features)

    def predict_outputs(self, frame: pd.DataFrame) -> FloatArray:
        """P(positive) per row; (rows, classes) probabilities; or the value per row."""
        _require_columns(frame, self.features)
        if len(frame) == 0:
            shape = (0, len(self.classes)) if self.classes else (0,)
            return np.empty(shape, dtype=np.float64)
        raw = self._raw_outputs(frame)
        return raw if self.calibrator is None else self.calibrator(raw)

    def predict_scores(self, frame: pd.DataFrame) -> FloatArray:
        return scores_of(self.predict_outputs(frame))

    def predict_labels(self, frame: pd.DataFrame) -> npt.NDArray[Any]:
        outputs = self.predict_outputs(frame)
        if self.classes:
            labels: npt.NDArray[Any] = np.asarray(self.classes, dtype=object)
            return np.asarray(labels[np.argmax(outputs, axis=1)])
        if self.task == "regression":
            raise UsageError("a regression model predicts values, not labels")
        return np.where(outputs >= self.threshold, self.positive_label, self.negative_label)

    def set_threads(self, threads: int) -> None:
        """Threads one prediction may use. Models are stored single-threaded: concurrent requests
        each score on one core, and a few rows score fastest so. A batch scorer with the cores
        to itself raises it. Call once after loading, not while predictions run.
        """
        if self.family == "xgboost":
            self.estimator.set_param({"nthread": threads})
        elif "n_jobs" in self.estimator.named_steps["classifier"].get_params():
            self.estimator.named_steps["classifier"].set_params(n_jobs=threads)

    def _raw_outputs(self, frame: pd.DataFrame) -> FloatArray:
        if self.family == "xgboost":
            # A float matrix, not the DataFrame: XGBoost's own DataFrame handling costs 2-4 ms a
            # call, most of a one-row HTTP request and 5-25% of a 50k-row chunk (less the more
            # trees the model has).
            matrix = feature_matrix(frame, self.features)
            return np.asarray(self.estimator.inplace_predict(matrix), dtype=np.float64)
        inputs = select_features(frame, self.features)
        if self.task == "regression":
            return np.asarray(self.estimator.predict(inputs), dtype=np.float64)
        probabilities = np.asarray(self.estimator.predict_proba(inputs), dtype=np.float64)
        return probabilities if self.classes else probabilities[:, 1]


def scores_of(outputs: FloatArray) -> FloatArray:
    """The one score per row of a model's outputs: the output itself, or for class
    probabilities the probability of the predicted (most probable) class."""
    if outputs.ndim == 1:
        return outputs
    if outputs.shape[0] == 0:
        return np.empty(0, dtype=np.float64)
    return np.asarray(outputs.max(axis=1), dtype=np.float64)


def select_features(frame: pd.DataFrame, features: tuple[FeatureSpec, ...]) -> pd.DataFrame:
    """The feature columns of `frame`, in model order, with the training types."""
    import pandas as pd

    _require_columns(frame, features)
    columns = {
        feature.name: _numeric(frame[feature.name], feature.name)
        if feature.kind == "numeric"
        else _categorical(frame[feature.name], feature.categories or ())
        for feature in features
    }
    return pd.DataFrame(columns, index=frame.index, copy=False)


def feature_matrix(frame: pd.DataFrame, features: tuple[FeatureSpec, ...]) -> Float32Array:
    """The features of `frame` as floats in model order: numbers, category codes, NaN if missing.

    What XGBoost reads from a categorical column, made without building the column. float32,
    as XGBoost computes: a float64 matrix would only be converted on the way in.
    """
    _require_columns(frame, features)
    matrix = np.empty((len(frame), len(features)), dtype=np.float32)
    for position, feature in enumerate(features):
        column = frame[feature.name]
        if feature.kind == "numeric":
            matrix[:, position] = _numeric(column, feature.name).to_numpy(dtype=np.float64)
        else:
            codes = _codes(column, feature.categories or ())
            matrix[:, position] = np.where(codes < 0, np.nan, codes)
    return matrix


def category_codes(values: pd.Series, categories: tuple[str, ...]) -> npt.NDArray[np.intp]:
    """Position of each value in `categories`; -1 for missing and unknown values."""
    import pandas as pd

    return np.asarray(_category_index(categories).get_indexer(pd.Index(values)), dtype=np.intp)


@functools.lru_cache(maxsize=1024)
def _category_index(categories: tuple[str, ...]) -> pd.Index:
    import pandas as pd

    return pd.Index(categories)


def _require_columns(frame: pd.DataFrame, features: tuple[FeatureSpec, ...]) -> None:
    missing = [feature.name for feature in features if feature.name not in frame.columns]
    if missing:
        raise DataError(
            f"missing feature column(s) {', '.join(map(repr, missing))}; "
            f"the model reads {len(features)} features"
        )


def library_versions(engine: str) -> dict[str, str]:
    """The versions a model trained now depends on, for its files to be judged later."""
    import pandas as pd

    versions = {"python": platform.python_version(), "numpy": np.__version__}
    versions["pandas"] = pd.__version__
    if engine == "xgboost":
        import xgboost

        versions["xgboost"] = str(xgboost.__version__)
    else:
        import sklearn

        versions["scikit-learn"] = str(sklearn.__version__)
    return versions


def _numeric(column: pd.Series, name: str) -> pd.Series:
    import pandas as pd

    if column.dtype == np.float64:
        return column
    try:
        return column.astype(np.float64)
    except (TypeError, ValueError):
        pass
    try:
        return pd.to_numeric(column, errors="raise").astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"feature {name!r} must be numeric: {exc}") from exc


def _categorical(column: pd.Series, categories: tuple[str, ...]) -> pd.Series:
    import pandas as pd

    if _has_categories(column, categories):
        return column
    codes = category_codes(column, categories)
    coded = pd.Categorical.from_codes(codes, categories=_category_index(categories))
    return pd.Series(coded, index=column.index, name=column.name)


def _codes(column: pd.Series, categories: tuple[str, ...]) -> npt.NDArray[np.integer]:
    if _has_categories(column, categories):
        return np.asarray(column.cat.codes.to_numpy())
    return category_codes(column, categories)


def _has_categories(column: pd.Series, categories: tuple[str, ...]) -> bool:
    import pandas as pd

    dtype = column.dtype
    return (
        isinstance(dtype, pd.CategoricalDtype)
        and not dtype.ordered
        and dtype.categories.tolist() == list(categories)
    )
