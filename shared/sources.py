"""Read a whole table of training data from where it lives.

    path/to/file.csv   (also .csv.gz, .parquet, .jsonl, .ndjson, .jsonl.gz, .ndjson.gz)
    gs://bucket/path/file.parquet                  (any of the formats above)
    bq://project.dataset.table                     a BigQuery table
    bq://SELECT … FROM `project.dataset.table` …   a query (a space after bq:// makes it one)

Training reads the whole table into memory (scoring never does: it streams). A file is read by
the batch path's own readers (`shared.scoring.readers`): CSV as text as written, so that a value
gets the verdict in training that it gets when scored ("n/a" is no missing value in either);
rows a reader cannot read (a CSV row with another number of values than the header, a JSONL
line that is no JSON object) are left out and counted, as scoring rejects them. The fingerprint
is a sha256 of the loaded content, the same whatever the source, so lineage can tell whether two
versions were trained on the same data.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pandas as pd

from shared.errors import DataError, UsageError
from shared.retryable import transient_errors
from shared.scoring.core import HEAD_BYTES
from shared.scoring.readers import BadRow, detect_format, iter_chunks

if TYPE_CHECKING:
    from google.cloud import bigquery, storage

_Client = TypeVar("_Client")

FORMATS = (".csv", ".csv.gz", ".parquet", ".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")


@dataclass(frozen=True)
class SourceInfo:
    uri: str
    kind: str  # file, gcs, bigquery-table, bigquery-query
    rows: int  # rows read, the unreadable ones included
    fingerprint: str
    # The frame holds JSON's values (a JSONL file): a string there is text, never a number.
    json_values: bool = False
    unreadable: tuple[BadRow, ...] = ()  # rows the reader could not read, left out


def file_format(name: str) -> str:
    lowered = name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if lowered.endswith(suffix):
            return suffix
    raise UsageError(f"{name}: unknown format; expected a file ending in {', '.join(FORMATS)}")


@dataclass(frozen=True)
class FileTable:
    """A whole file as the readers give it: the rows they read (indexed by the file's 1-based
    row numbers), and those they could not."""

    frame: pd.DataFrame
    json_values: bool
    unreadable: tuple[BadRow, ...]


def read_file(path: Path) -> FileTable:
    """The whole file, read as the batch path reads it."""
    file_format(path.name)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    with path.open("rb") as stream:
        head = stream.read(HEAD_BYTES)
        stream.seek(0)
        fmt = detect_format(path.name, None, head)
        with contextlib.closing(iter_chunks(stream, fmt, name=str(path))) as chunks:
            read = list(chunks)
    frames = [chunk.frame.set_axis(chunk.row_numbers()) for chunk in read if len(chunk.frame)]
    if frames:
        frame = pd.concat(frames) if len(frames) > 1 else frames[0]
    else:
        header = read[0].header if read else ()
        frame = pd.DataFrame({name: pd.Series([], dtype=object) for name in header})
    unreadable = tuple(bad for chunk in read for bad in chunk.bad_rows)
    return FileTable(frame, fmt.kind == "jsonl", unreadable)


def fingerprint(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def read_source(
    source: str,
    storage_client: storage.Client | None = None,
    bigquery_client: bigquery.Client | None = None,
) -> tuple[pd.DataFrame, SourceInfo]:
    if source.startswith("bq://"):
        frame, kind = _read_bigquery(source.removeprefix("bq://"), _need(bigquery_client, source))
        table = FileTable(frame, json_values=False, unreadable=())
    elif source.startswith("gs://"):
        table, kind = _read_gcs(source, _need(storage_client, source)), "gcs"
    else:
        table, kind = read_file(Path(source)), "file"
    frame = table.frame
    if frame.empty:
        raise DataError(f"{source}: has no rows")
    rows = len(frame) + len({bad.row_number for bad in table.unreadable})
    info = SourceInfo(source, kind, rows, fingerprint(frame), table.json_values, table.unreadable)
    return frame, info


def _need(client: _Client | None, source: str) -> _Client:
    if client is None:
        raise UsageError(f"{source}: reading it needs a cloud client")
    return client


def _read_gcs(uri: str, client: storage.Client) -> FileTable:
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    file_format(name)
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / Path(name).name
        with transient_errors(f"downloading {uri}"):
            blob = client.bucket(bucket).get_blob(name)
            if blob is None:
                raise UsageError(f"{uri}: no such object")
            blob.download_to_filename(str(local))
        return read_file(local)


def _read_bigquery(spec: str, client: bigquery.Client) -> tuple[pd.DataFrame, str]:
    from google.api_core import exceptions

    is_query = any(ch.isspace() for ch in spec.strip())
    try:
        with transient_errors(f"reading bq://{spec}"):
            rows = client.query(spec).result() if is_query else client.list_rows(spec)
            frame = rows.to_arrow(create_bqstorage_client=False).to_pandas()
    except (exceptions.NotFound, exceptions.BadRequest) as exc:
        raise UsageError(f"bq://{spec}: {exc.message}") from exc
    return frame, "bigquery-query" if is_query else "bigquery-table"
