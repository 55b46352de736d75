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

from collections.abc import Iterator

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

from shared.monitoring.record import Decision
from shared.monitoring.tasks import NO_REGRESSION_ESTIMATE
from tests.integration.nannyml_datasets import Monitored, NannymlDataset, monitor

pytestmark = pytest.mark.stack

CAR_PRICE = NannymlDataset(
    name="car_price",
    model="car-price",
    task="regression",
    # Days, as nannyml's chunk_period="D".
    period="day",
    training={"candidates": ["xgboost"], "max_trials": 1, "seed": 42},
    recent_table="recent_car_prices",
)


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitored]:
    yield from monitor(CAR_PRICE, tmp_path_factory)


def test_drift_per_day_agrees_with_nannyml_on_nine_cells_of_ten(monitored: Monitored) -> None:
    agree, cells = monitored.drift_agreement()
    assert cells == 24 * 7
    assert agree / cells >= 0.9, f"{agree} of {cells} cells agree"


def test_realized_error_per_day_is_scikit_learns_on_the_same_rows(monitored: Monitored) -> None:
    model, analysis = monitored.champion_on_analysis()
    predicted = model.predict_outputs(analysis)
    y = analysis[CAR_PRICE.target].to_numpy(dtype=np.float64)
    for period, rows in monitored.labelled_periods(analysis):
        realized = period["realized"]
        assert realized["rmse"] == pytest.approx(
            root_mean_squared_error(y[rows], predicted[rows]), abs=1e-6
        )
        assert realized["mae"] == pytest.approx(
            mean_absolute_error(y[rows], predicted[rows]), abs=1e-6
        )
        assert realized["r2"] == pytest.approx(r2_score(y[rows], predicted[rows]), abs=1e-6)
        # The uncertainty of the realized value, from the test split's bootstrap.
        assert period["realized_error"] > 0


def test_no_estimate_is_claimed_and_the_record_and_report_say_why(monitored: Monitored) -> None:
    run = monitored.run
    assert all(row["estimated"] == {} for row in run.periods)
    assert run.metrics["task"] == "regression"
    assert run.metrics["no_estimate"] == NO_REGRESSION_ESTIMATE
    html = monitored.report(copy_to="CLOUDSCORE_REPORT_OUT_REGRESSION")
    assert "no estimate before the labels arrive for regression" in html
    assert html.count('data-mark="realized"') == 24
    assert html.count('data-mark="estimated"') == 0
    assert html.count('data-table="period-measures"') == 1


def test_the_check_decides_to_retrain_on_the_drifted_days(monitored: Monitored) -> None:
    run = monitored.run
    assert run.champion_version == monitored.version
    assert run.metrics["primary_metric"] == "rmse"
    assert run.decision is Decision.WOULD_RETRAIN, run.reason
    assert "drift" in run.reason
    assert all("drift" in row["alerts"] for row in run.periods[-3:])
    # Before the 28th nothing moved: no day alerts.
    assert not any(row["alerts"] for row in run.periods[:12]), run.periods[:12]


def test_a_forced_check_retrains_and_compares_on_rmse_on_the_same_rows(
    monitored: Monitored,
) -> None:
    analysis = monitored.analysis()
    run = monitored.forced_retrain(analysis[analysis["timestamp"] >= "2017-03-04"])

    compared = monitored.assert_challenger_compared(run, "rmse", {"rmse", "mae", "r2"})
    # The difference is the challenger's RMSE less the champion's, on the same rows.
    assert compared["difference"]["mean"] == pytest.approx(
        compared["challenger"]["rmse"] - compared["champion"]["rmse"],
        abs=0.05 * abs(compared["champion"]["rmse"]),
    )
