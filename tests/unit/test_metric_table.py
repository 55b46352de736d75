"""One table of metrics: the configuration, the gate, the challenge, the policy and the report
all take a metric's task and direction from `shared.metric_table`."""

from __future__ import annotations

import pytest

from shared.metric_table import METRICS, TASKS, Metric, higher_is_better, metrics_of
from shared.monitoring.challenge import Comparison
from shared.monitoring.policy import metric_drop
from shared.monitoring.report.checks import direction
from shared.project_config import METRICS as CONFIG_METRICS
from shared.training.gate import GateVerdict


def test_the_configuration_offers_each_tasks_primary_metrics_from_the_table() -> None:
    assert set(CONFIG_METRICS) == set(TASKS)
    for task in TASKS:
        assert CONFIG_METRICS[task] == tuple(
            m.name for m in METRICS if m.task == task and m.primary
        )
    assert "f1" not in metrics_of("binary_classification")  # reported, never chosen by
    assert "f1" in metrics_of("binary_classification", primary=False)


@pytest.mark.parametrize("row", METRICS, ids=[f"{m.task}:{m.name}" for m in METRICS])
def test_every_reader_takes_the_direction_from_the_table(row: Metric) -> None:
    better = 1.0 if row.higher_is_better else -1.0  # a difference on the better side

    assert GateVerdict(row.name, 0.0, 0.0, better, (better * 0.5, better * 2)).passed
    assert not GateVerdict(row.name, 0.0, 0.0, -better, (-better * 2, -better * 0.5)).passed
    wins = Comparison(
        row.name, 0.0, {}, {}, better, min(better, 2 * better), max(better, 2 * better), 1
    )
    assert wins.challenger_wins
    # A metric in the target's units (RMSE, MAE) drops by a share of its value at training.
    drop = 0.1 / 0.5 if row.target_units else 0.1
    assert metric_drop(row.name, value=0.5 - better * 0.1, test_value=0.5) == pytest.approx(drop)
    assert direction(row.name) == (
        "higher is better" if row.higher_is_better else "lower is better"
    )


def test_a_name_listed_under_two_tasks_keeps_one_direction() -> None:
    # The table refuses, when imported, a name given two directions: adding a task's rows
    # cannot turn an existing metric round.
    for row in METRICS:
        assert higher_is_better(row.name) is row.higher_is_better
