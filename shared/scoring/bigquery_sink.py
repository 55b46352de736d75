"""Load scored rows into BigQuery, each batch exactly once.

Every load gets a job id derived from what it holds (file, generation, model version, chunk):
BigQuery refuses a second job with the same id, so a redelivered event or a retried attempt that
reaches the same chunk finds the job done and loads nothing twice. Load jobs, not streaming
inserts: they are free, atomic per job and visible to the next query at once.

A job id can be used only once, even by a job that failed. A load job is atomic, so a failed one
loaded nothing, and the next attempt of the same load takes the next id of its sequence
(`<id>`, `<id>-2`, … `<id>-5`): the load counts as done when any id of the sequence succeeded.

Failures are sorted by what a retry can do: 5xx, rate limits and quotas are a `TransientError`
(the platform retries the event); a missing table, a schema that no longer matches or a missing
permission is a `SinkError`, recorded and not retried.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, Final

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from google.api_core import exceptions as api_exceptions

from shared.errors import DataError, SinkError, TransientError
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
# Ids per load: a load that failed this many times is not one a sixth try fixes.
MAX_ATTEMPTS: Final = 5
# BigQuery's error reasons that a later attempt may not meet
# (https://cloud.google.com/bigquery/docs/error-messages).
_TRANSIENT_REASONS: Final = frozenset(
    {
        "backendError",
        "internalError",
        "rateLimitExceeded",
        "quotaExceeded",
        "jobBackendError",
        "jobInternalError",
        "timeout",
    }
)


def job_id(*parts: object) -> str:
    """A valid BigQuery job id (letters, digits, - and _; at most 1024) made of `parts`."""
    # Room for the attempt suffix that `attempt_ids` adds.
    return re.sub(r"[^A-Za-z0-9_-]", "_", "-".join(str(p) for p in parts))[:1000]


def attempt_ids(load_job_id: str) -> Iterator[str]:
    """The job ids one load may use, in order."""
    yield load_job_id
    for attempt in range(2, MAX_ATTEMPTS + 1):
        yield f"{load_job_id}-{attempt}"


def arrow_schema(table: Table) -> pa.Schema:
    """The Arrow schema of the table's columns, as its loads are typed."""
    return pa.schema(
        [
            pa.field(c.name, _ARROW_TYPES[c.type], nullable=c.mode != "REQUIRED")
            for c in table.columns
        ]
    )


def arrow_table(table: Table, frame: pd.DataFrame) -> pa.Table:
    """The frame typed exactly as the BigQuery table declares its columns."""
    schema = arrow_schema(table)
    missing = [name for name in schema.names if name not in frame.columns]
    if missing:
        raise DataError(f"rows for {table.name} lack the columns {missing}")
    return pa.Table.from_pandas(frame[list(schema.names)], schema=schema, preserve_index=False)


class BigQuerySink:
    def __init__(self, client: bigquery.Client, dataset: str, *, location: str) -> None:
        """`location`: the dataset's, which jobs outside the US multi-region are found only
        with. It is the deployment's CLOUDSCORE_REGION (infra/bigquery.tf), given rather than
        read from the dataset: a function's table grants do not let it read the dataset."""
        self.client = client
        self.dataset = dataset
        self.location = location

    def table_id(self, table: Table) -> str:
        return f"{self.client.project}.{self.dataset}.{table.name}"

    def load_once(self, table: Table, frame: pd.DataFrame, load_job_id: str) -> bool:
        """Append `frame` under `load_job_id`; False when an earlier job of it did, or it is
        empty."""
        if frame.empty:
            return False
        payload = _parquet(arrow_table(table, frame))
        return self.load_parquet_once(table, io.BytesIO(payload), len(frame), load_job_id)

    def load_parquet_once(
        self, table: Table, parquet: BinaryIO, rows: int, load_job_id: str
    ) -> bool:
        """`load_once` of a Parquet file of `rows` rows typed as `arrow_table` types them (a
        seekable file: large ones are uploaded from disk rather than held in memory)."""
        if rows == 0:
            return False
        for _ in range(MAX_ATTEMPTS):
            done, free_id = self._settle(load_job_id)
            if done:
                return False
            parquet.seek(0)
            if self._submit(table, parquet, rows, free_id):
                return True
            # A concurrent attempt took `free_id` first; its outcome decides, read on the loop.
        raise TransientError(f"load {load_job_id} into {table.name}: too many concurrent attempts")

    def load_rows_once(
        self, table: Table, rows: Sequence[Mapping[str, Any]], load_job_id: str
    ) -> bool:
        """`load_once` of rows as dicts, their TIMESTAMP columns as datetimes or ISO 8601 text."""
        frame = pd.DataFrame(list(rows), columns=table.column_names())
        for column in table.columns:
            if column.type == "TIMESTAMP":
                frame[column.name] = pd.to_datetime(frame[column.name], utc=True, format="ISO8601")
        return self.load_once(table, frame, load_job_id)

    def is_done(self, load_job_id: str) -> bool:
        """Whether a job of this load succeeded (waiting for one still running)."""
        return self._settle(load_job_id)[0]

    def _settle(self, load_job_id: str) -> tuple[bool, str]:
        """(True, id) when a job of the load succeeded, else (False, the next unused id)."""
        last_error: Any = None
        for candidate in attempt_ids(load_job_id):
            job = self._finished(candidate)
            if job is None:
                return False, candidate
            if not job.error_result:
                return True, candidate
            last_error = job.error_result
        raise SinkError(
            f"load {load_job_id} failed {MAX_ATTEMPTS} times; the last error: {last_error}"
        )

    def _finished(self, candidate: str) -> Any:
        """The job with this id once it is done, or None when there is none."""
        with transient_errors(f"looking up load job {candidate}"):
            try:
                job = self.client.get_job(candidate, location=self.location)
            except api_exceptions.NotFound:
                return None
            if job.state != "DONE":
                # A concurrent attempt's job: its success or failure is read from the job.
                with contextlib.suppress(api_exceptions.GoogleAPICallError):
                    job.result()
                job.reload()
        return job

    def _submit(self, table: Table, payload: BinaryIO, rows: int, candidate: str) -> bool:
        """Run the load as job `candidate`; False when a job with that id exists already."""
        from google.cloud import bigquery

        # CREATE_NEVER: the tables exist (infra/ and the local stack make them), and a job that
        # may create its table is checked for bigquery.tables.create on the dataset even when the
        # table exists, which no account that only writes rows holds
        # (https://github.com/googleapis/python-bigquery-pandas/issues/538). A missing table
        # fails the load as a SinkError, naming it.
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
            create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
        )
        what = f"loading {rows} rows into {table.name} (job {candidate})"
        with transient_errors(what):
            try:
                job = self.client.load_table_from_file(
                    payload,
                    self.table_id(table),
                    job_config=config,
                    job_id=candidate,
                    location=self.location,
                )
            except api_exceptions.Conflict:
                return False
            try:
                job.result()
            except api_exceptions.GoogleAPICallError as exc:
                if _is_transient(exc):
                    raise TransientError(f"{what}: {exc}") from exc
                raise SinkError(f"{what}: BigQuery refused it: {exc}") from exc
        return True


def _is_transient(exc: api_exceptions.GoogleAPICallError) -> bool:
    reasons = {str(e.get("reason")) for e in (exc.errors or []) if isinstance(e, dict)}
    if reasons & _TRANSIENT_REASONS:
        return True
    return isinstance(exc, api_exceptions.ServerError | api_exceptions.TooManyRequests)


def _parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()
