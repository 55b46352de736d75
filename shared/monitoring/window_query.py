"""The one way a check reads BigQuery: a query about one model version since a time."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd

from shared.retryable import refused_as_query_error

if TYPE_CHECKING:
    from google.cloud import bigquery


def version_window(
    client: bigquery.Client, sql: str, *, version: str, since: datetime, what: str
) -> pd.DataFrame:
    """The rows of `sql` with @version and @since bound; a refused query is a `QueryError`
    saying `what` was being read."""
    from google.cloud import bigquery

    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("version", "STRING", version),
            bigquery.ScalarQueryParameter("since", "TIMESTAMP", since),
        ]
    )
    with refused_as_query_error(f"reading {what}"):
        result = client.query(sql, job_config=config).result()
        frame: pd.DataFrame = result.to_arrow(create_bqstorage_client=False).to_pandas()
    return frame
