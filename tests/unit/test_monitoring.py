"""The pure parts of a check: the decision, the comparison, the record, drift addition, ticks."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from shared.drift import DriftCounts
from shared.monitoring.challenge import Comparison, compare, recent_rows
from shared.monitoring.check import tick_id_of, tick_request
from shared.monitoring.estimation import Estimate
from shared.monitoring.period_table import PeriodRow
from shared.monitoring.policy import decide, judge_periods, metric_drop
from shared.monitoring.record import Decision, MonitoringRun
from shared.monitoring.tasks import MetricContext, binary_realized
from shared.project_config import (
    MonitoringPolicy,
    load_project_config,
    parse_project_config,
    project_config_tables,
)
from shared.tables import MONITORING_RUNS
from shared.training.metrics import row_cost
from shared.training.reference import reference_statistics
from shared.training.spec import Cost

POLICY = MonitoringPolicy(
    min_labelled_rows=100, max_metric_drop=0.03, drift_min_features=2, max_model_age_days=90
)


def period(day: int, *, roc_auc: float | None = 0.84, drifted: tuple[str, ...] = (),
           estimated: float | None = None, labelled: int = 500) -> PeriodRow:  # fmt: skip
    start = date(2026, 1, 1) + timedelta(days=7 * day)
    return PeriodRow(
        start=start,
        end=start + timedelta(days=7),
        rows=1000,
        labelled_rows=labelled,
        realized={} if roc_auc is None else {"roc_auc": roc_auc},
        realized_problem=None if roc_auc is not None else "12 labelled rows; 100 needed",
        estimated={} if estimated is None else {"roc_auc": Estimate(estimated, 0.01)},
        realized_error=None,
        drift={"rows": 1000, "drifted": list(drifted)},
    )


def verdict(periods: list[PeriodRow], policy: MonitoringPolicy = POLICY, **given: object):  # type: ignore[no-untyped-def]
    judged = judge_periods(policy, periods, metric="roc_auc", test_value=0.85)
    arguments: dict[str, object] = {"metric": "roc_auc", "age_days": 3.0}
    return decide(policy, judged, **(arguments | given))  # type: ignore[arg-type]


def test_a_champion_within_every_limit_is_healthy() -> None:
    found = verdict([period(0), period(1), period(2)])
    assert not found.retrain
    assert found.decision is Decision.HEALTHY
    assert "roc_auc 0.8400 in the latest judged period" in found.reason


@pytest.mark.parametrize(
    ("periods", "given", "said"),
    [
        ([period(0), period(1, roc_auc=0.80), period(2, roc_auc=0.79)], {},
         "performance alerted in 2 of the last 3 periods"),
        ([period(0, drifted=("a", "b")), period(1, drifted=("a", "b", "c")), period(2)], {},
         "drift (jensen_shannon ≥ 0.1, 2 or more features) alerted in 2 of the last 3"),
        ([period(0)], {"age_days": 91.0}, "91 days old"),
        ([period(0)], {"force": True}, "forced"),
    ],
)  # fmt: skip
def test_each_trigger_retrains_and_says_why(
    periods: list[PeriodRow], given: dict[str, object], said: str
) -> None:
    found = verdict(periods, **given)
    assert found.retrain
    assert said in found.reason


def test_k_of_the_last_n_periods_with_data_decide_not_one_pooled_window() -> None:
    # One bad period of three is not enough; the same bad period long ago does not count.
    assert not verdict([period(0), period(1, roc_auc=0.70), period(2)]).retrain
    old = [period(0, roc_auc=0.70), period(1, roc_auc=0.70), period(2), period(3), period(4)]
    assert not verdict(old).retrain
    # The rule is configurable: one of the last one.
    strict = MonitoringPolicy(min_labelled_rows=100, recent_periods=1, alert_periods=1)
    assert verdict([period(0), period(1), period(2, roc_auc=0.70)], strict).retrain


def test_a_floor_judges_the_metric_alone_and_lower_is_better_metrics_turn_it_round() -> None:
    floored = MonitoringPolicy(metric_floor=0.9, max_metric_drop=1.0)
    assert verdict([period(0, roc_auc=0.86), period(1, roc_auc=0.86)], floored).retrain
    assert metric_drop("log_loss", 0.52, 0.42) == pytest.approx(0.10)
    assert metric_drop("roc_auc", 0.80, 0.85) == pytest.approx(0.05)


def test_without_enough_labels_quality_is_not_judged_but_drift_still_retrains() -> None:
    quiet = verdict([period(0, roc_auc=None), period(1, roc_auc=None)])
    assert not quiet.retrain
    assert quiet.decision is Decision.NOT_ENOUGH_LABELS
    assert quiet.reason.startswith("no period has enough labels to judge")
    drifted = verdict([period(0, roc_auc=None, drifted=("a", "b")),
                       period(1, roc_auc=None, drifted=("a", "b"))])  # fmt: skip
    assert drifted.retrain


def test_an_estimated_degradation_retrains_before_labels_only_when_the_policy_says_so() -> None:
    unlabelled = [period(i, roc_auc=None, estimated=0.70) for i in range(3)]
    shown = judge_periods(POLICY, unlabelled, metric="roc_auc", test_value=0.85)
    assert all("estimated_performance" in p.alerts for p in shown)
    assert not verdict(unlabelled).retrain
    eager = MonitoringPolicy(min_labelled_rows=100, retrain_on_estimate=True)
    found = verdict(unlabelled, eager)
    assert found.retrain and "estimated performance alerted in 3 of the last 3" in found.reason
    # Where labels judge a period, its estimate does not alert.
    labelled = judge_periods(eager, [period(0, estimated=0.7)], metric="roc_auc", test_value=0.85)
    assert labelled[0].alerts == {}


def test_quality_needs_both_classes() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    frame = pd.DataFrame(
        {"record_id": range(400), "label": y.astype(str), "score": y * 0.6 + rng.random(400) * 0.4}
    )
    context = MetricContext("1", 0.5, Cost(1.0, 5.0))
    one_class = frame[frame["label"] == "0"]
    only = binary_realized(one_class, context)
    assert only.values == {} and "negative" in (only.problem or "")
    full = binary_realized(frame, context)
    assert full.values["roc_auc"] > 0.9
    assert full.values["positive_rate"] == pytest.approx(y.mean())
    assert "expected_cost" in full.values


def comparison(low: float, high: float, metric: str = "roc_auc", margin: float = 0.0) -> Comparison:
    return Comparison(metric, margin, {metric: 0.8}, {metric: 0.82}, (low + high) / 2, low, high, 9)


def test_the_challenger_wins_only_when_the_whole_interval_clears_the_margin() -> None:
    assert comparison(0.001, 0.05).challenger_wins
    assert not comparison(-0.001, 0.05).challenger_wins
    assert not comparison(0.01, 0.05, margin=0.02).challenger_wins
    # Lower is better: the difference must be below minus the margin.
    assert comparison(-0.05, -0.01, metric="log_loss").challenger_wins
    assert not comparison(-0.05, 0.01, metric="log_loss").challenger_wins
    record = comparison(0.01, 0.03).record("v2")
    assert record["difference"] == {"mean": 0.02, "low": 0.01, "high": 0.03}
    assert record["version"] == "v2" and record["holdout_rows"] == 9


def test_recent_rows_keep_the_training_window_counted_back_from_the_newest_row() -> None:
    config = parse_project_config(
        {
            "model": {"name": "m", "target": "y", "time_column": "t"},
            "monitoring": {"training_window_days": 10},
        },
        "test",
    )
    frame = pd.DataFrame(
        {"t": pd.date_range("2026-01-01", periods=30, freq="D").astype(str), "y": 0}
    )
    kept = recent_rows(frame, config)
    assert kept["t"].tolist() == frame["t"].tolist()[-11:]
    with pytest.raises(Exception, match="time_column"):
        parse_project_config(
            {"model": {"name": "m", "target": "y"}, "monitoring": {"training_window_days": 5}},
            "test",
        )


def test_a_run_round_trips_through_its_table_row() -> None:
    run = MonitoringRun(
        run_id="check-1",
        started_at=datetime(2026, 11, 23, 3, 0, tzinfo=UTC),
        decision=Decision.PROMOTED,
        reason="drift",
        trigger="schedule",
        champion_version="v1",
        metrics={"values": {"roc_auc": 0.8}},
        drift={"psi": {"income": 0.4}},
        challenger_version="v2",
        challenger_metrics={"difference": {"low": 0.01}},
        promoted=True,
        ended_at=datetime(2026, 11, 23, 3, 5, tzinfo=UTC),
        periods=[{"start": "2026-11-16", "rows": 3}],
    )
    row = run.to_row()
    assert tuple(row) == MONITORING_RUNS.column_names()
    assert json.loads(row["drift"]) == {"psi": {"income": 0.4}}
    back = MonitoringRun.from_row(
        row
        | {
            "started_at": run.started_at,
            "ended_at": run.ended_at,
        }
    )
    assert back == run


def test_drift_counts_of_several_files_add_up_to_the_counts_of_one_stream() -> None:
    rng = np.random.default_rng(3)
    train = pd.DataFrame({"x": rng.normal(size=2000), "c": rng.choice(["a", "b"], 2000)})
    from shared.model import FeatureSpec

    features = (FeatureSpec("x", "numeric", None), FeatureSpec("c", "categorical", ("a", "b")))
    reference = reference_statistics(train, features, rng.random(600))
    one = DriftCounts(reference)
    total = DriftCounts(reference)
    for _ in range(3):
        batch = pd.DataFrame({"x": rng.normal(1, size=500), "c": rng.choice(["a", "z"], 500)})
        scores = rng.random(500)
        one.add(batch, scores)
        part = DriftCounts(reference)
        part.add(batch, scores)
        total.absorb(json.loads(json.dumps(part.state())))
    assert total.state() == one.state()
    assert total.summary(0.1) == one.summary(0.1)
    assert total.summary(0.1)["threshold"] == 0.1


def test_a_tick_names_its_trigger_and_may_force() -> None:
    plain = tick_request("m1", b'{"trigger": "schedule"}')
    assert (plain.trigger, plain.force) == ("schedule", False)
    assert plain.tick_id == tick_id_of("m1", b'{"trigger": "schedule"}')
    # A redelivery is the same tick; the same message id with another body (an emulator that
    # restarted its count) is another.
    assert tick_request("m1", b'{"trigger": "schedule"}').tick_id == plain.tick_id
    assert tick_request("m1", b'{"trigger": "schedule", "at": 1}').tick_id != plain.tick_id
    assert tick_request("", b"{}").tick_id is None
    assert tick_request("m2", b'{"trigger": "demo", "force": true}').force
    assert tick_request("m3", b"not json").trigger == "schedule"
    assert tick_request("m4", b"[1]").trigger == "schedule"
    assert not tick_request("m5", b'{"force": "yes"}').force


def test_a_version_stores_a_configuration_that_reads_back_equal() -> None:
    config = load_project_config()
    stored = json.loads(json.dumps(project_config_tables(config)))
    assert parse_project_config(stored, "stored") == config


class FixedScores:
    """A model that answers given scores, by row position, at its own threshold."""

    def __init__(self, scores: np.ndarray, threshold: float) -> None:
        self.scores = scores
        self.threshold = threshold

    def predict_scores(self, frame: pd.DataFrame) -> np.ndarray:
        return self.scores[frame.index.to_numpy()]


def test_promotion_by_expected_cost_compares_the_business_cost_per_row() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 3000)
    holdout = pd.DataFrame({"y": y})
    # The champion ranks a little better; the challenger's threshold suits the costs far better.
    champion = FixedScores(np.clip(y * 0.5 + rng.random(3000) * 0.6, 0, 1), threshold=0.9)
    challenger = FixedScores(np.clip(y * 0.45 + rng.random(3000) * 0.6, 0, 1), threshold=0.3)
    tables = {
        "model": {"name": "m", "target": "y"},
        "cost": {"false_positive": 1.0, "false_negative": 5.0},
        "monitoring": {"bootstrap_rounds": 200},
    }
    by_auc = compare(holdout, champion, challenger, parse_project_config(tables, "t"))
    assert by_auc.metric == "roc_auc" and not by_auc.challenger_wins
    tables["monitoring"]["promotion_metric"] = "expected_cost"  # type: ignore[index]
    config = parse_project_config(tables, "t")
    assert config.primary_metric == "roc_auc" and config.promotion_metric == "expected_cost"
    by_cost = compare(holdout, champion, challenger, config)
    assert by_cost.metric == "expected_cost" and by_cost.challenger_wins
    cost = Cost(1.0, 5.0)
    per_row = row_cost(y, challenger.scores, 0.3, cost) - row_cost(y, champion.scores, 0.9, cost)
    assert by_cost.mean == pytest.approx(per_row.mean(), abs=0.02)
    assert by_cost.high < 0  # lower is better: the whole interval below zero
    assert by_cost.record("v2")["primary_metric"] == "expected_cost"
