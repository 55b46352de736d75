"""Read a whole table of training data from where it lives.

    path/to/file.csv   (also .csv.gz, .parquet, .jsonl, .ndjson, .jsonl.gz, .ndjson.gz)
    gs://bucket/path/file.parquet                  (any of the formats above)
    bq://project.dataset.table                     a BigQuery table
    bq://SELECT … FROM `project.dataset.table` …   a query (a space after bq:// makes it one)

Training reads the whole table into memory (scoring never does: it streams). The fingerprint is a
sha256 of the loaded content, the same whatever the source, so lineage can tell whether two
versions were trained on the same data.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pandas as pd

from shared.errors import DataError, UsageError
from shared.retryable import transient_errors

if TYPE_CHECKING:
    from google.cloud import bigquery, storage

_Client = TypeVar("_Client")

FORMATS = (".csv", ".csv.gz", ".parquet", ".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")


@dataclass(frozen=True)
class SourceInfo:
    uri: str
    kind: str  # file, gcs, bigquery-table, bigquery-query
    rows: int
    fingerprint: str


def file_format(name: str) -> str:
    lowered = name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if lowered.endswith(suffix):
            return suffix
    raise UsageError(f"{name}: unknown format; expected a file ending in {', '.join(FORMATS)}")


def read_file(path: Path) -> pd.DataFrame:
    suffix = file_format(path.name)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix.startswith(".csv"):
            return pd.read_csv(path)
        return pd.read_json(path, lines=True, dtype=False)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as {suffix}: {exc}") from exc


def fingerprint(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def read_source(
    source: str,
    storage_client: storage.Client | None = None,
    bigquery_client: bigquery.Client | None = None,
) -> tuple[pd.DataFrame, SourceInfo]:
    if source.startswith("gs://"):
        frame, kind = _read_gcs(source, _need(storage_client, source)), "gcs"
    elif source.startswith("bq://"):
        frame, kind = _read_bigquery(source.removeprefix("bq://"), _need(bigquery_client, source))
    else:
        frame, kind = read_file(Path(source)), "file"
    if frame.empty:
        raise DataError(f"{source}: has no rows")
    return frame, SourceInfo(source, kind, len(frame), fingerprint(frame))


def _need(client: _Client | None, source: str) -> _Client:
    if client is None:
        raise UsageError(f"{source}: reading it needs a cloud client")
    return client


def _read_gcs(uri: str, client: storage.Client) -> pd.DataFrame:
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
