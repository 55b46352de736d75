"""One check of the champion, as `monitoring_runs` holds it and the report draws it.

The JSON columns have these shapes (every key present, values may be null):

    metrics             {"labelled_rows", "window_days", "period", "primary_metric",
                         "values": {metric: x}, "test_value", "drop", "age_days",
                         "alert_limit", "recent_periods", "alert_periods",
                         "drift_min_features"}
                        `values` are the champion's metrics on all the labelled rows of the
                        window together (empty when there were too few labels); `test_value`
                        its primary metric on the test split when it was trained; `drop` how
                        much worse the window is than that; `alert_limit` the value past which
                        a period's metric alerts, and the rest the verdict's rule.
    drift               {"rows", "files", "online_rows", "statistic", "threshold",
                         "psi": {feature: x}, "jensen_shannon": {feature: x}, "score_psi",
                         "score_jensen_shannon", "drifted": [features, worst first]}
                        the whole window's inputs together
    periods             [{"start", "end", "rows", "labelled_rows", "realized": {metric: x},
                          "realized_problem", "realized_error", "estimated": {metric:
                          {"value", "sampling_error"}}, "drift": {"rows", "statistic",
                          "threshold", "jensen_shannon", "psi", "score_jensen_shannon",
                          "score_psi", "drifted"}, "alerts": {measure: why}}, …]
                        the per-period table, oldest first: periods of `metrics.period` by the
                        data's time (ISO dates, `end` the day after the last); see
                        shared.monitoring.period_table and shared.monitoring.policy
    challenger_metrics  {"version", "holdout_rows", "primary_metric", "margin",
                         "champion": {metric: x}, "challenger": {metric: x},
                         "difference": {"mean", "low", "high"}}
                        both models measured on the same fresh holdout; `difference` is the
                        paired-bootstrap interval of challenger - champion on the metric
                        compared (`primary_metric` here: monitoring.promotion_metric, else the
                        training's primary metric).

A `monitoring_runs` table made before `periods` existed gets the column added in place when the
tables are ensured (`shared.tables.ensure_dataset`, or Terraform's apply): its rows keep null
there, and read back with an empty table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any


class Decision(StrEnum):
    """What a check concluded; `reason` says why in words."""

    HEALTHY = "healthy"  # measured, nothing to act on
    NOT_ENOUGH_LABELS = "not_enough_labels"  # too few labelled rows to judge, nothing else due
    PROMOTED = "promoted"  # retrained; the challenger won and is now the champion
    KEPT_CHAMPION = "kept_champion"  # retrained; the challenger did not win (alias: challenger)
    CHALLENGER_REFUSED = "challenger_refused"  # retrained; it did not beat the trivial baseline
    WOULD_RETRAIN = "would_retrain"  # a dry run that would have retrained
    SKIPPED = "skipped"  # another check held the lock
    NO_CHAMPION = "no_champion"  # nothing to measure yet
    FAILED = "failed"  # the check could not finish; `reason` says what stopped it

    @property
    def retrained(self) -> bool:
        return self in (Decision.PROMOTED, Decision.KEPT_CHAMPION, Decision.CHALLENGER_REFUSED)


@dataclass(frozen=True)
class MonitoringRun:
    run_id: str
    started_at: datetime  # timezone-aware, UTC
    decision: Decision
    reason: str
    trigger: str = "manual"  # schedule, manual, demo, …: who asked for the check
    champion_version: str | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    drift: Mapping[str, Any] = field(default_factory=dict)
    challenger_version: str | None = None
    challenger_metrics: Mapping[str, Any] = field(default_factory=dict)
    promoted: bool = False
    report_uri: str | None = None
    ended_at: datetime | None = None
    periods: Sequence[Mapping[str, Any]] = field(default_factory=list)

    def to_row(self) -> dict[str, Any]:
        """The `monitoring_runs` row (JSON columns as text, times as ISO 8601)."""
        row: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in _JSON_COLUMNS:
                value = json.dumps(value, sort_keys=True, default=str) if value else None
            elif isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, Decision):
                value = value.value
            row[item.name] = value
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> MonitoringRun:
        """A run from a `monitoring_runs` row as the BigQuery client returns it."""
        values: dict[str, Any] = {}
        for item in fields(cls):
            if item.name not in row:
                continue
            value = row[item.name]
            if item.name in _JSON_COLUMNS:
                value = json.loads(value) if value else ([] if item.name == "periods" else {})
            elif item.name in ("started_at", "ended_at") and isinstance(value, str):
                value = datetime.fromisoformat(value)
            elif item.name == "decision":
                value = Decision(value)
            elif item.name == "promoted":
                value = bool(value)
            values[item.name] = value
        values.setdefault("reason", "")
        return cls(**values)


_JSON_COLUMNS = ("metrics", "drift", "challenger_metrics", "periods")
