"""Monitoring a regression model on a dataset nobody here wrote: nannyml's synthetic car price
data (60k reference rows, 60k analysis rows over 24 days, seven inputs drifting from the 28th
of February).

A model is trained on the reference period and promoted; the analysis period is dropped in the
local cloud's inbox as one file per day, in timestamp order, its targets loaded as labels, and
the retrain function's check is run (every call through the permission layer, as the retrain
function's account). Then:

- its per-day drift verdicts agree with nannyml's univariate drift (Jensen-Shannon, the same
  daily chunks, the same 0.1 threshold) on at least 90% of (day, feature) cells;
- its realized RMSE, MAE and R² per day equal scikit-learn's on the same rows;
- no performance estimate is claimed for a regression model, and the record and the report say
  why;
- it decides to retrain on the drifted days; a forced check retrains on the labelled recent
  rows and compares the challenger with the champion on RMSE, on the same holdout rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

from local_emulator import stack
from local_emulator.settings import LOCAL_PROJECT, StackSettings
from shared.contract import validate
from shared.model_cache import ModelCache
from shared.monitoring.record import Decision, MonitoringRun
from shared.monitoring.report import render_report
from shared.monitoring.tasks import NO_REGRESSION_ESTIMATE
from shared.project_config import ProjectConfig, parse_project_config
from tests.conftest import project_file, start_stack
from tests.integration.nannyml_datasets import (
    TARGET,
    check,
    drift_agreement,
    fill_table,
    nannyml_side,
    owner_cloud,
    period_starts,
    periods_of,
    read_drift,
    retrain_cloud,
    score_by_period,
    train_and_promote,
)

pytestmark = pytest.mark.stack

MODEL = "car-price"
RECENT_TABLE = "recent_car_prices"


@pytest.fixture(scope="module")
def car_price(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return nannyml_side("car_price", tmp_path_factory.mktemp("car-price"), "D")


def config_of(settings: StackSettings) -> ProjectConfig:
    return parse_project_config(
        {
            "model": {
                "name": MODEL,
                "task": "regression",
                "target": TARGET,
                "id_column": "id",
                "time_column": "timestamp",
            },
            "training": {
                "candidates": ["xgboost"],
                "max_trials": 1,
                "seed": 42,
                "source": f"bq://{settings.project}.{settings.dataset}.{RECENT_TABLE}",
            },
            # Days, as nannyml's chunk_period="D"; every other setting its default.
            "monitoring": {"period": "day"},
        },
        "car-price.toml",
    )


@pytest.fixture(scope="module")
def price_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackSettings]:
    folder = tmp_path_factory.mktemp("car-price-stack")
    # The retrain account may read the training source the project names, as deployed.
    source = f"bq://{LOCAL_PROJECT}.cloudscore.{RECENT_TABLE}"
    settings = start_stack(folder, project_file=project_file(folder, MODEL, source))
    try:
        yield settings
    finally:
        stack.down(settings)


@pytest.fixture(scope="module")
def analysis_check(
    car_price: Path, price_stack: StackSettings, tmp_path_factory: pytest.TempPathFactory
) -> tuple[MonitoringRun, str]:
    reference = pd.read_parquet(car_price / "reference.parquet")
    version = train_and_promote(price_stack, reference, config_of(price_stack))
    analysis = pd.read_parquet(car_price / "analysis.parquet")
    days = pd.Series(period_starts(analysis["timestamp"], "D"), index=analysis.index)
    score_by_period(
        price_stack, analysis, tmp_path_factory.mktemp("analysis"), periods=days, task="regression"
    )
    return check(price_stack), version


def test_drift_per_day_agrees_with_nannyml_on_nine_cells_of_ten(
    car_price: Path, analysis_check: tuple[MonitoringRun, str]
) -> None:
    run, _ = analysis_check
    agree, cells = drift_agreement(run, read_drift(car_price))
    assert cells == 24 * 7
    assert agree / cells >= 0.9, f"{agree} of {cells} cells agree"


def test_realized_error_per_day_is_scikit_learns_on_the_same_rows(
    car_price: Path, price_stack: StackSettings, analysis_check: tuple[MonitoringRun, str]
) -> None:
    run, version = analysis_check
    loaded = ModelCache(owner_cloud(price_stack).registry).get_version(version)
    analysis = pd.read_parquet(car_price / "analysis.parquet")
    valid = validate(analysis, loaded.contract).valid
    assert len(valid) == len(analysis)
    predicted = loaded.model.predict_outputs(valid)
    days = period_starts(valid["timestamp"], "D")
    y = valid[TARGET].to_numpy(dtype=np.float64)
    ours = periods_of(run)
    assert sorted(ours) == sorted(set(days))
    for day in np.unique(days):
        rows = days == day
        realized = ours[day]["realized"]
        assert ours[day]["labelled_rows"] == rows.sum()
        assert realized["rmse"] == pytest.approx(
            root_mean_squared_error(y[rows], predicted[rows]), abs=1e-6
        )
        assert realized["mae"] == pytest.approx(
            mean_absolute_error(y[rows], predicted[rows]), abs=1e-6
        )
        assert realized["r2"] == pytest.approx(r2_score(y[rows], predicted[rows]), abs=1e-6)
        # The uncertainty of the realized value, from the test split's bootstrap.
        assert ours[day]["realized_error"] > 0


def test_no_estimate_is_claimed_and_the_record_and_report_say_why(
    analysis_check: tuple[MonitoringRun, str],
) -> None:
    run, _ = analysis_check
    assert all(row["estimated"] == {} for row in run.periods)
    assert run.metrics["task"] == "regression"
    assert run.metrics["no_estimate"] == NO_REGRESSION_ESTIMATE
    html = render_report(MODEL, [run], generated_at=run.started_at)
    assert "no estimate before the labels arrive for regression" in html
    assert html.count('data-mark="realized"') == 24
    assert html.count('data-mark="estimated"') == 0
    assert html.count('data-table="period-measures"') == 1
    out = os.environ.get("CLOUDSCORE_REPORT_OUT_REGRESSION")
    if out:
        Path(out).write_text(html, encoding="utf-8")


def test_the_check_decides_to_retrain_on_the_drifted_days(
    analysis_check: tuple[MonitoringRun, str],
) -> None:
    run, version = analysis_check
    assert run.champion_version == version
    assert run.metrics["primary_metric"] == "rmse"
    assert run.decision is Decision.WOULD_RETRAIN, run.reason
    assert "drift" in run.reason
    assert all("drift" in row["alerts"] for row in run.periods[-3:])
    # Before the 28th nothing moved: no day alerts.
    assert not any(row["alerts"] for row in run.periods[:12]), run.periods[:12]


def test_a_forced_check_retrains_and_compares_on_rmse_on_the_same_rows(
    car_price: Path, price_stack: StackSettings, analysis_check: tuple[MonitoringRun, str]
) -> None:
    _, version = analysis_check
    analysis = pd.read_parquet(car_price / "analysis.parquet")
    fill_table(price_stack, RECENT_TABLE, analysis[analysis["timestamp"] >= "2017-03-04"])

    run = check(price_stack, dry_run=False, force=True)

    assert run.decision in (Decision.PROMOTED, Decision.KEPT_CHAMPION), run.reason
    compared = run.challenger_metrics
    assert compared["primary_metric"] == "rmse"
    assert compared["version"] == run.challenger_version != version
    for side in ("champion", "challenger"):
        assert {"rmse", "mae", "r2"} <= set(compared[side])
    difference = compared["difference"]
    assert difference["low"] <= difference["mean"] <= difference["high"]
    # The difference is the challenger's RMSE less the champion's, on the same rows.
    assert difference["mean"] == pytest.approx(
        compared["challenger"]["rmse"] - compared["champion"]["rmse"],
        abs=0.05 * abs(compared["champion"]["rmse"]),
    )
    champion = retrain_cloud(price_stack).registry.alias("champion")
    assert champion is not None
    expected = run.challenger_version if run.promoted else version
    assert champion.version == expected
