"""A project that is not the demo, run end to end on the local cloud as its user would: its own
cloudscore.toml (model `car-loan`, other columns, other target and id), the stack started in its
folder, a file dropped before any model (which says why it waits), then train, drop, the HTTP
function, labels and the scheduled check, all through the CLI and the functions."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cloudscore.cli import main
from local_emulator.settings import STATE_DIR_VARIABLE, StackSettings
from shared import clients
from tests.integration.conftest import cli_project
from tests.integration.waiting import wait_for

pytestmark = pytest.mark.stack

PROJECT = """\
[model]
name = "car-loan"
task = "binary_classification"
target = "repaid"
positive_label = 1
id_column = "loan_id"
time_column = "applied_at"

[training]
candidates = ["xgboost"]
time_budget_s = 4

[monitoring]
min_labelled_rows = 100
"""
SALARIES = ("0 - 20K", "20K - 40K", "40K - 60K", "60K+")


def car_loans(rows: int, seed: int, first_id: int = 0) -> pd.DataFrame:
    """Synthetic car loans: nothing of the demo's loan applications but the idea."""
    rng = np.random.default_rng(seed)
    salary = rng.integers(0, len(SALARIES), rows)
    car_value = rng.lognormal(10, 0.4, rows).round(0)
    debt_to_income = rng.uniform(0, 0.8, rows).round(3)
    tenure = rng.uniform(0, 12, rows).round(1)
    logit = 1.5 + 0.7 * salary - 4 * debt_to_income + 0.15 * tenure - car_value / 60000
    return pd.DataFrame(
        {
            "loan_id": np.arange(first_id, first_id + rows),
            "applied_at": pd.date_range("2026-10-01", periods=rows, freq="7min").strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "car_value": car_value,
            "salary_range": np.array(SALARIES)[salary],
            "debt_to_income_ratio": debt_to_income,
            "loan_length_months": rng.choice([24, 36, 48, 60], rows),
            "driver_tenure_years": tenure,
            "repaid": (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int),
        }
    )


@pytest.fixture(scope="module")
def car_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, StackSettings]]:
    folder = tmp_path_factory.mktemp("car-project")
    with cli_project(folder, PROJECT) as settings:
        yield folder, settings


def test_the_stack_serves_the_projects_model(car_project: tuple[Path, StackSettings]) -> None:
    _, settings = car_project
    assert settings.model_name == "car-loan"
    assert settings.function_config().to_env()["CLOUDSCORE_MODEL_NAME"] == "car-loan"


def test_a_whole_loop_of_another_project(
    car_project: tuple[Path, StackSettings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, settings = car_project
    monkeypatch.chdir(folder)
    monkeypatch.setenv(STATE_DIR_VARIABLE, str(settings.state_dir))
    car_loans(3000, seed=1).to_parquet(folder / "train.parquet")
    week = car_loans(400, seed=2, first_id=10_000)
    week.drop(columns=["repaid"]).to_csv(folder / "week.csv", index=False)
    week[["loan_id", "repaid"]].to_csv(folder / "labels.csv", index=False)

    # Before any model: the file waits, and `local drop` says why, from the function's log.
    early = folder / "early.csv"
    week.head(10).drop(columns=["repaid"]).to_csv(early, index=False)
    assert main(["local", "drop", str(early), "--timeout", "8"]) == 1
    assert "model 'car-loan' has no champion yet" in capsys.readouterr().err

    assert main(["train", "--data", str(folder / "train.parquet"), "--promote"]) == 0
    assert "now the champion" in capsys.readouterr().out

    assert main(["local", "drop", str(folder / "week.csv")]) == 0
    out = capsys.readouterr().out
    assert "400 in = 400 scored + 0 rejected" in out

    instances = json.loads(week.head(3).drop(columns=["repaid"]).to_json(orient="records"))
    request = urllib.request.Request(
        settings.url("predict_rows") + "/",
        data=json.dumps({"instances": instances}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answered = json.loads(response.read())
    assert answered["model"]["name"] == "car-loan"
    assert len(answered["predictions"]) == 3
    assert all(0 <= p["score"] <= 1 for p in answered["predictions"])

    assert main(["labels", "load", str(folder / "labels.csv")]) == 0
    capsys.readouterr()

    assert main(["local", "tick", "retrain"]) == 0
    bq = clients.bigquery_client(settings.project, settings.endpoints())
    table = f"{settings.project}.{settings.dataset}.monitoring_runs"
    (run,) = wait_for(
        lambda: [dict(r) for r in bq.query(f"SELECT * FROM `{table}`").result()],
        timeout_s=120,
        what="the scheduled check's record",
    )
    assert run["decision"] != "failed", run["reason"]
    metrics = json.loads(run["metrics"]) if isinstance(run["metrics"], str) else run["metrics"]
    assert metrics["labelled_rows"] == 400
