"""The ScoringModel: inputs it accepts, errors it names, stored and read back, fast paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shared.errors import DataError, UsageError
from shared.model import (
    FeatureSpec,
    IsotonicCalibrator,
    ScoringModel,
    SigmoidCalibrator,
    feature_matrix,
    select_features,
)
from shared.model_format import CARD_FILE, ModelCard, load_model, model_files
from shared.training import TrainingOutcome, train_model
from shared.training.calibration import fit_isotonic, fit_sigmoid
from tests.unit.training_data import demo_frame, quick_demo_spec


@pytest.fixture(scope="module")
def xgboost_model() -> ScoringModel:
    outcome = train_model(demo_frame(4000, seed=11), quick_demo_spec(candidates=("xgboost",)))
    return outcome.model


@pytest.fixture(scope="module")
def sklearn_outcome() -> TrainingOutcome:
    spec = quick_demo_spec(candidates=("logistic_regression",))
    return train_model(demo_frame(4000, seed=12), spec)


@pytest.fixture(scope="module")
def fresh() -> pd.DataFrame:
    return demo_frame(3000, seed=13)


def test_models_have_the_families_asked_for(
    xgboost_model: ScoringModel, sklearn_outcome: TrainingOutcome
) -> None:
    assert xgboost_model.family == "xgboost"
    assert type(xgboost_model.estimator).__name__ == "Booster"
    pipeline = sklearn_outcome.model.estimator
    assert [name for name, _ in pipeline.steps] == ["preprocess", "classifier"]
    assert "xgboost" in xgboost_model.versions
    assert "scikit-learn" in sklearn_outcome.model.versions


@pytest.mark.parametrize("which", ["xgboost", "sklearn"])
def test_stored_and_read_back_it_scores_identically(
    which: str,
    xgboost_model: ScoringModel,
    sklearn_outcome: TrainingOutcome,
    fresh: pd.DataFrame,
) -> None:
    model = xgboost_model if which == "xgboost" else sklearn_outcome.model
    files = model_files(model)
    loaded = load_model(ModelCard.from_bytes(files[CARD_FILE]), files)
    assert isinstance(loaded, ScoringModel)
    assert np.array_equal(loaded.predict_scores(fresh), model.predict_scores(fresh))
    assert loaded.threshold == model.threshold
    assert loaded.calibrated == model.calibrated
    assert loaded.features == model.features


def test_extra_columns_are_ignored_and_order_does_not_matter(
    xgboost_model: ScoringModel, fresh: pd.DataFrame
) -> None:
    only_features = fresh[list(xgboost_model.feature_names)]
    shuffled = fresh[list(reversed(fresh.columns))].assign(unrelated=1.0)
    expected = xgboost_model.predict_scores(only_features)
    assert np.array_equal(xgboost_model.predict_scores(shuffled), expected)
    assert expected.dtype == np.float64 and expected.shape == (len(fresh),)
    assert ((expected > 0) & (expected < 1)).all()


def test_missing_feature_columns_are_named(
    sklearn_outcome: TrainingOutcome, fresh: pd.DataFrame
) -> None:
    with pytest.raises(DataError, match="'credit_score', 'region'"):
        sklearn_outcome.model.predict_scores(fresh.drop(columns=["region", "credit_score"]))


def test_the_float_matrix_reads_as_xgboosts_own_dataframe_handling(
    xgboost_model: ScoringModel, fresh: pd.DataFrame
) -> None:
    # XGBoost is handed a float32 matrix of numbers and category codes, not the DataFrame.
    booster, features = xgboost_model.estimator, xgboost_model.features
    matrix = feature_matrix(fresh, features)
    assert matrix.dtype == np.float32
    own = booster.inplace_predict(select_features(fresh, features))
    assert np.array_equal(booster.inplace_predict(matrix), own)


def test_small_and_large_frames_score_alike(
    xgboost_model: ScoringModel, fresh: pd.DataFrame
) -> None:
    whole = xgboost_model.predict_scores(fresh)
    pieces = np.concatenate(
        [xgboost_model.predict_scores(fresh.iloc[i : i + 7]) for i in range(0, 700, 7)]
    )
    assert np.array_equal(pieces, whole[:700])


def test_categories_in_another_order_or_as_text_score_the_same(
    xgboost_model: ScoringModel, fresh: pd.DataFrame
) -> None:
    reordered = fresh.assign(
        region=pd.Categorical(fresh["region"], categories=["west", "south", "midwest", "northeast"])
    )
    expected = xgboost_model.predict_scores(fresh)
    assert np.array_equal(xgboost_model.predict_scores(reordered), expected)
    texts = fresh.assign(age=fresh["age"].astype(str))
    assert np.array_equal(xgboost_model.predict_scores(texts), expected)


def test_a_non_numeric_value_in_a_numeric_feature_is_named(
    xgboost_model: ScoringModel, fresh: pd.DataFrame
) -> None:
    broken = fresh.head(5).astype({"age": object})
    broken.loc[broken.index[2], "age"] = "forty"
    with pytest.raises(DataError, match="feature 'age' must be numeric"):
        xgboost_model.predict_scores(broken)


def test_labels_follow_the_threshold(sklearn_outcome: TrainingOutcome, fresh: pd.DataFrame) -> None:
    model = sklearn_outcome.model
    scores = model.predict_scores(fresh)
    labels = model.predict_labels(fresh)
    # Labels are kept as text, as every path spells them ("1", not 1 or 1.0).
    assert np.array_equal(labels, np.where(scores >= model.threshold, "1", "0"))
    assert 0 < (labels == "1").mean() < 1


def test_no_rows_give_no_scores(xgboost_model: ScoringModel, fresh: pd.DataFrame) -> None:
    assert xgboost_model.predict_scores(fresh.head(0)).shape == (0,)


def test_calibrators_match_the_methods_they_stand_for() -> None:
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(0)
    raw = rng.random(2000)
    y = (rng.random(2000) < raw**2).astype(np.int8)
    isotonic = fit_isotonic(y, raw)
    floor = 0.5 / len(y)
    reference = IsotonicRegression(y_min=floor, y_max=1 - floor, out_of_bounds="clip").fit(raw, y)
    probe = np.concatenate([rng.random(500), [-1.0, 2.0]])
    assert np.allclose(isotonic(probe), reference.predict(probe))
    assert isinstance(isotonic, IsotonicCalibrator)
    sigmoid = fit_sigmoid(y, raw)
    assert isinstance(sigmoid, SigmoidCalibrator)
    # Platt's fit is the maximum of the likelihood: nudging either parameter lowers it.
    logit = np.log(raw) - np.log1p(-raw)

    def likelihood(slope: float, intercept: float) -> float:
        p = 1 / (1 + np.exp(-(slope * logit + intercept)))
        return float(np.sum(y * np.log(p) + (1 - y) * np.log1p(-p)))

    best = likelihood(sigmoid.slope, sigmoid.intercept)
    for d_slope, d_intercept in ((0.01, 0), (-0.01, 0), (0, 0.01), (0, -0.01)):
        assert likelihood(sigmoid.slope + d_slope, sigmoid.intercept + d_intercept) < best


def test_feature_specs_refuse_impossible_declarations() -> None:
    with pytest.raises(UsageError, match="needs its categories"):
        FeatureSpec("color", "categorical")
    with pytest.raises(UsageError, match="cannot have categories"):
        FeatureSpec("age", "numeric", ("a",))
    with pytest.raises(UsageError, match="unknown model family"):
        ScoringModel(family="svm", features=(), estimator=None)


def test_models_are_stored_single_threaded_and_threads_do_not_change_scores(
    xgboost_model: ScoringModel, fresh: pd.DataFrame
) -> None:
    import json

    config = json.loads(xgboost_model.estimator.save_config())
    assert config["learner"]["generic_param"]["nthread"] == "1"
    single = xgboost_model.predict_scores(fresh)
    xgboost_model.set_threads(2)
    try:
        assert np.array_equal(xgboost_model.predict_scores(fresh), single)
    finally:
        xgboost_model.set_threads(1)
