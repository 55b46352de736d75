"""How good the champion is on what it really scored: its recent predictions joined with labels.

    predictions (batch) + online_predictions (answers, not shadow)   of one version, in the window
        ⋈ labels (the latest label of each record_id)
        → one row per record id (its latest prediction) → the training metrics and the cost

A record scored more than once (a file dropped again, an id also sent to the HTTP function) counts
once, with the prediction made last; a label corrected later replaces the earlier one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from shared.monitoring.window_query import version_window
from shared.tables import LABELS, ONLINE_PREDICTIONS, PREDICTIONS
from shared.training.evaluation import score_metrics
from shared.training.spec import Cost

if TYPE_CHECKING:
    from google.cloud import bigquery

# `made_at`, not `at`: the local BigQuery emulator's SQL dialect reserves AT.
_LABELLED_SCORES = """
WITH made AS (
  SELECT record_id, score, scored_at AS made_at FROM `{predictions}`
  WHERE model_version = @version AND scored_at >= @since AND record_id IS NOT NULL
    AND score IS NOT NULL
  UNION ALL
  SELECT record_id, score, predicted_at AS made_at FROM `{online}`
  WHERE model_version = @version AND NOT shadow AND predicted_at >= @since
    AND record_id IS NOT NULL AND score IS NOT NULL
),
latest_prediction AS (
  SELECT record_id, score FROM (
    SELECT record_id, score,
      ROW_NUMBER() OVER (PARTITION BY record_id ORDER BY made_at DESC) AS newest
    FROM made
  ) WHERE newest = 1
),
latest_label AS (
  SELECT record_id, label FROM (
    SELECT record_id, label,
      ROW_NUMBER() OVER (PARTITION BY record_id ORDER BY labelled_at DESC) AS newest
    FROM `{labels}`
  ) WHERE newest = 1
)
SELECT p.record_id, l.label, p.score
FROM latest_prediction p JOIN latest_label l ON p.record_id = l.record_id
"""


@dataclass(frozen=True)
class Quality:
    labelled_rows: int
    values: dict[str, float]  # empty when there was nothing sound to measure
    problem: str | None = None  # why `values` is empty, in words


def labelled_scores(
    client: bigquery.Client, dataset: str, version: str, since: datetime
) -> pd.DataFrame:
    """(record_id, label, score) of every labelled prediction of `version` made since `since`."""
    prefix = f"{client.project}.{dataset}"
    sql = _LABELLED_SCORES.format(
        predictions=f"{prefix}.{PREDICTIONS.name}",
        online=f"{prefix}.{ONLINE_PREDICTIONS.name}",
        labels=f"{prefix}.{LABELS.name}",
    )
    frame = version_window(
        client, sql, version=version, since=since, what=f"the labelled predictions of {version}"
    )
    if frame.empty:
        return pd.DataFrame({"record_id": [], "label": [], "score": []})
    return frame


def measure(
    labelled: pd.DataFrame,
    *,
    positive_label: str,
    threshold: float,
    cost: Cost | None,
    min_rows: int,
) -> Quality:
    """The training metrics (and the business cost per row) of the labelled predictions;
    nothing when there are fewer than `min_rows` or only one class among the labels."""
    rows = len(labelled)
    if rows < min_rows:
        return Quality(rows, {}, f"{rows} labelled predictions; {min_rows} needed to judge")
    y: npt.NDArray[np.int8] = np.asarray(labelled["label"].astype(str) == positive_label).astype(
        np.int8
    )
    if y.min() == y.max():
        only = "positive" if y[0] else "negative"
        return Quality(rows, {}, f"all {rows} labels are {only}; metrics need both classes")
    scores = labelled["score"].to_numpy(dtype=np.float64)
    values = score_metrics(y, scores, threshold, cost)
    return Quality(rows, {name: round(float(v), 6) for name, v in values.items()})
