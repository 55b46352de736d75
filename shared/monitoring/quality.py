"""What the champion scored in the window, with the labels that arrived: the rows a check cuts
into periods.

    predictions (batch) + online_predictions (answers, not shadow)   of one version, scored in
        the window ⟕ labels (the latest label of each record_id)
        → one row per record id (its latest prediction), and every row without an id

Each row carries `filed_at`, the moment it is judged under: a batch row's `data_time` (its time
column, `model.time_column`), else its scoring time; an online answer's time of answering. A
record scored more than once (a file dropped again, an id also sent to the HTTP function) counts
once, with the prediction made last; a label corrected later replaces the earlier one. Rows
without an id are each kept, and can have no label.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd

from shared.monitoring.window_query import version_window
from shared.tables import LABELS, ONLINE_PREDICTIONS, PREDICTIONS

if TYPE_CHECKING:
    from google.cloud import bigquery

# `made_at`, not `at`: the local BigQuery emulator's SQL dialect reserves AT.
_SCORED_ROWS = """
WITH made AS (
  SELECT record_id, score, predicted_label, probabilities,
    COALESCE(data_time, scored_at) AS filed_at, scored_at AS made_at
  FROM `{predictions}`
  WHERE model_version = @version AND scored_at >= @since AND score IS NOT NULL
  UNION ALL
  SELECT record_id, score, predicted_label, probabilities, predicted_at AS filed_at,
    predicted_at AS made_at
  FROM `{online}`
  WHERE model_version = @version AND NOT shadow AND predicted_at >= @since AND score IS NOT NULL
),
latest_prediction AS (
  SELECT record_id, score, predicted_label, probabilities, filed_at FROM (
    SELECT record_id, score, predicted_label, probabilities, filed_at,
      ROW_NUMBER() OVER (PARTITION BY record_id ORDER BY made_at DESC) AS newest
    FROM made WHERE record_id IS NOT NULL
  ) WHERE newest = 1
),
latest_label AS (
  SELECT record_id, label FROM (
    SELECT record_id, label,
      ROW_NUMBER() OVER (PARTITION BY record_id ORDER BY labelled_at DESC) AS newest
    FROM `{labels}`
  ) WHERE newest = 1
)
SELECT p.record_id, p.score, p.predicted_label, p.probabilities, p.filed_at, l.label
FROM latest_prediction p LEFT JOIN latest_label l ON p.record_id = l.record_id
UNION ALL
SELECT record_id, score, predicted_label, probabilities, filed_at, CAST(NULL AS STRING) AS label
FROM made WHERE record_id IS NULL
"""

COLUMNS = ("record_id", "score", "predicted_label", "probabilities", "filed_at", "label")


def scored_rows(
    client: bigquery.Client, dataset: str, version: str, since: datetime
) -> pd.DataFrame:
    """(record_id, score, predicted_label, probabilities, filed_at, label) of every prediction
    of `version` scored since `since`; `label` is null where none has arrived, `probabilities`
    where the model is not multiclass."""
    prefix = f"{client.project}.{dataset}"
    sql = _SCORED_ROWS.format(
        predictions=f"{prefix}.{PREDICTIONS.name}",
        online=f"{prefix}.{ONLINE_PREDICTIONS.name}",
        labels=f"{prefix}.{LABELS.name}",
    )
    frame = version_window(
        client, sql, version=version, since=since, what=f"the predictions of {version}"
    )
    if frame.empty:
        return pd.DataFrame(
            {
                "record_id": pd.Series([], dtype=object),
                "score": pd.Series([], dtype="float64"),
                "predicted_label": pd.Series([], dtype=object),
                "probabilities": pd.Series([], dtype=object),
                "filed_at": pd.Series([], dtype="datetime64[us, UTC]"),
                "label": pd.Series([], dtype=object),
            }
        )
    frame["filed_at"] = pd.to_datetime(frame["filed_at"], utc=True)
    return frame[list(COLUMNS)]
