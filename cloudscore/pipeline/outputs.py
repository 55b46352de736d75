"""Where a job's rows land: BigQuery through cloudscore's own sink (Beam's BigQuery connector
cannot reach an emulator), or Parquet files in a directory (`--output_dir`), each load exactly
once by its job id.

    output_for(job) -> Output
    Output.load_parquet_once(table, file, rows, job_id) / load_once(table, frame, job_id)
    Output.is_done(job_id)
    Output.runs(run_ids) -> the scoring_runs rows of these runs
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

import pandas as pd
import pyarrow.parquet as pq

from shared.scoring.bigquery_sink import arrow_table
from shared.tables import SCORING_RUNS, Table

if TYPE_CHECKING:
    from cloudscore.pipeline.options import JobSettings


class Output(Protocol):
    def is_done(self, load_job_id: str) -> bool: ...

    def load_parquet_once(
        self, table: Table, parquet: BinaryIO, rows: int, load_job_id: str
    ) -> bool: ...

    def load_once(self, table: Table, frame: pd.DataFrame, load_job_id: str) -> bool: ...

    def runs(self, run_ids: Sequence[str]) -> list[dict[str, Any]]: ...


def output_for(job: JobSettings) -> Output:
    if job.output_dir is not None:
        return DirectoryOutput(Path(job.output_dir))
    from shared.clients import bigquery_client
    from shared.scoring.bigquery_sink import BigQuerySink

    cloud = job.cloud
    sink = BigQuerySink(bigquery_client(cloud.project), cloud.dataset, location=cloud.region)
    return BigQueryOutput(sink)


class BigQueryOutput:
    def __init__(self, sink: Any) -> None:
        self.sink = sink

    def is_done(self, load_job_id: str) -> bool:
        done: bool = self.sink.is_done(load_job_id)
        return done

    def load_parquet_once(
        self, table: Table, parquet: BinaryIO, rows: int, load_job_id: str
    ) -> bool:
        loaded: bool = self.sink.load_parquet_once(table, parquet, rows, load_job_id)
        return loaded

    def load_once(self, table: Table, frame: pd.DataFrame, load_job_id: str) -> bool:
        loaded: bool = self.sink.load_once(table, frame, load_job_id)
        return loaded

    def runs(self, run_ids: Sequence[str]) -> list[dict[str, Any]]:
        from google.cloud import bigquery

        from shared.retryable import transient_errors

        sink = self.sink
        sql = (
            f"SELECT * FROM `{sink.table_id(SCORING_RUNS)}` "
            "WHERE run_id IN UNNEST(@runs) AND status != 'handed_off'"
        )
        config = bigquery.QueryJobConfig(
            query_parameters=[bigquery.ArrayQueryParameter("runs", "STRING", list(run_ids))]
        )
        with transient_errors("reading the job's scoring_runs rows"):
            rows = sink.client.query_and_wait(sql, job_config=config, location=sink.location)
            return [dict(row.items()) for row in rows]


class DirectoryOutput:
    """`<dir>/<table>/<job id>.parquet`, written whole under a temporary name and renamed: a
    file there is a load that happened, once."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, table: Table | str, load_job_id: str) -> Path:
        name = table if isinstance(table, str) else table.name
        return self.root / name / f"{load_job_id}.parquet"

    def is_done(self, load_job_id: str) -> bool:
        return any(self._path(t.name, load_job_id).exists() for t in _tables())

    def load_parquet_once(
        self, table: Table, parquet: BinaryIO, rows: int, load_job_id: str
    ) -> bool:
        path = self._path(table, load_job_id)
        if rows == 0 or path.exists():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        parquet.seek(0)
        handle, partial = tempfile.mkstemp(dir=path.parent, suffix=".partial")
        with os.fdopen(handle, "wb") as out:
            while block := parquet.read(1 << 20):
                out.write(block)
        Path(partial).replace(path)
        return True

    def load_once(self, table: Table, frame: pd.DataFrame, load_job_id: str) -> bool:
        import io

        if frame.empty:
            return False
        buffer = io.BytesIO()
        pq.write_table(arrow_table(table, frame), buffer)
        return self.load_parquet_once(table, buffer, len(frame), load_job_id)

    def runs(self, run_ids: Sequence[str]) -> list[dict[str, Any]]:
        folder = self.root / SCORING_RUNS.name
        wanted = set(run_ids)
        found: list[dict[str, Any]] = []
        for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
            for row in pq.read_table(path).to_pylist():
                if row["run_id"] in wanted and row["status"] != "handed_off":
                    found.append(row)
        return found


def _tables() -> list[Table]:
    from shared.tables import PREDICTIONS, REJECTED_ROWS

    return [PREDICTIONS, REJECTED_ROWS, SCORING_RUNS]
