"""Multiclass and regression training end to end on small data: the gate's baseline, the
metrics (equal to scikit-learn's), the model files; and reproducible training (`max_trials`)
of every task."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from shared.contract import infer_contract
from shared.model_format import CARD_FILE, ModelCard, load_model, model_files
from shared.project_config import load_project_config
from shared.registration import training_spec
from shared.tasks import TASK_DEFINITIONS
from shared.training import GateRefused, TrainingOutcome, train_model
from shared.training.labels import class_target
from shared.training.task_metrics import output_metrics
from tests.unit.training_data import CARDS, demo_frame, multiclass_frame, regression_frame


@pytest.fixture(scope="module")
def multiclass() -> tuple[pd.DataFrame, TrainingOutcome]:
    frame, spec = multiclass_frame(2000, seed=3)
    return frame, train_model(frame, spec)


@pytest.fixture(scope="module")
def regression() -> tuple[pd.DataFrame, TrainingOutcome]:
    frame, spec = regression_frame(2000, seed=4)
    return frame, train_model(frame, spec)


def test_a_multiclass_model_predicts_each_class_probability_and_the_most_probable_label(
    multiclass: tuple[pd.DataFrame, TrainingOutcome],
) -> None:
    frame, outcome = multiclass
    model = outcome.model
    assert model.task == "multiclass_classification"
    assert model.classes == CARDS  # text classes in order
    probabilities = model.predict_outputs(frame.head(200))
    assert probabilities.shape == (200, 4)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    labels = model.predict_labels(frame.head(200))
    assert list(labels) == [CARDS[i] for i in probabilities.argmax(axis=1)]
    np.testing.assert_array_equal(model.predict_scores(frame.head(200)), probabilities.max(axis=1))
    assert outcome.threshold is None
    assert outcome.gate.passed and outcome.gate.metric == "log_loss"
    # The baseline predicts the training class shares: its label is the majority class.
    assert outcome.baseline_metrics["log_loss"] > outcome.test_metrics["log_loss"] + 0.2
    assert {c.family for c in outcome.candidates} == {"xgboost", "logistic_regression"}
    assert all(c.calibration == "none" for c in outcome.candidates)


def test_multiclass_test_metrics_are_scikit_learns_on_the_test_rows(
    multiclass: tuple[pd.DataFrame, TrainingOutcome],
) -> None:
    frame, outcome = multiclass
    test = frame.iloc[outcome.test_positions]
    probabilities = outcome.model.predict_outputs(test)
    predicted = outcome.model.predict_labels(test)
    truth = test["card"].to_numpy()
    found = outcome.test_metrics
    assert found["log_loss"] == pytest.approx(sk.log_loss(truth, probabilities, labels=CARDS))
    assert found["macro_f1"] == pytest.approx(sk.f1_score(truth, predicted, average="macro"))
    assert found["weighted_f1"] == pytest.approx(sk.f1_score(truth, predicted, average="weighted"))
    assert found["accuracy"] == pytest.approx(sk.accuracy_score(truth, predicted))
    recalls = sk.recall_score(truth, predicted, labels=CARDS, average=None)
    for card, recall in zip(CARDS, recalls, strict=True):
        assert found[f"recall[{card}]"] == pytest.approx(recall)


def test_multiclass_metrics_average_over_the_classes_present_as_scikit_learn_does() -> None:
    rng = np.random.default_rng(0)
    y = rng.choice([0, 2, 3], 300)  # class 1 never occurs, and is never predicted either
    probabilities = rng.dirichlet(np.ones(4), 300)
    probabilities[:, 1] = 0
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    found = output_metrics(
        "multiclass_classification", y, probabilities, classes=("a", "b", "c", "d")
    )
    predicted = probabilities.argmax(axis=1)
    assert found["macro_f1"] == pytest.approx(sk.f1_score(y, predicted, average="macro"))
    assert found["weighted_f1"] == pytest.approx(sk.f1_score(y, predicted, average="weighted"))
    assert found["log_loss"] == pytest.approx(sk.log_loss(y, probabilities, labels=[0, 1, 2, 3]))
    assert found["recall[b]"] == 0.0


def test_a_regression_model_predicts_values_and_beats_the_training_mean(
    regression: tuple[pd.DataFrame, TrainingOutcome],
) -> None:
    frame, outcome = regression
    model = outcome.model
    assert model.task == "regression" and model.classes == ()
    values = model.predict_outputs(frame.head(100))
    assert values.shape == (100,)
    np.testing.assert_array_equal(model.predict_scores(frame.head(100)), values)
    with pytest.raises(Exception, match="predicts values, not labels"):
        model.predict_labels(frame.head(3))
    test = frame.iloc[outcome.test_positions]
    predicted = model.predict_outputs(test)
    found = outcome.test_metrics
    assert found["rmse"] == pytest.approx(sk.root_mean_squared_error(test["price"], predicted))
    assert found["mae"] == pytest.approx(sk.mean_absolute_error(test["price"], predicted))
    assert found["r2"] == pytest.approx(sk.r2_score(test["price"], predicted))
    # The noise is 800: a model near it, the mean predictor far above.
    assert found["rmse"] < 1200
    assert outcome.baseline_metrics["rmse"] > 4000
    assert outcome.baseline_metrics["r2"] < 0.01
    assert outcome.gate.passed and outcome.gate.interval[1] < 0


@pytest.mark.parametrize("make", [multiclass_frame, regression_frame])
def test_a_model_of_noise_is_refused_against_the_tasks_baseline(make: object) -> None:
    frame, spec = make(1500, seed=5)  # type: ignore[operator]
    rng = np.random.default_rng(5)
    frame[spec.target] = rng.permutation(frame[spec.target].to_numpy())
    spec = dataclasses.replace(spec, candidates=("xgboost",), max_trials=1)
    with pytest.raises(GateRefused) as refused:
        train_model(frame, spec)
    assert TASK_DEFINITIONS[spec.task].baseline in str(refused.value)


@pytest.mark.parametrize(
    "family", ["random_forest", "hist_gradient_boosting", "logistic_regression", "xgboost"]
)
@pytest.mark.parametrize("make", [multiclass_frame, regression_frame])
def test_every_family_of_a_task_is_stored_and_read_back_scoring_the_same(
    make: object, family: str
) -> None:
    frame, spec = make(1500, seed=6)  # type: ignore[operator]
    if family not in TASK_DEFINITIONS[spec.task].families:
        pytest.skip(f"{family} cannot learn {spec.task}")
    spec = dataclasses.replace(spec, candidates=(family,), max_trials=1, time_bounded=False)
    model = train_model(frame, spec).model
    files = model_files(model)
    card = ModelCard.from_bytes(files[CARD_FILE])
    assert (card.task, card.classes) == (model.task, model.classes)
    again = load_model(card, files)
    np.testing.assert_array_equal(again.predict_outputs(frame), model.predict_outputs(frame))


@pytest.mark.parametrize("family", ["xgboost", "hist_gradient_boosting"])
@pytest.mark.parametrize("make", [multiclass_frame, regression_frame])
def test_with_max_trials_the_same_data_settings_and_seed_give_the_same_model_byte_for_byte(
    make: object, family: str
) -> None:
    frame, spec = make(800, seed=8)  # type: ignore[operator]
    # A time budget far too small for one trial: with max_trials it cuts nothing.
    spec = dataclasses.replace(
        spec, candidates=(family,), max_trials=2, time_bounded=False, time_budget_s=0.001
    )
    first, second = train_model(frame, spec), train_model(frame, spec)
    assert [c.trials for c in first.candidates] == [2]
    assert not first.candidates[0].stopped_by_time
    assert model_files(first.model) == model_files(second.model)


def test_classes_are_ordered_numbers_by_value_then_text() -> None:
    frame = pd.DataFrame({"y": ["10", "9", "b", "a", "9", 10]})
    index, classes = class_target(frame, "y")
    assert classes == ("9", "10", "a", "b")
    assert list(index) == [1, 0, 3, 2, 0, 1]


def test_a_configuration_with_max_trials_trains_the_same_binary_model_byte_for_byte(
    tmp_path: Path,
) -> None:
    """As `cloudscore train` reads it: the file's max_trials, seed and [cost] (a calibration
    and a threshold are chosen too), and a time budget too small for one trial."""
    (tmp_path / "cloudscore.toml").write_text(
        """
[model]
name = "loan-default"
target = "defaulted"
id_column = "application_id"
time_column = "application_date"

[training]
candidates = ["xgboost", "logistic_regression"]
time_budget_s = 0.001
max_trials = 2
seed = 5

[cost]
false_positive = 1.0
false_negative = 5.0
"""
    )
    config = load_project_config(tmp_path / "cloudscore.toml")
    frame = demo_frame(1000, seed=12)
    spec, _ = training_spec(config, infer_contract(frame, config))
    first, second = train_model(frame, spec), train_model(frame, spec)
    assert [c.trials for c in first.candidates] == [2, 2]
    assert not any(c.stopped_by_time for c in first.candidates)
    assert model_files(first.model) == model_files(second.model)
    assert (first.threshold, first.test_metrics) == (second.threshold, second.test_metrics)
