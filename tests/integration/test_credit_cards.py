"""Monitoring a multiclass model on a dataset nobody here wrote: nannyml's synthetic multiclass
data (which credit card to offer: prepaid, high street or upmarket; 60k reference rows, 60k
analysis rows over 18 weeks, the inputs drifting and the performance dropping from November).

A model is trained on the reference period and promoted; the analysis period is dropped in the
local cloud's inbox as one file per week, in timestamp order, its targets loaded as labels, and
the retrain function's check is run (every call through the permission layer, as the retrain
function's account). Then:

- its per-week drift verdicts agree with nannyml's univariate drift (Jensen-Shannon, the same
  weekly chunks, the same 0.1 threshold) on at least 90% of (week, feature) cells;
- its realized log loss, macro and weighted F1 and per-class recall per week equal
  scikit-learn's on the same rows;
- its estimated macro F1 (CBPE, one class against the rest, as nannyml estimates it) is within
  its stated uncertainty of the realized one in every week before the change, and in at least as
  many weeks overall as nannyml's own CBPE of its own model on the same chunks;
- it decides to retrain; a forced check retrains on the labelled recent rows and compares the
  challenger with the champion on log loss, on the same holdout rows.

Why the estimate is not within its band in 80% of the weeks, as on the car loan data. With the
logistic regression of the reference period and weekly periods, it is within its band in 13 of
18 weeks: all 9 before November, 4 of the 9 after. nannyml's own CBPE of its own model is within
its band in 9 of 18, none after November, where it estimates 0.06 to 0.08 above the realized
macro F1. Neither calibration nor another model helps: calibrating the probabilities per class
on the test split (isotonic, as nannyml does) changes nothing (13 of 18, estimates 0.002 to
0.006 lower), and an XGBoost model is within its band in 9 of 18. From November the link between
the inputs and the class changes, not only the inputs: a gradient-boosting model trained on the
reference, the weeks before November and half of the rows after, with an input saying "after
the change", scores the other half with log loss 0.853 and macro F1 0.608 when told the truth,
0.873 and 0.597 when told "before" — on the same rows. No estimate from the scores alone sees
that.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import f1_score, log_loss, recall_score

from shared.monitoring.record import Decision
from tests.integration.nannyml_datasets import (
    Monitored,
    NannymlDataset,
    monitor,
    periods_of,
    within_band,
)

pytestmark = pytest.mark.stack

CARDS = NannymlDataset(
    name="multiclass",
    model="card-offer",
    task="multiclass_classification",
    # Weeks from Monday, as nannyml's chunk_period="W".
    period="week",
    # Logistic regression: as accurate here as the tree ensembles (test macro F1 0.767 against
    # 0.770) and the best calibrated of them on the reference weeks, which CBPE rests on.
    training={"candidates": ["logistic_regression"], "max_trials": 1, "seed": 42},
    recent_table="recent_card_offers",
)
CHANGE = "2020-11-02"  # the first week of the change


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitored]:
    yield from monitor(CARDS, tmp_path_factory)


def test_drift_per_week_agrees_with_nannyml_on_nine_cells_of_ten(monitored: Monitored) -> None:
    agree, cells = monitored.drift_agreement()
    assert cells == 18 * 7
    assert agree / cells >= 0.9, f"{agree} of {cells} cells agree"


def test_realized_performance_per_week_is_scikit_learns_on_the_same_rows(
    monitored: Monitored,
) -> None:
    model, analysis = monitored.champion_on_analysis()
    classes = list(model.classes)
    probabilities = model.predict_outputs(analysis)
    y = np.array([classes.index(label) for label in analysis[CARDS.target]])
    predicted = probabilities.argmax(axis=1)
    for period, rows in monitored.labelled_periods(analysis):
        realized = period["realized"]
        expected_loss = log_loss(y[rows], probabilities[rows], labels=range(len(classes)))
        assert realized["log_loss"] == pytest.approx(expected_loss, abs=1e-6)
        for average in ("macro", "weighted"):
            assert realized[f"{average}_f1"] == pytest.approx(
                f1_score(y[rows], predicted[rows], average=average), abs=1e-6
            )
        recalls = recall_score(y[rows], predicted[rows], average=None, labels=range(len(classes)))
        for index, name in enumerate(classes):
            assert realized[f"recall[{name}]"] == pytest.approx(recalls[index], abs=1e-6)


def test_estimated_macro_f1_holds_until_the_change_and_as_often_as_nannymls_overall(
    monitored: Monitored,
) -> None:
    ours = within_band(monitored.run, "macro_f1")
    before = [held for start, held in ours.items() if start < CHANGE]
    assert len(before) == 9 and all(before), ours
    nannyml: list[dict[str, Any]] = monitored.nannyml_result("cbpe")["chunks"]
    assert [chunk["start"] for chunk in nannyml] == list(ours)
    theirs = [
        abs(chunk["value"] - chunk["realized"]) <= 3 * chunk["sampling_error"] for chunk in nannyml
    ]
    assert sum(ours.values()) >= sum(theirs), (ours, theirs)
    # After the change the realized macro F1 falls below the estimate: the estimate's assumption
    # (an unchanged link between inputs and class) broke, as the report's chart shows.
    after = [row for start, row in periods_of(monitored.run).items() if start >= CHANGE]
    assert all(row["realized"]["macro_f1"] < row["estimated"]["macro_f1"]["value"] for row in after)


def test_the_check_decides_to_retrain_on_the_changed_weeks(monitored: Monitored) -> None:
    run = monitored.run
    assert run.champion_version == monitored.version
    assert run.metrics["primary_metric"] == "log_loss"
    assert run.decision is Decision.WOULD_RETRAIN, run.reason
    last = run.periods[-3:]
    assert all({"drift", "performance"} <= set(row["alerts"]) for row in last), last
    assert not any(row["alerts"] for row in run.periods[:9]), run.periods[:9]


def test_the_report_draws_the_weeks_with_every_class(monitored: Monitored) -> None:
    html = monitored.report(copy_to="CLOUDSCORE_REPORT_OUT_MULTICLASS")
    assert html.count('data-chart="period-drift"') == 8  # the score and the 7 features
    for name in ("prepaid_card", "highstreet_card", "upmarket_card"):
        assert f'data-metric="recall[{name}]"' in html


def test_a_forced_check_retrains_and_compares_on_log_loss_on_the_same_rows(
    monitored: Monitored,
) -> None:
    analysis = monitored.analysis()
    run = monitored.forced_retrain(analysis[analysis["timestamp"] >= "2020-12-01"])

    monitored.assert_challenger_compared(
        run, "log_loss", {"log_loss", "macro_f1", "weighted_f1", "recall[prepaid_card]"}
    )
