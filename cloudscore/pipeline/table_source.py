"""A BigQuery table as a source: its columns are its schema's, its rows are read by row index.

    table_header(file, job) -> the column names
    estimated_size(file, job) -> its bytes, as splits are sized
    table_chunks(file, job, start, end, chunk_rows, name) -> Chunk …   rows start … end - 1

A table's rows are numbered as `tabledata.list` lists them: row number = index + 1, and a split
is a range of indexes (`startIndex`, `maxResults`;
https://cloud.google.com/bigquery/docs/reference/rest/v2/tabledata/list). The table is named
at launch with its last modification time as its generation, so a table changed since a run is
a new source, scored by a run of its own; a table changed while a job reads it is read as it is
then (tabledata.list reads no snapshot), which is why a backfill should read a table nothing
writes to. Values keep their BigQuery types, as Parquet's keep theirs.

The calls: tables.get (the schema) and tables.getData (the rows), through `shared.clients`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

from shared.retryable import transient_errors
from shared.scoring.readers import Chunk

if TYPE_CHECKING:
    from cloudscore.pipeline.inputs import InputFile
    from cloudscore.pipeline.options import JobSettings

# A table that reports no size is measured on this many of its first rows.
_SAMPLE_ROWS: Final = 1000


def table_header(file: InputFile, job: JobSettings) -> tuple[str, ...]:
    client = _client(job)
    with transient_errors(f"reading the schema of {file.uri}"):
        table = client.get_table(_table_id(file))
    return tuple(field.name for field in table.schema)


def estimated_size(file: InputFile, job: JobSettings) -> int:
    """The table's bytes: as BigQuery reports them, or, where it reports none (the local
    emulator's tables), its rows times the Arrow bytes of its first rows per row."""
    if file.size or not file.rows:
        return file.size
    sample = next(table_chunks(file, job, 0, min(file.rows, _SAMPLE_ROWS), _SAMPLE_ROWS), None)
    if sample is None or not len(sample.frame):
        return 0
    per_row = sample.frame.memory_usage(index=False, deep=True).sum() / len(sample.frame)
    return int(per_row * file.rows)


def table_chunks(
    file: InputFile, job: JobSettings, start: int, end: int, chunk_rows: int
) -> Iterator[Chunk]:
    """The rows of indexes start … end - 1, `chunk_rows` at most at a time."""
    if end <= start:  # an empty table (max_results=0 would mean no limit)
        return
    client = _client(job)
    with transient_errors(f"reading the schema of {file.uri}"):
        table = client.get_table(_table_id(file))
    header = tuple(field.name for field in table.schema)
    rows = client.list_rows(table, start_index=start, max_results=end - start, page_size=chunk_rows)
    next_row = start + 1
    batches: Iterator[Any] = iter(rows.to_arrow_iterable())
    while True:
        with transient_errors(f"reading rows of {file.uri} from row {next_row}"):
            batch = next(batches, None)
        if batch is None:
            return
        if batch.num_rows:
            yield Chunk(batch.to_pandas(), next_row, header)
            next_row += batch.num_rows


def _client(job: JobSettings) -> Any:
    from shared.clients import bigquery_client

    return bigquery_client(job.cloud.project)


def _table_id(file: InputFile) -> str:
    return file.uri.removeprefix("bq://")
