"""The HTTP path's predictor for multiclass and regression models: the batch path's outputs for
the same rows, and explanations (per class for multiclass) that add up to the margin."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from shared.model import ScoringModel, feature_matrix
from shared.serving.predictor import NotExplainable, Predictor
from shared.training import train_model
from shared.training.onnx_export import booster_onnx
from tests.unit.training_data import multiclass_frame, regression_frame

CASES = [
    ("multiclass", "xgboost"),
    ("multiclass", "logistic_regression"),
    ("multiclass", "random_forest"),
    ("regression", "xgboost"),
    ("regression", "hist_gradient_boosting"),
]


@pytest.fixture(scope="module", params=CASES, ids=["-".join(case) for case in CASES])
def trained(request: pytest.FixtureRequest) -> tuple[pd.DataFrame, ScoringModel]:
    task, family = request.param
    frame, spec = (multiclass_frame if task == "multiclass" else regression_frame)(1500, seed=9)
    spec = dataclasses.replace(spec, candidates=(family,), max_trials=1, time_bounded=False)
    return frame, train_model(frame, spec).model


def rows_of(model: ScoringModel, frame: pd.DataFrame) -> list[list[float]]:
    """Model inputs as the instance check gives them: numbers as the float64 JSON reads,
    category codes, NaN."""
    matrix = feature_matrix(frame, model.features).astype(np.float64)  # codes: exact
    for position, feature in enumerate(model.features):
        if feature.kind == "numeric":
            matrix[:, position] = frame[feature.name].to_numpy(dtype=np.float64)
    rows: list[list[float]] = matrix.tolist()
    return rows


def test_outputs_are_the_batch_paths_within_1e_6(
    trained: tuple[pd.DataFrame, ScoringModel],
) -> None:
    frame, model = trained
    sample = frame.head(300)
    scorer = booster_onnx(model.estimator) if model.family == "xgboost" else None
    predictor = Predictor.of(model, scorer)
    if model.family == "xgboost" and model.task == "multiclass_classification":
        assert predictor.scored_by == "onnxruntime"
    found = predictor.outputs(rows_of(model, sample))
    expected = model.predict_outputs(sample)
    assert found.shape == expected.shape
    # Regression values are in the thousands: float32 trees differ in the last bits there.
    tolerance = 1e-6 if model.classes else 1e-6 * float(np.abs(expected).max())
    np.testing.assert_allclose(found, expected, rtol=0, atol=tolerance)
    assert (predictor.task, predictor.classes) == (model.task, model.classes)


def test_explanations_add_up_to_the_margins_of_the_outputs(
    trained: tuple[pd.DataFrame, ScoringModel],
) -> None:
    frame, model = trained
    sample = frame.head(40)
    predictor = Predictor.of(model)
    rows = rows_of(model, sample)
    if model.family not in ("xgboost", "logistic_regression"):
        with pytest.raises(NotExplainable):
            predictor.explain_classes(rows) if model.classes else predictor.explain(rows)
        return
    outputs = model.predict_outputs(sample)
    if model.classes:
        explained = predictor.explain_classes(rows)
        assert all(list(row) == list(model.classes) for row in explained)
        margins = np.array([[e.margin for e in row.values()] for row in explained])
        softmax = np.exp(margins - margins.max(axis=1, keepdims=True))
        softmax /= softmax.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(softmax, outputs, atol=1e-5)
        first = explained[0][model.classes[0]]
        assert set(first.contributions) == {f.name for f in model.features}
        with pytest.raises(Exception, match="per class"):
            predictor.explain(rows)
    else:
        margins = np.array([e.margin for e in predictor.explain(rows)])
        np.testing.assert_allclose(margins, outputs, rtol=1e-5)
