"""Drift of the window's inputs against the champion's reference, per period, from what scoring
kept.

Each batch run stores its bin counts (`scoring_runs.drift_summary["counts"]`), and within them
the counts of each UTC day of its rows' data time (`"days"`), so the files of the window add up
to exact counts per period without reading a single input row again. A run recorded before the
counts had days is filed whole under the day it started. The sampled inputs of the HTTP
function (`online_predictions.inputs`) are binned here, each under the day it was answered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shared.drift import DriftCounts
from shared.monitoring.window_query import version_window
from shared.periods import Period, day_number, day_of, day_of_number
from shared.tables import ONLINE_PREDICTIONS, SCORING_RUNS

if TYPE_CHECKING:
    from google.cloud import bigquery

# Enough sampled requests to bin; more adds little to a PSI and costs memory.
ONLINE_ROWS_LIMIT = 100_000

_RUNS = """
SELECT source_uri, source_generation, started_at, drift_summary FROM `{table}`
WHERE model_version = @version AND started_at >= @since AND drift_summary IS NOT NULL
  AND status IN ('succeeded', 'partially_rejected', 'failed')
"""

_ONLINE = """
SELECT inputs, score, predicted_at FROM `{table}`
WHERE model_version = @version AND NOT shadow AND predicted_at >= @since AND inputs IS NOT NULL
LIMIT {limit}
"""


class WindowDrift:
    """The window's bin counts per period (start day → counts), and where they came from."""

    def __init__(self, reference: Mapping[str, Any], period: Period) -> None:
        self.reference = reference
        self.period = period
        self.by_period: dict[date, DriftCounts] = {}
        self.files = 0
        self.online_rows = 0

    def counts(self, start: date) -> DriftCounts:
        if start not in self.by_period:
            self.by_period[start] = DriftCounts(self.reference)
        return self.by_period[start]

    def absorb_run(self, state: Mapping[str, Any], started: datetime) -> None:
        """One scoring run's counts: each day into its period; without days, all of them into
        the period of the run's start."""
        self.files += 1
        days = state.get("days")
        if not days:
            self.counts(self.period.start_of(day_of(started))).absorb(state)
            return
        for day, day_state in days.items():
            self.counts(self.period.start_of(day_of_number(int(day)))).absorb(day_state)

    def pooled(self) -> DriftCounts:
        """All periods' counts together: the window's drift."""
        total = DriftCounts(self.reference)
        for counts in self.by_period.values():
            total.absorb(counts.state())
        return total


def window_drift(
    client: bigquery.Client,
    dataset: str,
    version: str,
    since: datetime,
    *,
    reference: Mapping[str, Any],
    period: Period,
) -> WindowDrift:
    """The bin counts of `version`'s inputs scored since `since`, per period of their time."""
    drift = WindowDrift(reference, period)
    for state, started in _file_states(client, dataset, version, since):
        drift.absorb_run(state, started)
    online = _online_inputs(client, dataset, version, since)
    if not online.empty:
        drift.online_rows = len(online)
        inputs = pd.DataFrame.from_records([json.loads(text) for text in online["inputs"]])
        scores = online["score"].to_numpy(dtype=np.float64, na_value=np.nan)
        answered = pd.to_datetime(online["predicted_at"], utc=True)
        days = np.array([day_number(day_of(t.to_pydatetime())) for t in answered], np.int64)
        collected = DriftCounts(reference)
        collected.add(inputs, scores, days)
        for day, counts in collected.daily().items():
            drift.counts(period.start_of(day_of_number(day))).absorb(counts.state())
    return drift


def _file_states(
    client: bigquery.Client, dataset: str, version: str, since: datetime
) -> list[tuple[Mapping[str, Any], datetime]]:
    """One set of counts per scored file, with when its run started: an attempt that resumed
    carries the earlier attempts' counts, so of a file's rows the one that counted the most
    rows holds them all."""
    table = f"{client.project}.{dataset}.{SCORING_RUNS.name}"
    runs = version_window(
        client,
        _RUNS.format(table=table),
        version=version,
        since=since,
        what=f"the runs of {version}",
    )
    best: dict[tuple[str, int], tuple[Mapping[str, Any], datetime]] = {}
    for uri, generation, started, text in runs.itertuples(index=False):
        state = json.loads(text).get("counts")
        if not state:
            continue
        key = (str(uri), int(generation))
        if key not in best or int(state["rows"]) > int(best[key][0]["rows"]):
            best[key] = (state, pd.Timestamp(started).to_pydatetime())
    return list(best.values())


def _online_inputs(
    client: bigquery.Client, dataset: str, version: str, since: datetime
) -> pd.DataFrame:
    table = f"{client.project}.{dataset}.{ONLINE_PREDICTIONS.name}"
    sql = _ONLINE.format(table=table, limit=ONLINE_ROWS_LIMIT)
    return version_window(
        client, sql, version=version, since=since, what=f"the online inputs of {version}"
    )
