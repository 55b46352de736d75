"""Monitoring of multiclass and regression models: the realized metrics of a period (equal to
scikit-learn's), multiclass CBPE, the regression verdict's drop as a share of the test value,
and a retrain's comparison of two models of those tasks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    f1_score,
    log_loss,
    mean_absolute_error,
    r2_score,
    recall_score,
    root_mean_squared_error,
)

from shared.errors import DataError
from shared.monitoring.estimation import multiclass_estimates
from shared.monitoring.period_table import PeriodRow
from shared.monitoring.policy import alert_limit, judge_periods
from shared.monitoring.tasks import (
    NO_REGRESSION_ESTIMATE,
    MetricContext,
    class_probabilities,
    task_monitoring,
)
from shared.project_config import MonitoringPolicy

CLASSES = ("gold", "silver", "bronze")


def probability_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.dirichlet([0.6, 0.6, 0.6], n)


def multiclass_frame(probabilities: np.ndarray, labels: list[str]) -> pd.DataFrame:
    texts = [json.dumps(dict(zip(CLASSES, row.tolist(), strict=True))) for row in probabilities]
    return pd.DataFrame({"probabilities": texts, "label": labels, "score": probabilities.max(1)})


def test_multiclass_realized_metrics_are_scikit_learns_on_the_same_rows() -> None:
    rng = np.random.default_rng(5)
    p = probability_rows(rng, 2000)
    y = np.array([rng.choice(3, p=row) for row in p])
    rows = multiclass_frame(p, [CLASSES[i] for i in y])
    context = MetricContext(classes=CLASSES)

    realized = task_monitoring("multiclass_classification").realized(rows, context)

    predicted = p.argmax(axis=1)
    values = realized.values
    assert realized.problem is None
    assert values["log_loss"] == pytest.approx(log_loss(y, p, labels=[0, 1, 2]), abs=1e-9)
    assert values["macro_f1"] == pytest.approx(f1_score(y, predicted, average="macro"))
    assert values["weighted_f1"] == pytest.approx(f1_score(y, predicted, average="weighted"))
    for index, recall in enumerate(recall_score(y, predicted, average=None)):
        assert values[f"recall[{CLASSES[index]}]"] == pytest.approx(recall)
    assert not any(name.startswith("class_share") for name in values)


def test_a_label_the_model_has_no_class_for_is_named_not_measured() -> None:
    p = probability_rows(np.random.default_rng(6), 3)
    rows = multiclass_frame(p, ["gold", "platinum", "silver"])
    realized = task_monitoring("multiclass_classification").realized(
        rows, MetricContext(classes=CLASSES)
    )
    assert realized.values == {}
    assert "'platinum'" in (realized.problem or "") and "gold, silver, bronze" in realized.problem


def test_probabilities_without_every_class_are_refused_with_the_text() -> None:
    texts = pd.Series(['{"gold": 0.5, "silver": 0.5}'])
    with pytest.raises(DataError, match="bronze"):
        class_probabilities(texts, CLASSES)


def test_multiclass_cbpe_is_nannymls_one_class_against_the_rest() -> None:
    rng = np.random.default_rng(7)
    p = probability_rows(rng, 20_000)
    estimates = multiclass_estimates(p, CLASSES)
    predicted = p.argmax(axis=1)
    # nannyml's estimate_f1 of each class, averaged: TP / (TP + (FP + FN) / 2).
    f1s = []
    for c in range(3):
        flagged = predicted == c
        tp, fp, fn = p[flagged, c].sum(), (1 - p[flagged, c]).sum(), p[~flagged, c].sum()
        f1s.append(tp / (tp + 0.5 * (fp + fn)))
    assert estimates["macro_f1"] == pytest.approx(np.mean(f1s), abs=1e-12)
    assert estimates["accuracy"] == pytest.approx(p.max(axis=1).mean(), abs=1e-12)
    # Labels drawn from calibrated probabilities: the realized values lie near the estimates.
    y = np.array([rng.choice(3, p=row) for row in p])
    assert f1_score(y, predicted, average="macro") == pytest.approx(estimates["macro_f1"], abs=0.02)
    assert f1_score(y, predicted, average="weighted") == pytest.approx(
        estimates["weighted_f1"], abs=0.02
    )
    assert log_loss(y, p) == pytest.approx(estimates["log_loss"], abs=0.03)
    recalls = recall_score(y, predicted, average=None)
    for index, name in enumerate(CLASSES):
        assert recalls[index] == pytest.approx(estimates[f"recall[{name}]"], abs=0.03)


def test_multiclass_sampling_reference_covers_the_metrics_it_estimates() -> None:
    rng = np.random.default_rng(8)
    p = probability_rows(rng, 1000)
    y = np.array([rng.choice(3, p=row) for row in p])
    monitoring = task_monitoring("multiclass_classification")
    assert monitoring.reference is not None
    reference = monitoring.reference(y, p, MetricContext(classes=CLASSES))
    assert reference["rows"] == 1000
    assert set(multiclass_estimates(p, CLASSES)) <= set(reference["std"])
    assert all(std > 0 for std in reference["std"].values())


def test_regression_realized_metrics_are_scikit_learns_and_no_estimate_is_claimed() -> None:
    rng = np.random.default_rng(9)
    y = rng.normal(5000, 1500, 800).round()
    predicted = y + rng.normal(0, 400, 800)
    # Labels arrive as text, as `labels.label` holds them.
    rows = pd.DataFrame({"label": [f"{v:g}" for v in y], "score": predicted})
    monitoring = task_monitoring("regression")

    realized = monitoring.realized(rows, MetricContext())

    assert realized.values["rmse"] == pytest.approx(root_mean_squared_error(y, predicted))
    assert realized.values["mae"] == pytest.approx(mean_absolute_error(y, predicted))
    assert realized.values["r2"] == pytest.approx(r2_score(y, predicted))
    assert monitoring.estimate is None
    assert "regression" in (monitoring.no_estimate or "")


def test_a_regression_label_that_is_not_a_number_is_named() -> None:
    rows = pd.DataFrame({"label": ["12.5", "n/a", "3"], "score": [1.0, 2.0, 3.0]})
    realized = task_monitoring("regression").realized(rows, MetricContext())
    assert realized.values == {}
    assert realized.problem == "1 labels are not finite numbers (the first: 'n/a')"


def period(realized: dict[str, float]) -> PeriodRow:
    from datetime import date

    return PeriodRow(
        start=date(2017, 2, 20), end=date(2017, 2, 21), rows=2000, labelled_rows=2000,
        realized=realized, realized_problem=None, estimated={}, realized_error=None,
        drift={"rows": 2000, "drifted": []},
    )  # fmt: skip


def test_an_rmse_drop_is_judged_as_a_share_of_the_test_value() -> None:
    policy = MonitoringPolicy(max_metric_drop=0.1)
    assert alert_limit(policy, "rmse", 1000.0) == pytest.approx(1100.0)
    judged = judge_periods(
        policy, [period({"rmse": 1090.0}), period({"rmse": 1150.0})], metric="rmse",
        test_value=1000.0,
    )  # fmt: skip
    assert judged[0].alerts == {}
    assert judged[1].alerts["performance"] == (
        "rmse 1150.0000 on 2000 labelled rows is 15.0% worse than at training (1000.0000); "
        "at most 10% allowed"
    )
    # A bounded metric keeps its drop in its own units.
    assert alert_limit(policy, "macro_f1", 0.8) == pytest.approx(0.7)


def test_retrain_dry_run_prints_a_regression_table_and_says_no_estimate_is_given() -> None:
    from cloudscore.cli.monitor_cmd import period_lines

    row = period({"rmse": 1055.7, "mae": 846.2}).record()
    metrics = {"period": "day", "no_estimate": NO_REGRESSION_ESTIMATE}
    lines = period_lines([row], "rmse", metrics)
    assert "rmse" in lines[1] and "1055.7000" in lines[2] and "—" in lines[2]
    assert lines[-1] == f"  estimated  none: {NO_REGRESSION_ESTIMATE}"


class Outputs:
    """A model as `compare` uses it: its outputs on the rows, and its classes."""

    def __init__(self, outputs: np.ndarray, classes: tuple[str, ...] = ()) -> None:
        self.outputs, self.classes = outputs, classes

    def predict_outputs(self, frame: pd.DataFrame) -> np.ndarray:
        return self.outputs


def test_a_multiclass_challenger_that_knows_another_class_is_compared_on_every_class() -> None:
    from shared.monitoring.challenge import compare
    from shared.project_config import parse_project_config

    config = parse_project_config(
        {
            "model": {"name": "cards", "task": "multiclass_classification", "target": "card"},
            "monitoring": {"bootstrap_rounds": 200},
        },
        "cards.toml",
    )
    rng = np.random.default_rng(10)
    labels = rng.choice(["gold", "silver", "bronze", "steel"], 400, p=[0.3, 0.3, 0.3, 0.1])
    champion = Outputs(rng.dirichlet([1, 1, 1], 400), CLASSES)
    four = ("gold", "silver", "bronze", "steel")
    challenger = Outputs(rng.dirichlet([1, 1, 1, 1], 400), four)

    compared = compare(pd.DataFrame({"card": labels}), champion, challenger, config)

    y = np.array([four.index(label) for label in labels])
    champion_four = np.c_[champion.outputs, np.zeros(400)]  # no probability for "steel"
    predicted = champion_four.argmax(axis=1)
    assert compared.metric == "log_loss" and compared.rows == 400
    assert compared.champion["macro_f1"] == pytest.approx(
        f1_score(y, predicted, average="macro"), abs=1e-6
    )
    assert compared.challenger["log_loss"] == pytest.approx(
        log_loss(y, challenger.outputs), abs=1e-6
    )
    assert compared.champion["recall[steel]"] == 0.0
    assert compared.low <= compared.mean <= compared.high


def test_a_regression_challenger_is_compared_on_rmse_of_the_same_rows() -> None:
    from shared.monitoring.challenge import compare
    from shared.project_config import parse_project_config

    config = parse_project_config(
        {
            "model": {"name": "prices", "task": "regression", "target": "price"},
            "monitoring": {"bootstrap_rounds": 200},
        },
        "prices.toml",
    )
    rng = np.random.default_rng(11)
    y = rng.normal(100, 20, 500)
    champion, challenger = Outputs(y + rng.normal(0, 10, 500)), Outputs(y + rng.normal(0, 5, 500))

    compared = compare(pd.DataFrame({"price": y}), champion, challenger, config)

    assert compared.metric == "rmse"
    assert compared.champion["rmse"] == pytest.approx(
        root_mean_squared_error(y, champion.outputs), abs=1e-6
    )
    assert compared.high < 0  # the challenger's error is clearly lower
    assert compared.challenger_wins
