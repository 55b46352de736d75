"""The per-period table of a check: for each period of the data's time that has data, its row
counts, the realized performance where labels exist, the performance estimated from the scores,
and the drift of the inputs and scores against the reference.

    build_periods(rows, drift, task=…, context=…, policy=…, …) -> [PeriodRow], oldest first

What is measured per task (realized metrics, estimator) comes from `shared.monitoring.tasks`;
which measures alert in a period, and the verdict over periods, from `shared.monitoring.policy`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from shared.monitoring.estimation import Estimate, sampling_error
from shared.monitoring.tasks import MetricContext, TaskMonitoring
from shared.monitoring.window_drift import WindowDrift
from shared.periods import Period, day_of_number
from shared.project_config import MonitoringPolicy


@dataclass(frozen=True)
class PeriodRow:
    start: date  # first day, UTC
    end: date  # the day after the last
    rows: int  # predictions filed in the period
    labelled_rows: int
    realized: dict[str, float]  # empty: too few labels, or one class only (`realized_problem`)
    realized_problem: str | None
    estimated: dict[str, Estimate]  # empty: the task has no estimator, or no scores
    # Sampling error of the primary metric on this period's labelled rows (None: unknown).
    realized_error: float | None
    drift: Mapping[str, Any]  # DriftCounts.summary of the period's inputs
    alerts: dict[str, str] = field(default_factory=dict)  # measure → why it alerted

    def record(self) -> dict[str, Any]:
        """The period as `monitoring_runs.periods` keeps it (see shared.monitoring.record)."""
        drift = self.drift
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "rows": self.rows,
            "labelled_rows": self.labelled_rows,
            "realized": {name: round(v, 6) for name, v in self.realized.items()},
            "realized_problem": self.realized_problem,
            "realized_error": None
            if self.realized_error is None
            else round(self.realized_error, 6),
            "estimated": {name: e.record() for name, e in self.estimated.items()},
            "drift": {
                "rows": drift.get("rows", 0),
                "statistic": drift.get("statistic"),
                "threshold": drift.get("threshold"),
                "jensen_shannon": drift.get("jensen_shannon", {}),
                "psi": drift.get("psi", {}),
                "score_jensen_shannon": drift.get("score_jensen_shannon"),
                "score_psi": drift.get("score_psi"),
                "drifted": drift.get("drifted", []),
            },
            "alerts": dict(self.alerts),
        }


def period_starts(filed_at: pd.Series, period: Period) -> npt.NDArray[np.object_]:
    """The first day of the period each moment falls in."""
    days = filed_at.dt.tz_convert(None).to_numpy(dtype="datetime64[us]").astype("datetime64[D]")
    numbers = days.astype(np.int64)
    starts = {int(n): period.start_of(day_of_number(int(n))) for n in np.unique(numbers)}
    return np.array([starts[int(n)] for n in numbers], dtype=object)


def build_periods(
    rows: pd.DataFrame,
    drift: WindowDrift,
    *,
    monitoring: TaskMonitoring,
    context: MetricContext,
    policy: MonitoringPolicy,
    metric: str,
    sampling: Mapping[str, Any] | None,
) -> list[PeriodRow]:
    """One row per period that has predictions or drift counts, oldest first (`rows` as
    `shared.monitoring.quality.scored_rows` gives them)."""
    period = policy.periods
    starts = period_starts(rows["filed_at"], period) if len(rows) else np.array([], dtype=object)
    found = sorted(set(starts.tolist()) | set(drift.by_period))
    table = []
    for start in found:
        in_period = rows[starts == start] if len(rows) else rows
        labelled = in_period[in_period["label"].notna()]
        realized: dict[str, float] = {}
        problem: str | None = None
        if len(labelled) < policy.min_labelled_rows:
            problem = f"{len(labelled)} labelled rows; {policy.min_labelled_rows} needed to judge"
        else:
            measured = monitoring.realized(labelled, context)
            realized, problem = measured.values, measured.problem
        estimated: dict[str, Estimate] = {}
        if monitoring.estimate is not None and len(in_period):
            for name, value in monitoring.estimate(in_period, context).items():
                error = sampling_error(sampling, name, len(in_period))
                estimated[name] = Estimate(value, error)
        counts = drift.by_period.get(start)
        summary = (
            counts.summary(drift_threshold(policy), statistic=policy.drift_statistic)
            if counts is not None
            else {"rows": 0, "drifted": []}
        )
        table.append(
            PeriodRow(
                start=start,
                end=period.bounds(start)[1],
                rows=len(in_period),
                labelled_rows=len(labelled),
                realized=realized,
                realized_problem=problem,
                estimated=estimated,
                realized_error=sampling_error(sampling, metric, len(labelled)),
                drift=summary,
            )
        )
    return table


def drift_threshold(policy: MonitoringPolicy) -> float:
    """The threshold of the statistic that judges drift."""
    if policy.drift_statistic == "jensen_shannon":
        return policy.drift_js_threshold
    return policy.drift_psi_threshold


def recent(periods: Sequence[PeriodRow], count: int) -> list[PeriodRow]:
    """The last `count` periods that have data."""
    having = [p for p in periods if p.rows or p.drift.get("rows")]
    return having[-count:]
