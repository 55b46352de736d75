"""Multiclass and regression projects end to end on the local cloud, as their users run them:
`cloudscore train --promote`, a file dropped in the inbox, the HTTP function (answers,
explanations, the API document, schemathesis against it). What lands is the model's own
prediction: the rows in BigQuery and the HTTP answers equal the registered model's outputs on
the same rows."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cloudscore.cli import main
from local_emulator.settings import STATE_DIR_VARIABLE, StackSettings
from shared import clients
from shared.registry import ModelRegistry
from tests.integration.conftest import cli_project, schemathesis
from tests.integration.waiting import wait_for
from tests.unit.training_data import CARDS, multiclass_frame, regression_frame

pytestmark = pytest.mark.stack

PROJECTS = {
    "multiclass": """\
[model]
name = "card-offer"
task = "multiclass_classification"
target = "card"
id_column = "customer_id"
time_column = "applied_at"

[training]
candidates = ["xgboost", "logistic_regression"]
max_trials = 1
""",
    "regression": """\
[model]
name = "car-price"
task = "regression"
target = "price"
id_column = "car_id"
time_column = "listed_at"

[training]
candidates = ["xgboost"]
max_trials = 1
""",
}


def project_data(task: str, rows: int, seed: int, first_id: int) -> pd.DataFrame:
    make = multiclass_frame if task == "multiclass" else regression_frame
    frame, _ = make(rows, seed=seed)
    id_column, time_column = ("customer_id", "applied_at") if task == "multiclass" else (
        "car_id", "listed_at")  # fmt: skip
    frame.insert(0, id_column, np.arange(first_id, first_id + rows))
    frame.insert(1, time_column, pd.date_range("2026-10-01", periods=rows, freq="9min").strftime(
        "%Y-%m-%dT%H:%M:%SZ"))  # fmt: skip
    return frame


@pytest.fixture(scope="module", params=sorted(PROJECTS))
def project(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path, StackSettings]]:
    task = request.param
    folder = tmp_path_factory.mktemp(f"{task}-project")
    with cli_project(folder, PROJECTS[task]) as settings:
        target = "card" if task == "multiclass" else "price"
        project_data(task, 2500, seed=1, first_id=0).to_csv(folder / "train.csv", index=False)
        week = project_data(task, 300, seed=2, first_id=10_000)
        week.drop(columns=[target]).to_csv(folder / "week.csv", index=False)
        assert main(["train", "--data", str(folder / "train.csv"), "--promote"]) == 0
        yield task, folder, settings


def post(settings: StackSettings, body: Any, query: str = "", request_id: str = "") -> Any:
    headers = {"Content-Type": "application/json"} | (
        {"X-Request-Id": request_id} if request_id else {}
    )
    request = urllib.request.Request(
        settings.url("predict_rows") + "/" + query,
        data=json.dumps(body).encode(),
        headers=headers,
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def champion_model(settings: StackSettings) -> Any:
    storage = clients.storage_client(settings.project, settings.endpoints())
    registry = ModelRegistry(storage, settings.models_bucket, settings.model_name)
    pointer = registry.alias("champion")
    assert pointer is not None
    return registry.load_version(pointer.version)


def test_a_dropped_file_lands_as_the_tasks_predictions(
    project: tuple[str, Path, StackSettings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    task, folder, settings = project
    monkeypatch.chdir(folder)
    monkeypatch.setenv(STATE_DIR_VARIABLE, str(settings.state_dir))
    capsys.readouterr()
    assert main(["local", "drop", str(folder / "week.csv")]) == 0
    assert "300 in = 300 scored + 0 rejected" in capsys.readouterr().out

    bq = clients.bigquery_client(settings.project, settings.endpoints())
    table = f"{settings.project}.{settings.dataset}.predictions"
    landed = bq.query(
        f"SELECT record_id, predicted_label, score, probabilities FROM `{table}`"
    ).to_dataframe(create_bqstorage_client=False)
    assert len(landed) == 300
    landed = landed.assign(record_id=landed["record_id"].astype(int)).sort_values("record_id")
    week = pd.read_csv(folder / "week.csv")
    model = champion_model(settings).model
    outputs = model.predict_outputs(week)
    if task == "regression":
        assert landed["predicted_label"].isna().all() and landed["probabilities"].isna().all()
        np.testing.assert_allclose(landed["score"], outputs, rtol=1e-12)
    else:
        probabilities = [json.loads(text) for text in landed["probabilities"]]
        assert all(list(p) == list(CARDS) for p in probabilities)
        np.testing.assert_allclose([[p[c] for c in CARDS] for p in probabilities], outputs)
        assert list(landed["predicted_label"]) == [CARDS[i] for i in outputs.argmax(axis=1)]
        np.testing.assert_allclose(landed["score"], outputs.max(axis=1))


def test_the_http_function_answers_as_the_task_says(
    project: tuple[str, Path, StackSettings],
) -> None:
    task, folder, settings = project
    week = pd.read_csv(folder / "week.csv").head(5)
    instances = json.loads(week.to_json(orient="records"))
    request_id = f"t-{uuid.uuid4().hex}"
    answered = post(settings, {"instances": instances}, request_id=request_id)
    explained = post(settings, {"instances": instances}, "?explain=true")
    outputs = champion_model(settings).model.predict_outputs(week)
    if task == "regression":
        assert [set(p) for p in answered["predictions"]] == [{"value"}] * 5
        values = [p["value"] for p in answered["predictions"]]
        np.testing.assert_allclose(values, outputs, rtol=1e-6)
        for prediction, value in zip(explained["predictions"], values, strict=True):
            assert prediction["value"] == value
            total = prediction["bias"] + sum(prediction["contributions"].values())
            assert total == pytest.approx(value, rel=1e-5)
    else:
        for prediction, row in zip(answered["predictions"], outputs, strict=True):
            assert set(prediction) == {"label", "score", "probabilities"}
            assert list(prediction["probabilities"]) == list(CARDS)
            np.testing.assert_allclose(list(prediction["probabilities"].values()), row, atol=1e-6)
            assert prediction["label"] == CARDS[int(np.argmax(row))]
            assert prediction["score"] == max(prediction["probabilities"].values())
        for prediction in explained["predictions"]:
            per_class = prediction["explanations"]
            assert list(per_class) == list(CARDS)
            margins = np.array([per_class[c]["margin"] for c in CARDS])
            softmax = np.exp(margins - margins.max()) / np.exp(margins - margins.max()).sum()
            expected = [prediction["probabilities"][c] for c in CARDS]
            np.testing.assert_allclose(softmax, expected, atol=1e-5)
    logged = logged_answers(settings, request_id)
    assert [row["instance_index"] for row in logged] == list(range(5))
    for row, prediction in zip(logged, answered["predictions"], strict=True):
        if task == "regression":
            assert (row["predicted_label"], row["probabilities"]) == (None, None)
            assert row["score"] == prediction["value"]
        else:
            assert row["predicted_label"] == prediction["label"]
            assert row["score"] == prediction["score"]
            assert json.loads(row["probabilities"]) == prediction["probabilities"]


def logged_answers(settings: StackSettings, request_id: str) -> list[dict[str, Any]]:
    """The `online_predictions` rows of one request (the local stack logs every request)."""
    bq = clients.bigquery_client(settings.project, settings.endpoints())
    table = f"{settings.project}.{settings.dataset}.online_predictions"
    sql = (
        f"SELECT instance_index, predicted_label, score, probabilities FROM `{table}` "
        f"WHERE request_id = '{request_id}' AND NOT shadow ORDER BY instance_index"
    )
    return wait_for(
        lambda: [dict(row) for row in bq.query(sql).result()],
        timeout_s=60,
        what=f"the logged answers of request {request_id}",
    )


def test_the_api_document_describes_the_tasks_answers_and_schemathesis_finds_nothing(
    project: tuple[str, Path, StackSettings], tmp_path: Path
) -> None:
    task, _, settings = project
    url = settings.url("predict_rows")
    with urllib.request.urlopen(f"{url}/openapi.json", timeout=60) as response:
        document = json.loads(response.read())
    schema = "MulticlassPrediction" if task == "multiclass" else "RegressionPrediction"
    assert document["components"]["schemas"]["Prediction"] == {
        "$ref": f"#/components/schemas/{schema}"
    }
    result = schemathesis(url, tmp_path, max_examples=40, seed=23)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
