"""The HTTP path's predictor: the batch path's scores for the same instances, for every model
family, and explanations that add up to the margin."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cloudscore import demo_data as dd
from shared.contract import DataContract, infer_contract, validate
from shared.model import ScoringModel
from shared.project_config import ProjectConfig
from shared.serving.instance_check import InstanceChecker, ModelInput
from shared.serving.predictor import NotExplainable, Predictor
from shared.training import train_model
from shared.training.onnx_export import booster_onnx
from tests.unit.training_data import demo_frame, quick_demo_spec

FAMILIES = ("xgboost", "logistic_regression", "random_forest", "hist_gradient_boosting")
CONFIG = ProjectConfig(
    model_name="loan-default",
    target=dd.LABEL_COLUMN,
    id_column=dd.ID_COLUMN,
    time_column=dd.TIME_COLUMN,
)


@pytest.fixture(scope="module")
def training() -> pd.DataFrame:
    return demo_frame(3000, seed=21)


@pytest.fixture(scope="module")
def contract(training: pd.DataFrame) -> DataContract:
    return infer_contract(training, CONFIG)


@pytest.fixture(scope="module", params=FAMILIES)
def model(request: pytest.FixtureRequest, training: pd.DataFrame) -> ScoringModel:
    spec = quick_demo_spec(candidates=(request.param,), max_trials=1)
    return train_model(training, spec).model


@pytest.fixture(scope="module")
def instances() -> list[dict[str, Any]]:
    fresh = next(dd.iter_demo_frames(400, seed=22, drift=0.3, bad_rows=0.0, chunk_rows=400))
    # As a client sends them: JSON values, missing ones as null.
    return json.loads(fresh.to_json(orient="records", date_format="iso"))


def checked(model: ScoringModel, contract: DataContract, instances: list[dict[str, Any]]) -> Any:
    inputs = [ModelInput(f.name, f.categories) for f in model.features]
    checker = InstanceChecker(json.loads(contract.to_json()), inputs)
    accepted = [i for i in instances if not checker.check([i])[1]]
    rows, problems = checker.check(accepted)
    assert not problems and len(accepted) > 300
    return accepted, rows


@pytest.fixture(scope="module")
def predictor(model: ScoringModel) -> Predictor:
    """As the HTTP function builds it: an XGBoost model with its ONNX graph."""
    if model.family != "xgboost":
        return Predictor.of(model)
    made = Predictor.of(model, booster_onnx(model.estimator))
    assert made.scored_by == "onnxruntime"
    return made


def test_scores_are_within_1e_6_of_the_batch_paths_whole_or_row_by_row(
    model: ScoringModel,
    predictor: Predictor,
    contract: DataContract,
    instances: list[dict[str, Any]],
) -> None:
    accepted, rows = checked(model, contract, instances)

    scores = predictor.scores(rows)
    one_by_one = [predictor.scores([row])[0] for row in rows]

    valid = validate(pd.DataFrame.from_records(accepted), contract).valid
    assert len(valid) == len(accepted)
    expected = model.predict_scores(valid)
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(one_by_one, expected, rtol=0, atol=1e-6)


def test_labels_follow_the_threshold(
    model: ScoringModel,
    predictor: Predictor,
    contract: DataContract,
    instances: list[dict[str, Any]],
) -> None:
    _, rows = checked(model, contract, instances)
    scores = predictor.scores(rows)

    labels = predictor.labels(scores)

    expected = np.where(
        np.asarray(scores) >= model.threshold, model.positive_label, model.negative_label
    )
    assert labels == expected.tolist()


def test_explanations_add_up_to_the_margin_or_are_refused(
    model: ScoringModel,
    predictor: Predictor,
    contract: DataContract,
    instances: list[dict[str, Any]],
) -> None:
    _, rows = checked(model, contract, instances)
    if model.family in ("random_forest", "hist_gradient_boosting"):
        with pytest.raises(NotExplainable, match="not supported"):
            predictor.explain(rows[:3])
        return

    explanations = predictor.explain(rows[:50])

    raw = predictor.raw_scores(rows[:50])
    for explanation, score in zip(explanations, raw, strict=True):
        assert set(explanation.contributions) == {f.name for f in model.features}
        logit = math.log(score) - math.log1p(-score)
        assert explanation.margin == pytest.approx(logit, abs=1e-4)


@pytest.mark.parametrize("location", ["/etc/hostname", "../../etc/hostname", "weights.bin"])
def test_an_onnx_graph_that_refers_to_data_outside_itself_is_refused(
    location: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A graph's initializers may name a file to read their values from: a stored graph would
    # make the function read files of its own machine. cloudscore's graphs hold all their data.
    from onnx import TensorProto, helper

    from shared.errors import ModelFormatError
    from shared.serving.onnx_scorer import OnnxScorer

    (tmp_path / "weights.bin").write_bytes(bytes(16))
    monkeypatch.chdir(tmp_path)
    weights = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4])
    weights.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "16")):
        weights.external_data.add(key=key, value=value)
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["probabilities"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [4])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

    with pytest.raises(ModelFormatError, match=r"ONNX graph.*cannot be loaded"):
        OnnxScorer(model.SerializeToString())
