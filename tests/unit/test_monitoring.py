"""The pure parts of a check: the decision, the comparison, the record, drift addition, ticks."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from shared.drift import DriftCounts
from shared.monitoring.challenge import Comparison, recent_rows
from shared.monitoring.check import tick_id_of, tick_request
from shared.monitoring.policy import decide, metric_drop
from shared.monitoring.quality import measure
from shared.monitoring.record import Decision, MonitoringRun
from shared.project_config import (
    MonitoringPolicy,
    load_project_config,
    parse_project_config,
    project_config_tables,
)
from shared.tables import MONITORING_RUNS
from shared.training.reference import reference_statistics
from shared.training.spec import Cost

POLICY = MonitoringPolicy(
    min_labelled_rows=100, max_metric_drop=0.03, drift_min_features=2, max_model_age_days=90
)


def verdict(**given: object):  # type: ignore[no-untyped-def]
    arguments: dict[str, object] = {
        "metric": "roc_auc",
        "values": {"roc_auc": 0.84},
        "labelled_rows": 500,
        "quality_problem": None,
        "test_value": 0.85,
        "drift": {"drifted": []},
        "age_days": 3.0,
    }
    return decide(POLICY, **(arguments | given))  # type: ignore[arg-type]


def test_a_champion_within_every_limit_is_healthy() -> None:
    found = verdict()
    assert not found.retrain
    assert found.decision is Decision.HEALTHY
    assert "roc_auc 0.8400 on 500 labelled rows (0.8500 at training)" in found.reason


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"values": {"roc_auc": 0.80}}, "0.0500 worse than at training"),
        ({"drift": {"drifted": ["income", "rate"]}}, "2 features drifted"),
        ({"age_days": 91.0}, "91 days old"),
        ({"force": True}, "forced"),
    ],
)
def test_each_trigger_retrains_and_says_why(given: dict[str, object], said: str) -> None:
    found = verdict(**given)
    assert found.retrain
    assert said in found.reason


def test_a_floor_judges_the_metric_alone_and_lower_is_better_metrics_turn_it_round() -> None:
    floored = MonitoringPolicy(metric_floor=0.9, max_metric_drop=1.0)
    assert decide(
        floored, metric="roc_auc", values={"roc_auc": 0.85}, labelled_rows=500,
        quality_problem=None, test_value=0.85, drift={}, age_days=1,
    ).retrain  # fmt: skip
    ceiling = MonitoringPolicy(metric_floor=0.5, max_metric_drop=0.05)
    ok = decide(
        ceiling, metric="log_loss", values={"log_loss": 0.44}, labelled_rows=500,
        quality_problem=None, test_value=0.42, drift={}, age_days=1,
    )  # fmt: skip
    worse = decide(
        ceiling, metric="log_loss", values={"log_loss": 0.52}, labelled_rows=500,
        quality_problem=None, test_value=0.42, drift={}, age_days=1,
    )  # fmt: skip
    assert not ok.retrain
    assert worse.retrain and "past the ceiling 0.5" in worse.reason
    assert metric_drop("log_loss", 0.52, 0.42) == pytest.approx(0.10)
    assert metric_drop("roc_auc", 0.80, 0.85) == pytest.approx(0.05)


def test_without_enough_labels_quality_is_not_judged_but_drift_still_retrains() -> None:
    quiet = verdict(values={}, labelled_rows=12, quality_problem="12 labelled; 100 needed")
    assert not quiet.retrain
    assert quiet.decision is Decision.NOT_ENOUGH_LABELS
    assert quiet.reason.startswith("12 labelled; 100 needed")
    drifted = verdict(values={}, labelled_rows=12, drift={"drifted": ["a", "b", "c"]})
    assert drifted.retrain


def test_quality_needs_the_minimum_rows_and_both_classes() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    frame = pd.DataFrame(
        {"record_id": range(400), "label": y.astype(str), "score": y * 0.6 + rng.random(400) * 0.4}
    )
    cost = Cost(1.0, 5.0)
    few = measure(frame.head(50), positive_label="1", threshold=0.5, cost=cost, min_rows=100)
    assert few.values == {} and "50 labelled predictions; 100 needed" in (few.problem or "")
    one_class = frame[frame["label"] == "0"]
    only = measure(one_class, positive_label="1", threshold=0.5, cost=cost, min_rows=100)
    assert only.values == {} and "negative" in (only.problem or "")
    full = measure(frame, positive_label="1", threshold=0.5, cost=cost, min_rows=100)
    assert full.labelled_rows == 400
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
