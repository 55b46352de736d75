"""Model files: every family stored and read back scoring the same, no pickle anywhere on the
load path, skops files holding anything beyond the trusted types refused unread, and the ONNX
graph of a booster within 1e-6 of XGBoost."""

from __future__ import annotations

import dataclasses
import io
import json
import pickle
import re
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from shared.errors import ModelFormatError
from shared.model import IsotonicCalibrator, ScoringModel, SigmoidCalibrator, feature_matrix
from shared.model_format import (
    BOOSTER_FILE,
    CARD_FILE,
    PIPELINE_FILE,
    TRUSTED_TYPES,
    ModelCard,
    load_model,
    model_files,
)
from shared.training import train_model
from shared.training.onnx_export import booster_onnx
from tests.unit.training_data import demo_frame, mixed_frame, quick_demo_spec

FAMILIES = ("xgboost", "logistic_regression", "random_forest", "hist_gradient_boosting")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def models() -> dict[str, ScoringModel]:
    frame = demo_frame(1500, seed=31)
    return {
        family: train_model(frame, quick_demo_spec(candidates=(family,), max_trials=1)).model
        for family in FAMILIES
    }


@pytest.fixture(params=FAMILIES)
def model(request: pytest.FixtureRequest, models: dict[str, ScoringModel]) -> ScoringModel:
    return models[request.param]


@pytest.fixture
def xgboost_model(models: dict[str, ScoringModel]) -> ScoringModel:
    return models["xgboost"]


@pytest.fixture
def pipeline_model(models: dict[str, ScoringModel]) -> ScoringModel:
    return models["logistic_regression"]


@pytest.fixture(scope="module")
def fresh() -> pd.DataFrame:
    return demo_frame(500, seed=32)


def read_back(files: dict[str, bytes]) -> ScoringModel:
    return load_model(ModelCard.from_bytes(files[CARD_FILE]), files)


def test_every_family_is_stored_and_read_back_scoring_the_same(
    model: ScoringModel, fresh: pd.DataFrame
) -> None:
    files = model_files(model)
    loaded = read_back(files)

    assert set(files) == {CARD_FILE, BOOSTER_FILE if model.family == "xgboost" else PIPELINE_FILE}
    assert np.array_equal(loaded.predict_scores(fresh), model.predict_scores(fresh))
    assert (loaded.threshold, loaded.features, loaded.positive_label) == (
        model.threshold, model.features, model.positive_label,
    )  # fmt: skip
    assert loaded.versions == model.versions


@pytest.mark.parametrize(
    "calibrator",
    [
        SigmoidCalibrator(1.3, -0.2),
        IsotonicCalibrator(np.array([0.0, 0.25, 1.0]), np.array([0.01, 0.3, 0.97])),
        None,
    ],
)
@pytest.mark.parametrize(
    ("positive", "negative"), [(1, 0), (True, False), ("yes", "no"), (1.0, 0.0)]
)
def test_the_card_keeps_labels_calibrator_and_threshold_exactly(
    xgboost_model: ScoringModel, calibrator: object, positive: object, negative: object
) -> None:
    changed = dataclasses.replace(
        xgboost_model,
        calibrator=calibrator,
        positive_label=positive,
        negative_label=negative,
        threshold=0.1 + 0.2,
    )
    card = ModelCard.from_bytes(model_files(changed)[CARD_FILE])

    assert (card.positive_label, card.negative_label) == (positive, negative)
    assert type(card.positive_label) is type(positive)
    assert card.threshold == 0.1 + 0.2
    scores = np.linspace(0, 1, 11)
    if calibrator is None:
        assert card.calibrator is None
    else:
        assert card.calibrator is not None
        assert np.array_equal(card.calibrator(scores), calibrator(scores))  # type: ignore[operator]


def test_a_skops_file_naming_an_untrusted_type_is_refused_before_anything_is_built() -> None:
    import skops.io
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    data = skops.io.dumps(make_pipeline(FunctionTransformer(np.log1p)))
    card = ModelCard("logistic_regression", (), 0.5, 1, 0, None, PIPELINE_FILE)

    with pytest.raises(ModelFormatError) as refused:
        load_model(card, {PIPELINE_FILE: data})

    assert "sklearn.preprocessing._function_transformer.FunctionTransformer" in str(refused.value)
    assert "refused unread" in str(refused.value)


def test_a_skops_file_hiding_a_type_in_its_schema_is_refused(pipeline_model: ScoringModel) -> None:
    model = pipeline_model
    data = model_files(model)[PIPELINE_FILE]
    source = zipfile.ZipFile(io.BytesIO(data))
    schema = source.read("schema.json").decode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "schema.json":
                content = schema.replace('"builtins"', '"os"', 1).encode()
            archive.writestr(item, content)
    card = ModelCard.from_bytes(model_files(model)[CARD_FILE])

    with pytest.raises(ModelFormatError, match=r"outside the trusted list .*: os\.dict"):
        load_model(card, {PIPELINE_FILE: out.getvalue()})


@pytest.mark.parametrize("name", [BOOSTER_FILE, PIPELINE_FILE])
def test_a_pickle_in_place_of_a_model_file_is_refused_without_running_it(
    tmp_path: Path, name: str
) -> None:
    marker = tmp_path / "ran"
    data = pickle.dumps(type("X", (), {"__reduce__": lambda self: (marker.write_text, ("x",))})())
    card = ModelCard("xgboost", (), 0.5, 1, 0, None, name)

    with pytest.raises(ModelFormatError):
        load_model(card, {name: data})
    with pytest.raises(ModelFormatError):
        load_model(card, {name: joblib_bytes(marker)})
    assert not marker.exists()


def joblib_bytes(marker: Path) -> bytes:
    buffer = io.BytesIO()
    joblib.dump({"marker": str(marker)}, buffer)
    return buffer.getvalue()


def test_the_load_path_reads_no_pickle(
    model: ScoringModel, fresh: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = model_files(model)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model file reached pickle")

    for target, name in [
        (pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (joblib, "load"),
    ]:  # fmt: skip
        monkeypatch.setattr(target, name, refuse)

    assert len(read_back(files).predict_scores(fresh)) == len(fresh)


def test_no_code_the_functions_run_imports_pickle_or_joblib() -> None:
    # `cloudscore models migrate` (cloudscore/migrate.py) is the one reader of old pickles,
    # run by a person; nothing under shared/ or functions/ may read one.
    reader = re.compile(
        r"^\s*(import|from)\s+(pickle|cPickle|_pickle|joblib|dill|cloudpickle)\b"
        r"|\bjoblib\.load\b|\bpickle\.loads?\b|read_pickle|allow_pickle\s*=\s*True",
        re.MULTILINE,
    )
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0).strip()}"
        for folder in ("shared", "functions")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for match in reader.finditer(path.read_text(encoding="utf-8"))
    ]

    assert found == []


def test_the_trusted_types_are_exactly_what_cloudscore_pipelines_hold() -> None:
    assert len(set(TRUSTED_TYPES)) == len(TRUSTED_TYPES)
    assert not [t for t in TRUSTED_TYPES if t.split(".")[0] not in ("builtins", "numpy", "sklearn")]


def test_the_onnx_graph_scores_within_1e_6_of_xgboost(xgboost_model: ScoringModel) -> None:
    model = xgboost_model
    from shared.serving.onnx_scorer import OnnxScorer

    frame, spec = mixed_frame(2000, seed=33)
    booster_model = train_model(frame, dataclasses.replace(spec, candidates=("xgboost",))).model
    for trained, rows in ((model, demo_frame(800, seed=34)), (booster_model, frame)):
        matrix = feature_matrix(rows, trained.features)
        graph = booster_onnx(trained.estimator, matrix[:100])
        assert graph is not None
        found = OnnxScorer(graph).outputs(matrix)
        expected = trained.estimator.inplace_predict(matrix)
        np.testing.assert_allclose(found, expected, rtol=0, atol=1e-6)


def test_a_graph_that_disagrees_with_xgboost_is_not_kept(
    xgboost_model: ScoringModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = xgboost_model
    from shared.serving import onnx_scorer

    monkeypatch.setattr(
        onnx_scorer.OnnxScorer, "outputs", lambda self, rows: np.zeros(len(rows)) + 0.5
    )

    assert booster_onnx(model.estimator) is None


def test_a_card_of_another_format_is_refused_saying_so() -> None:
    with pytest.raises(ModelFormatError, match="format 2, this cloudscore reads 1"):
        ModelCard.from_bytes(json.dumps({"format": 2}).encode())
    with pytest.raises(ModelFormatError, match="is not a model card"):
        ModelCard.from_bytes(b"\x80\x04 pickle")
