"""Monitoring by periods on a dataset nobody here wrote: nannyml's synthetic car loan data
(binary; 50k reference rows, 50k analysis rows over ten months, four features drifting and the
performance dropping from April 2019).

A model is trained on the reference period and promoted; the analysis period is dropped in the
local cloud's inbox as one file per month, in timestamp order, its targets loaded as labels, and
the retrain function's check is run (every call through the permission layer, as the retrain
function's account). Then:

- its per-month drift verdicts agree with nannyml's univariate drift (Jensen-Shannon, the same
  calendar-month chunks, the same 0.1 threshold) on at least 90% of (month, feature) cells;
- its realized performance per month equals scikit-learn's on the same rows;
- it decides to retrain; and a replay of the reference period alone (another version, its own
  window) does not;
- its estimated performance per month is within its stated uncertainty of the realized one in at
  least 80% of the months.

nannyml runs in its own environment (`make nannyml`): `tests/nannyml_side/datasets.py` writes the
data and its drift results to files that this test reads.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from local_emulator import stack
from local_emulator.settings import StackSettings
from shared.contract import validate
from shared.model_cache import ModelCache
from shared.monitoring.record import Decision, MonitoringRun
from shared.monitoring.report import render_report
from shared.project_config import ProjectConfig, parse_project_config
from tests.conftest import project_file, start_stack
from tests.integration.nannyml_datasets import (
    check,
    drift_agreement,
    nannyml_side,
    owner_cloud,
    period_starts,
    periods_of,
    read_drift,
    score_by_period,
    train_and_promote,
)

pytestmark = pytest.mark.stack

MODEL = "car-loan"
TARGET = "repaid"


@pytest.fixture(scope="module")
def car_loan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return nannyml_side("car_loan", tmp_path_factory.mktemp("car-loan"), "M")


def config_of(seed: int) -> ProjectConfig:
    return parse_project_config(
        {
            "model": {
                "name": MODEL,
                "target": TARGET,
                "positive_label": 1,
                "id_column": "id",
                "time_column": "timestamp",
            },
            # A random forest: as accurate here as XGBoost (test ROC AUC 0.970 both), and its
            # scores stay calibrated in the months whose inputs moved beyond the reference's
            # range, which CBPE rests on. XGBoost's, from the same search, do not: its estimate
            # is off by more than its band in 4 of those months, as nannyml's CBPE of the same
            # scores is. One trial, the forest's default: the same model on every machine. The
            # pick of a time-bounded search depends on how many trials the load allowed, and
            # deeper forests lose that calibration (the best of 3 trials: 8 of 11 months
            # within the band).
            "training": {"candidates": ["random_forest"], "max_trials": 1, "seed": seed},
            # Calendar months, as nannyml's chunk_period="M"; every other setting its default.
            "monitoring": {"period": "month"},
        },
        "car-loan.toml",
    )


@pytest.fixture(scope="module")
def car_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackSettings]:
    folder = tmp_path_factory.mktemp("car-loan-stack")
    settings = start_stack(folder, project_file=project_file(folder, MODEL))
    try:
        yield settings
    finally:
        stack.down(settings)


def score_by_month(settings: StackSettings, frame: pd.DataFrame, folder: Path) -> None:
    months = pd.Series(period_starts(frame["timestamp"], "M"), index=frame.index)
    score_by_period(
        settings, frame, folder, periods=months, task="binary_classification", target=TARGET
    )


@pytest.fixture(scope="module")
def analysis_check(
    car_loan: Path, car_stack: StackSettings, tmp_path_factory: pytest.TempPathFactory
) -> tuple[MonitoringRun, str]:
    reference = pd.read_parquet(car_loan / "reference.parquet")
    version = train_and_promote(car_stack, reference, config_of(seed=42))
    analysis = pd.read_parquet(car_loan / "analysis.parquet")
    score_by_month(car_stack, analysis, tmp_path_factory.mktemp("analysis"))
    return check(car_stack), version


def test_drift_per_month_agrees_with_nannyml_on_nine_cells_of_ten(
    car_loan: Path, analysis_check: tuple[MonitoringRun, str]
) -> None:
    run, _ = analysis_check
    agree, cells = drift_agreement(run, read_drift(car_loan))
    assert cells == 77
    assert agree / cells >= 0.9, f"{agree} of {cells} cells agree"


def test_realized_performance_per_month_is_scikit_learns_on_the_same_rows(
    car_loan: Path, car_stack: StackSettings, analysis_check: tuple[MonitoringRun, str]
) -> None:
    run, version = analysis_check
    loaded = ModelCache(owner_cloud(car_stack).registry).get_version(version)
    analysis = pd.read_parquet(car_loan / "analysis.parquet")
    valid = validate(analysis, loaded.contract).valid
    assert len(valid) == len(analysis)
    scores = loaded.model.predict_scores(valid)
    months = period_starts(valid["timestamp"], "M")
    y = (valid[TARGET].to_numpy() == 1).astype(int)
    ours = periods_of(run)
    for month in np.unique(months):
        rows = months == month
        realized = ours[month]["realized"]
        assert ours[month]["labelled_rows"] == rows.sum()
        assert realized["roc_auc"] == pytest.approx(roc_auc_score(y[rows], scores[rows]), abs=1e-6)
        assert realized["pr_auc"] == pytest.approx(
            average_precision_score(y[rows], scores[rows]), abs=1e-6
        )
        assert realized["log_loss"] == pytest.approx(log_loss(y[rows], scores[rows]), abs=1e-6)
        assert realized["brier"] == pytest.approx(brier_score_loss(y[rows], scores[rows]), abs=1e-6)


def test_the_check_decides_to_retrain_on_the_drifted_second_half(
    analysis_check: tuple[MonitoringRun, str],
) -> None:
    run, version = analysis_check
    assert run.champion_version == version
    assert run.decision is Decision.WOULD_RETRAIN, run.reason
    assert "drift" in run.reason
    last = run.periods[-3:]
    assert all("drift" in row["alerts"] for row in last)
    assert not any(row["alerts"] for row in run.periods[1:6]), run.periods


def test_estimated_performance_is_within_its_uncertainty_of_the_realized_in_most_months(
    analysis_check: tuple[MonitoringRun, str],
) -> None:
    run, _ = analysis_check
    within = []
    for row in run.periods:
        estimate, realized = row["estimated"]["roc_auc"], row["realized"]["roc_auc"]
        assert estimate["sampling_error"] > 0
        within.append(abs(estimate["value"] - realized) <= 3 * estimate["sampling_error"])
    assert sum(within) >= 0.8 * len(within), list(zip(periods_of(run), within, strict=True))


def test_a_replay_of_the_reference_period_alone_is_not_retrained(
    car_loan: Path,
    car_stack: StackSettings,
    analysis_check: tuple[MonitoringRun, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    reference = pd.read_parquet(car_loan / "reference.parquet")
    # Another version: the check reads what its champion scored, so the window is the replay's.
    version = train_and_promote(car_stack, reference, config_of(seed=43))
    assert version != analysis_check[1]
    score_by_month(car_stack, reference, tmp_path_factory.mktemp("replay"))

    run = check(car_stack)

    assert run.champion_version == version
    assert run.decision is Decision.HEALTHY, run.reason
    assert [row["start"][:7] for row in run.periods] == [
        f"2018-{month:02d}" for month in range(1, 11)
    ]
    assert not any(row["alerts"] for row in run.periods[1:]), run.periods


def test_the_report_draws_the_months(analysis_check: tuple[MonitoringRun, str]) -> None:
    """The report of the check, on this data; CLOUDSCORE_REPORT_OUT=FILE keeps a copy (the
    README's picture of it is a screenshot of that file)."""
    run, _ = analysis_check
    html = render_report(MODEL, [run], generated_at=run.started_at)
    assert html.count('data-chart="period-drift"') == 8  # the score and the 7 features
    assert html.count('data-mark="realized"') == html.count('data-mark="estimated"') == 11
    assert html.count('<tr class="alert" data-period=') == 5
    out = os.environ.get("CLOUDSCORE_REPORT_OUT")
    if out:
        Path(out).write_text(html, encoding="utf-8")
