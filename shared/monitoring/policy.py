"""The decision of a check: retrain or not, and why, from the configuration's `[monitoring]`.

Each period of the per-period table is judged on its own; a measure alerts in a period when:
- performance (realized): the primary metric on the period's labelled rows (at least
  `min_labelled_rows`, both classes) is past `metric_floor`, or more than `max_metric_drop`
  worse than on the test split at training (for a metric in the target's units, RMSE and MAE,
  `max_metric_drop` is a share of the test value: 0.03 allows 3% worse);
- estimated performance: the same rule applied to the metric estimated from the period's scores
  (CBPE), in a period whose labels are too few to judge it realized;
- drift: at least `drift_min_features` features have drifted in the period (their
  `drift_statistic` at or above its threshold: `drift_js_threshold` or `drift_psi_threshold`).

The rule: retrain when a measure alerts in at least `alert_periods` of the last
`recent_periods` periods that have data (defaults: 2 of the last 3), each such measure one
reason. Estimated performance counts only with `retrain_on_estimate` (off by default); its
alerts are shown either way. Also retrain when the champion is older than
`max_model_age_days`, or the check was forced. With no recent period judged on labels, and
nothing else due, the check records "not enough labels".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from shared.metric_table import higher_is_better, in_target_units, worse_by
from shared.monitoring.period_table import PeriodRow, drift_threshold, recent
from shared.monitoring.record import Decision
from shared.project_config import MonitoringPolicy

PERFORMANCE = "performance"
ESTIMATED = "estimated_performance"
DRIFT = "drift"
MEASURES = (PERFORMANCE, ESTIMATED, DRIFT)


@dataclass(frozen=True)
class Verdict:
    retrain: bool
    decision: Decision  # HEALTHY or NOT_ENOUGH_LABELS when not retraining
    reasons: tuple[str, ...]  # why retrain; or, when not, what was found

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def metric_drop(metric: str, value: float, test_value: float) -> float:
    """How much worse `value` is than `test_value` (negative: better): in the metric's units,
    or, for a metric in the target's units, as a share of the test value."""
    worse = worse_by(metric, value, test_value)
    if in_target_units(metric):
        return worse / abs(test_value) if test_value else (0.0 if worse <= 0 else float("inf"))
    return worse


def _allowed(policy: MonitoringPolicy, metric: str) -> str:
    """The allowed drop, in words."""
    if in_target_units(metric):
        return f"{policy.max_metric_drop:.0%}"
    return f"{policy.max_metric_drop:g}"


def judge_periods(
    policy: MonitoringPolicy, periods: Sequence[PeriodRow], *, metric: str, test_value: float | None
) -> list[PeriodRow]:
    """The periods with their alerts filled in: measure → why, in words."""
    judged = []
    for row in periods:
        alerts: dict[str, str] = {}
        value = row.realized.get(metric)
        if value is not None:
            why = _quality_problem(policy, metric, value, test_value)
            if why:
                alerts[PERFORMANCE] = (
                    f"{metric} {value:.4f} on {row.labelled_rows} labelled rows {why}"
                )
        estimate = row.estimated.get(metric)
        if value is None and estimate is not None:
            why = _quality_problem(policy, metric, estimate.value, test_value)
            if why:
                alerts[ESTIMATED] = f"estimated {metric} {estimate.value:.4f} {why}"
        drifted = row.drift.get("drifted", [])
        if len(drifted) >= policy.drift_min_features:
            shown = ", ".join(drifted[:6]) + (", …" if len(drifted) > 6 else "")
            alerts[DRIFT] = f"{len(drifted)} features drifted: {shown}"
        judged.append(replace(row, alerts=alerts))
    return judged


def alert_limit(policy: MonitoringPolicy, metric: str, test_value: float | None) -> float | None:
    """The value of the primary metric past which a period alerts: the stricter of the floor
    and the test value less the allowed drop (None: neither is set)."""
    higher = higher_is_better(metric)
    limits = [] if policy.metric_floor is None else [policy.metric_floor]
    if test_value is not None:
        drop = policy.max_metric_drop
        if in_target_units(metric):
            drop *= abs(test_value)
        limits.append(test_value - drop if higher else test_value + drop)
    if not limits:
        return None
    return max(limits) if higher else min(limits)


def _quality_problem(
    policy: MonitoringPolicy, metric: str, value: float, test_value: float | None
) -> str | None:
    floor = policy.metric_floor
    if floor is not None and (value < floor if higher_is_better(metric) else value > floor):
        return f"is past the {'floor' if higher_is_better(metric) else 'ceiling'} {floor:g}"
    if test_value is not None:
        drop = metric_drop(metric, value, test_value)
        if drop > policy.max_metric_drop:
            worse = f"{drop:.1%}" if in_target_units(metric) else f"{drop:.4f}"
            return (
                f"is {worse} worse than at training ({test_value:.4f}); at most "
                f"{_allowed(policy, metric)} allowed"
            )
    return None


def decide(
    policy: MonitoringPolicy,
    periods: Sequence[PeriodRow],
    *,
    metric: str,
    age_days: float,
    force: bool = False,
) -> Verdict:
    """The verdict over the judged periods (`judge_periods`), by the rule of the docstring."""
    last = recent(periods, policy.recent_periods)
    triggers: list[str] = []
    counted = [PERFORMANCE, DRIFT] + ([ESTIMATED] if policy.retrain_on_estimate else [])
    for measure in counted:
        alerting = [p for p in last if measure in p.alerts]
        if len(alerting) >= policy.alert_periods:
            triggers.append(_trigger(policy, measure, alerting, len(last)))
    if age_days > policy.max_model_age_days:
        triggers.append(
            f"the champion is {age_days:.0f} days old (at most {policy.max_model_age_days})"
        )
    if force:
        triggers.append("forced")
    if triggers:
        return Verdict(True, Decision.WOULD_RETRAIN, tuple(triggers))
    found = _findings(policy, last, metric)
    if not any(metric in p.realized for p in last):
        problems = [p.realized_problem for p in last if p.realized_problem]
        said = "no period has enough labels to judge"
        if problems:
            said += f" (the last: {problems[-1]})"
        if not last:
            said = "nothing was scored in the window"
        return Verdict(False, Decision.NOT_ENOUGH_LABELS, (said, *found))
    return Verdict(False, Decision.HEALTHY, tuple(found))


def _trigger(
    policy: MonitoringPolicy, measure: str, alerting: Sequence[PeriodRow], read: int
) -> str:
    label = {
        PERFORMANCE: "performance",
        ESTIMATED: "estimated performance",
        DRIFT: f"drift ({policy.drift_statistic} ≥ {drift_threshold(policy):g}, "
        f"{policy.drift_min_features} or more features)",
    }[measure]
    latest = alerting[-1]
    return (
        f"{label} alerted in {len(alerting)} of the last {read} periods "
        f"({policy.alert_periods} trigger a retrain); in the period of {latest.start}: "
        f"{latest.alerts[measure]}"
    )


def _findings(policy: MonitoringPolicy, last: Sequence[PeriodRow], metric: str) -> list[str]:
    if not last:
        return []
    found = [f"the last {len(last)} periods ({last[0].start} to {last[-1].end})"]
    for measure in MEASURES:
        alerting = sum(measure in p.alerts for p in last)
        if alerting:
            found.append(f"{measure.replace('_', ' ')} alerted in {alerting}")
    judged = [p.realized[metric] for p in last if metric in p.realized]
    if judged:
        found.append(f"{metric} {judged[-1]:.4f} in the latest judged period")
    return found
