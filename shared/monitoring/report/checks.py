"""A check as the report reads it: the numbers of a `MonitoringRun`, any of which may be
missing."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared import metric_table
from shared.metric_table import METRICS
from shared.monitoring.record import MonitoringRun
from shared.monitoring.report.svg import as_utc

# The metrics compared side by side, in this order after the primary metric: the table's.
MAIN_METRICS: tuple[str, ...] = tuple(dict.fromkeys(m.name for m in METRICS))


@dataclass(frozen=True)
class Check:
    """A run with the numbers the report draws, read defensively: any may be missing."""

    run: MonitoringRun
    started: datetime  # UTC
    primary_metric: str | None
    values: Mapping[str, float | None]
    test_value: float | None
    labelled_rows: float | None
    psi: Mapping[str, float | None]
    score_psi: float | None
    threshold: float | None
    drifted: tuple[str, ...]

    @classmethod
    def of(cls, run: MonitoringRun) -> Check:
        metrics, drift = mapping_of(run.metrics), mapping_of(run.drift)
        psi = {str(k): number(v) for k, v in mapping_of(drift.get("psi")).items()}
        threshold = number(drift.get("threshold"))
        listed = drift.get("drifted")
        if isinstance(listed, list | tuple):
            drifted = tuple(str(name) for name in listed)
        else:  # not recorded: judged here against the threshold
            drifted = tuple(
                name
                for name, value in sorted(psi.items(), key=worst_first)
                if value is not None and threshold is not None and value >= threshold
            )
        primary = metrics.get("primary_metric")
        primary = primary or mapping_of(run.challenger_metrics).get("primary_metric")
        return cls(
            run=run,
            started=as_utc(run.started_at),
            primary_metric=str(primary) if primary else None,
            values={str(k): number(v) for k, v in mapping_of(metrics.get("values")).items()},
            test_value=number(metrics.get("test_value")),
            labelled_rows=number(metrics.get("labelled_rows")),
            psi=psi,
            score_psi=number(drift.get("score_psi")),
            threshold=threshold,
            drifted=drifted,
        )

    def value(self, metric: str | None) -> float | None:
        return self.values.get(metric) if metric else None


def number(value: object) -> float | None:
    """A finite float, or None for a missing, non-numeric, NaN or infinite value."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        result = float(value)
    except ValueError:
        return None
    return result if math.isfinite(result) else None


def mapping_of(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def worst_first(item: tuple[str, float | None]) -> tuple[bool, float, str]:
    name, value = item
    return (value is None, -(value or 0.0), name)


def chart_metric(checks: Sequence[Check], focus: Check) -> str | None:
    """The metric drawn over time: the focused check's primary metric, else the most common."""
    if focus.primary_metric:
        return focus.primary_metric
    named = Counter(c.primary_metric for c in checks if c.primary_metric)
    return named.most_common(1)[0][0] if named else None


def direction(metric: str) -> str:
    """Which way the metric improves, in words ("" for a metric the table has not)."""
    return metric_table.direction(metric) if metric_table.is_known(metric) else ""


def lower_is_better(metric: str) -> bool:
    return metric_table.is_known(metric) and not metric_table.higher_is_better(metric)
