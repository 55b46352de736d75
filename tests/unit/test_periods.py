"""Periods of the data's time, drift per day and per period, the estimator, and the table."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from sklearn.metrics import roc_auc_score

from shared.drift import DriftCounts, jensen_shannon
from shared.errors import ConfigError
from shared.model import FeatureSpec
from shared.monitoring.estimation import binary_estimates, sampling_error
from shared.monitoring.period_table import build_periods
from shared.monitoring.tasks import MetricContext, task_monitoring
from shared.monitoring.window_drift import WindowDrift
from shared.periods import Period, day_number
from shared.project_config import MonitoringPolicy, parse_project_config
from shared.training.reference import reference_statistics


@pytest.mark.parametrize(
    ("name", "day", "bounds"),
    [
        ("day", date(2024, 2, 29), (date(2024, 2, 29), date(2024, 3, 1))),
        ("week", date(2024, 7, 4), (date(2024, 7, 1), date(2024, 7, 8))),  # Monday to Sunday
        ("month", date(2024, 12, 31), (date(2024, 12, 1), date(2025, 1, 1))),
        ("14d", date(1970, 1, 20), (date(1970, 1, 15), date(1970, 1, 29))),
    ],
)
def test_a_period_holds_whole_utc_days(name: str, day: date, bounds: tuple[date, date]) -> None:
    period = Period.parse(name)
    assert period is not None and period.name == name
    assert period.bounds(day) == bounds
    assert period.bounds(bounds[1])[0] == bounds[1]  # the next period starts where it ends


@pytest.mark.parametrize(
    ("table", "key", "said"),
    [
        ({"period": "fortnight"}, "monitoring.period", '"week", "month", or "<N>d"'),
        ({"period": "0d"}, "monitoring.period", "found '0d' (text)"),
        ({"alert_periods": 4}, "monitoring.alert_periods", "at most monitoring.recent_periods"),
        ({"drift_statistic": "ks"}, "monitoring.drift_statistic", "jensen_shannon, psi"),
        ({"drift_js_threshold": 1.5}, "monitoring.drift_js_threshold", "at most 1"),
        ({"retrain_on_estimate": "yes"}, "monitoring.retrain_on_estimate", "true or false"),
        ({"promotion_metric": "rmse"}, "monitoring.promotion_metric", "binary_classification"),
        ({"promotion_metric": "expected_cost"}, "monitoring.promotion_metric", "[cost]"),
    ],
)
def test_monitoring_settings_are_refused_with_the_key_and_what_was_expected(
    table: dict[str, object], key: str, said: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_project_config(
            {"model": {"name": "m", "target": "y"}, "monitoring": table}, "cloudscore.toml"
        )
    assert raised.value.name == f"cloudscore.toml:{key}"
    assert said in raised.value.problem


def test_defaults_are_documented_and_the_promotion_metric_falls_back_to_the_primary() -> None:
    config = parse_project_config({"model": {"name": "m", "target": "y"}}, "t")
    policy = config.monitoring
    assert (policy.period, policy.alert_periods, policy.recent_periods) == ("week", 2, 3)
    assert (policy.drift_statistic, policy.drift_js_threshold) == ("jensen_shannon", 0.1)
    assert policy.retrain_on_estimate is False
    assert config.promotion_metric == "roc_auc"


def test_jensen_shannon_is_scipys_base_2_distance() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        p, q = rng.random(8), rng.random(8)
        q[3] = 0.0
        assert jensen_shannon(p, q) == pytest.approx(jensenshannon(p, q, base=2), abs=1e-12)
    assert jensen_shannon([1, 0], [0, 1]) == pytest.approx(1.0)


def reference_of(rng: np.random.Generator) -> dict[str, object]:
    train = pd.DataFrame({"x": rng.normal(size=3000), "c": rng.choice(["a", "b"], 3000)})
    features = (FeatureSpec("x", "numeric", None), FeatureSpec("c", "categorical", ("a", "b")))
    return reference_statistics(train, features, rng.random(800))


def test_counts_per_day_add_up_to_the_batch_and_survive_a_json_round_trip() -> None:
    rng = np.random.default_rng(2)
    reference = reference_of(rng)
    counts = DriftCounts(reference)
    batch = pd.DataFrame({"x": rng.normal(size=900), "c": rng.choice(["a", "b", "z"], 900)})
    scores = rng.random(900)
    scores[5] = np.nan
    days = rng.choice([19000, 19001, 19030], 900)
    counts.add(batch, scores, days)
    back = DriftCounts.from_state(reference, json.loads(json.dumps(counts.state())))
    daily = back.daily()
    assert sorted(daily) == [19000, 19001, 19030]
    for day, day_counts in daily.items():
        alone = DriftCounts(reference)
        mask = days == day
        alone.add(batch[mask], scores[mask])
        assert day_counts.state() == alone.state()
    pooled = DriftCounts(reference)
    for day_counts in daily.values():
        pooled.absorb(day_counts.state())
    assert pooled.counts == counts.counts and pooled.rows == 900


def test_cbpe_estimates_roc_auc_as_nannyml_does_from_calibrated_scores() -> None:
    rng = np.random.default_rng(3)
    p = np.round(rng.beta(2, 5, 4000), 3)  # ties, as real scores have
    # nannyml's estimate_roc_auc: expected true and false positives over the sorted scores.
    order = np.argsort(-p, kind="stable")
    tps = np.r_[0, np.cumsum(p[order])]
    fps = np.r_[0, np.cumsum(1 - p[order])]
    distinct = np.r_[np.flatnonzero(np.diff(p[order])), len(p) - 1] + 1
    keep = np.r_[0, distinct]
    expected = np.trapezoid(tps[keep] / tps[-1], fps[keep] / fps[-1])
    estimates = binary_estimates(p, 0.4, None)
    assert estimates["roc_auc"] == pytest.approx(expected, abs=1e-9)
    # Labels drawn from calibrated scores: the realized values lie near the estimates.
    y = (rng.random(len(p)) < p).astype(int)
    assert roc_auc_score(y, p) == pytest.approx(estimates["roc_auc"], abs=0.03)
    assert estimates["brier"] == pytest.approx(np.mean((p - y) ** 2), abs=0.01)
    flagged = p >= 0.4
    assert estimates["recall"] == pytest.approx(y[flagged].sum() / y.sum(), abs=0.05)


def test_the_sampling_error_scales_with_the_square_root_of_the_rows() -> None:
    reference = {"rows": 10_000, "std": {"roc_auc": 0.004}}
    assert sampling_error(reference, "roc_auc", 2500) == pytest.approx(0.008)
    assert sampling_error(reference, "pr_auc", 2500) is None
    assert sampling_error(None, "roc_auc", 2500) is None


def test_the_table_cuts_rows_by_their_data_time_and_measures_each_period() -> None:
    rng = np.random.default_rng(4)
    reference = reference_of(rng)
    policy = MonitoringPolicy(period="month", min_labelled_rows=50)
    times = pd.to_datetime(["2018-01-05", "2018-01-30", "2018-02-01", "2018-03-31"] * 150, utc=True)
    scores = rng.random(600)
    labels = np.where(rng.random(600) < scores, "1", "0").astype(object)
    labels[times.month == 3] = None  # March's labels have not arrived
    rows = pd.DataFrame(
        {"score": scores, "predicted_label": None, "filed_at": times, "label": labels}
    )
    drift = WindowDrift(reference, policy.periods)
    counts = DriftCounts(reference)
    inputs = pd.DataFrame({"x": rng.normal(2, size=600), "c": "a"})
    days = np.array([day_number(t.date()) for t in times])
    counts.add(inputs, scores, days)
    drift.absorb_run(json.loads(json.dumps(counts.state())), times[0].to_pydatetime())
    context = MetricContext("1", 0.5, None)
    table = build_periods(
        rows, drift, monitoring=task_monitoring("binary_classification"), context=context,
        policy=policy, metric="roc_auc", sampling={"rows": 600, "std": {"roc_auc": 0.02}},
    )  # fmt: skip
    assert [(p.start, p.end, p.rows, p.labelled_rows) for p in table] == [
        (date(2018, 1, 1), date(2018, 2, 1), 300, 300),
        (date(2018, 2, 1), date(2018, 3, 1), 150, 150),
        (date(2018, 3, 1), date(2018, 4, 1), 150, 0),
    ]
    january = np.asarray(times.month == 1)
    assert table[0].realized["roc_auc"] == pytest.approx(
        roc_auc_score(labels[january] == "1", scores[january])
    )
    assert table[2].realized == {} and "0 labelled rows" in (table[2].realized_problem or "")
    assert table[2].estimated["roc_auc"].sampling_error == pytest.approx(0.02 * 2)
    assert table[0].drift["rows"] == 300 and "x" in table[0].drift["drifted"]
    record = json.loads(json.dumps(table[0].record()))
    assert record["start"] == "2018-01-01" and record["end"] == "2018-02-01"
