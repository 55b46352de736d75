"""Drift of the window's inputs against the champion's reference, from what scoring kept.

Each batch run stores its bin counts (`scoring_runs.drift_summary["counts"]`), so the files of the
window add up to exact counts without reading a single input row again. The sampled inputs of
the HTTP function (`online_predictions.inputs`) are binned here and added.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shared.drift import DriftCounts
from shared.monitoring.window_query import version_window
from shared.tables import ONLINE_PREDICTIONS, SCORING_RUNS

if TYPE_CHECKING:
    from google.cloud import bigquery

# Enough sampled requests to bin; more adds little to a PSI and costs memory.
ONLINE_ROWS_LIMIT = 100_000

_RUNS = """
SELECT source_uri, source_generation, drift_summary FROM `{table}`
WHERE model_version = @version AND started_at >= @since AND drift_summary IS NOT NULL
  AND status IN ('succeeded', 'partially_rejected', 'failed')
"""

_ONLINE = """
SELECT inputs, score FROM `{table}`
WHERE model_version = @version AND NOT shadow AND predicted_at >= @since AND inputs IS NOT NULL
LIMIT {limit}
"""


def window_drift(
    client: bigquery.Client,
    dataset: str,
    version: str,
    since: datetime,
    *,
    reference: Mapping[str, Any],
    threshold: float,
) -> dict[str, Any]:
    """The `drift` column (see shared.monitoring.record) of `version`'s inputs since `since`."""
    counts = DriftCounts(reference)
    files = 0
    for state in _file_states(client, dataset, version, since):
        counts.absorb(state)
        files += 1
    online = _online_inputs(client, dataset, version, since)
    if not online.empty:
        inputs = pd.DataFrame.from_records([json.loads(text) for text in online["inputs"]])
        counts.add(inputs, online["score"].to_numpy(dtype=np.float64, na_value=np.nan))
    summary = counts.summary(threshold)
    return {
        "rows": summary["rows"],
        "files": files,
        "online_rows": len(online),
        "threshold": threshold,
        "psi": summary["psi"],
        "score_psi": summary["score_psi"],
        "drifted": summary["drifted"],
    }


def _file_states(
    client: bigquery.Client, dataset: str, version: str, since: datetime
) -> list[Mapping[str, Any]]:
    """One set of counts per scored file: an attempt that resumed carries the earlier attempts'
    counts, so of a file's rows the one that counted the most rows holds them all."""
    table = f"{client.project}.{dataset}.{SCORING_RUNS.name}"
    runs = version_window(
        client,
        _RUNS.format(table=table),
        version=version,
        since=since,
        what=f"the runs of {version}",
    )
    best: dict[tuple[str, int], Mapping[str, Any]] = {}
    for uri, generation, text in runs.itertuples(index=False):
        state = json.loads(text).get("counts")
        if not state:
            continue
        key = (str(uri), int(generation))
        if key not in best or int(state["rows"]) > int(best[key]["rows"]):
            best[key] = state
    return list(best.values())


def _online_inputs(
    client: bigquery.Client, dataset: str, version: str, since: datetime
) -> pd.DataFrame:
    table = f"{client.project}.{dataset}.{ONLINE_PREDICTIONS.name}"
    sql = _ONLINE.format(table=table, limit=ONLINE_ROWS_LIMIT)
    return version_window(
        client, sql, version=version, since=since, what=f"the online inputs of {version}"
    )
