"""Where checks are kept: a `monitoring_runs` row each, and each run's HTML report in the models
bucket beside the registry (`models/<name>/monitoring/runs/<run id>/report.html`)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING

from shared.monitoring.record import MonitoringRun
from shared.retryable import refused_as_query_error, transient_errors
from shared.scoring.bigquery_sink import BigQuerySink
from shared.tables import MONITORING_RUNS

if TYPE_CHECKING:
    from google.cloud import bigquery, storage

# Enough history for the report's charts; older checks stay in the table.
HISTORY_LIMIT = 200


class MonitoringHistory:
    def __init__(self, client: bigquery.Client, dataset: str, *, location: str) -> None:
        self.client = client
        self.sink = BigQuerySink(client, dataset, location=location)
        self.table = self.sink.table_id(MONITORING_RUNS)

    def record(self, run: MonitoringRun) -> None:
        """Append the run's row once: a second record of the same run id adds nothing."""
        key = hashlib.sha256(f"{self.table}|{run.run_id}".encode()).hexdigest()[:32]
        self.sink.load_rows_once(MONITORING_RUNS, [run.to_row()], f"monitoring-{key}")

    def runs(
        self, since: datetime | None = None, limit: int = HISTORY_LIMIT
    ) -> list[MonitoringRun]:
        """The latest `limit` checks (since `since`), oldest first."""
        from google.cloud import bigquery

        where = "WHERE started_at >= @since" if since is not None else ""
        sql = f"SELECT * FROM `{self.table}` {where} ORDER BY started_at DESC LIMIT {int(limit)}"
        parameters = [bigquery.ScalarQueryParameter("since", "TIMESTAMP", since)] if since else []
        config = bigquery.QueryJobConfig(query_parameters=parameters)
        with refused_as_query_error(f"reading {self.table}"):
            rows = list(self.client.query(sql, job_config=config).result())
        return sorted((MonitoringRun.from_row(dict(row)) for row in rows), key=_started)


def _started(run: MonitoringRun) -> datetime:
    return run.started_at


def report_path(prefix: str, run_id: str) -> str:
    return f"{prefix}/monitoring/runs/{run_id}/report.html"


def store_report(bucket: storage.Bucket, path: str, html: str) -> str:
    """Upload the report (replacing an earlier attempt's); its gs:// address."""
    with transient_errors(f"writing gs://{bucket.name}/{path}"):
        bucket.blob(path).upload_from_string(html.encode(), content_type="text/html; charset=utf-8")
    return f"gs://{bucket.name}/{path}"
