"""Load scored rows into BigQuery, each batch exactly once.

Every load job gets an id derived from what it holds (file, generation, model version, chunk):
BigQuery refuses a second job with the same id, so a redelivered event or a retried attempt that
reaches the same chunk finds the job done and loads nothing twice. Load jobs, not streaming
inserts: they are free, atomic per job and visible to the next query at once.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from google.api_core import exceptions as api_exceptions

from shared.errors import DataError
from shared.retryable import transient_errors
from shared.tables import Table

if TYPE_CHECKING:
    from google.cloud import bigquery

_ARROW_TYPES = {
    "STRING": pa.string(),
    "INT64": pa.int64(),
    "FLOAT64": pa.float64(),
    "BOOL": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
}


def job_id(*parts: object) -> str:
    """A valid BigQuery job id (letters, digits, - and _; at most 1024) made of `parts`."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", "-".join(str(p) for p in parts))[:1024]


def arrow_table(table: Table, frame: pd.DataFrame) -> pa.Table:
    """The frame typed exactly as the BigQuery table declares its columns."""
    schema = pa.schema(
        [
            pa.field(c.name, _ARROW_TYPES[c.type], nullable=c.mode != "REQUIRED")
            for c in table.columns
        ]
    )
    missing = [name for name in schema.names if name not in frame.columns]
    if missing:
        raise DataError(f"rows for {table.name} lack the columns {missing}")
    return pa.Table.from_pandas(frame[list(schema.names)], schema=schema, preserve_index=False)


class BigQuerySink:
    def __init__(self, client: bigquery.Client, dataset: str) -> None:
        self.client = client
        self.dataset = dataset

    def table_id(self, table: Table) -> str:
        return f"{self.client.project}.{self.dataset}.{table.name}"

    def load_once(self, table: Table, frame: pd.DataFrame, load_job_id: str) -> bool:
        """Append `frame` under `load_job_id`; False when a job with that id already loaded it."""
        if self._already_done(load_job_id):
            return False
        if frame.empty:
            return False
        from google.cloud import bigquery

        buffer = io.BytesIO()
        pq.write_table(arrow_table(table, frame), buffer)
        buffer.seek(0)
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
        )
        with transient_errors(f"loading {len(frame)} rows into {table.name}"):
            try:
                job = self.client.load_table_from_file(
                    buffer, self.table_id(table), job_config=config, job_id=load_job_id
                )
            except api_exceptions.Conflict:
                # A concurrent attempt started the same load: its outcome is ours.
                self._wait(load_job_id)
                return False
            job.result()
        return True

    def is_done(self, load_job_id: str) -> bool:
        """Whether a job with this id ran (waiting for it if it is still running)."""
        return self._already_done(load_job_id)

    def _already_done(self, load_job_id: str) -> bool:
        with transient_errors(f"looking up load job {load_job_id}"):
            try:
                job = self.client.get_job(load_job_id)
            except api_exceptions.NotFound:
                return False
        if job.state != "DONE":
            self._wait(load_job_id)
        elif job.error_result:
            raise DataError(f"load job {load_job_id} failed earlier: {job.error_result}")
        return True

    def _wait(self, load_job_id: str) -> None:
        with transient_errors(f"waiting for load job {load_job_id}"):
            self.client.get_job(load_job_id).result()
