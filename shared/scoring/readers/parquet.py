"""Parquet, a record batch at a time, typed; from a stream that cannot seek (or gzip), through a
temporary copy."""

from __future__ import annotations

import gzip
import io
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any, BinaryIO, Final

import pyarrow as pa

from shared.errors import DataError
from shared.scoring.readers.framing import (
    READ_BYTES,
    UNREADABLE,
    Chunk,
    FileFormat,
    Part,
    Source,
    Watched,
)

# Parquet from a stream that cannot seek is copied: in memory up to this size, then to disk.
_SPOOL_BYTES: Final = 16 * 1024 * 1024


def parquet_chunks(
    stream: Watched, fmt: FileFormat, chunk_rows: int, name: str, part: Part
) -> Iterator[Chunk]:
    import pyarrow.parquet as pq

    with _random_access(stream, fmt.compressed, name) as seekable:
        if seekable.seek(0, 2) == 0:
            return
        seekable.seek(0)
        try:
            parquet = pq.ParquetFile(seekable)
        except (pa.ArrowInvalid, OSError) as exc:
            stream.raise_own_failure()
            raise DataError(f"{name}: not a readable Parquet file: {exc}") from exc
        header = tuple(parquet.schema_arrow.names)
        next_row = part.first_row_number
        for batch in _batches(parquet, chunk_rows, name, stream, part.row_groups):
            if batch.num_rows:
                yield Chunk(batch.to_pandas(), next_row, header)
                next_row += batch.num_rows
        if next_row == 1 and part.row_groups is None:
            yield Chunk(parquet.schema_arrow.empty_table().to_pandas(), 1, header)


def _batches(
    parquet: Any, chunk_rows: int, name: str, stream: Watched, row_groups: tuple[int, ...] | None
) -> Iterator[pa.RecordBatch]:
    batches = parquet.iter_batches(
        batch_size=chunk_rows, row_groups=None if row_groups is None else list(row_groups)
    )
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowInvalid, OSError) as exc:
            stream.raise_own_failure()
            # A corrupt page or row group: the file is bad, the stream itself was readable.
            raise DataError(f"{name}: not a readable Parquet file: {exc}") from exc
        yield batch


def _random_access(
    stream: Watched, compressed: bool, name: str
) -> tempfile.SpooledTemporaryFile[bytes] | _Unclosed:
    if not compressed and stream.seekable():
        return _Unclosed(io.BufferedReader(stream, READ_BYTES))
    # Closed by the caller's `with`, which is why no context manager opens it here.
    spooled: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
        _SPOOL_BYTES
    )
    buffered = io.BufferedReader(stream, READ_BYTES)
    source: Source = gzip.GzipFile(fileobj=buffered, mode="rb") if compressed else buffered
    try:
        shutil.copyfileobj(source, spooled)
    except UNREADABLE as exc:
        spooled.close()
        stream.raise_own_failure()
        raise DataError(f"{name}: cannot be decompressed as gzip: {exc}") from exc
    spooled.seek(0)
    return spooled


class _Unclosed:
    """The caller's stream as a context manager that leaves it open: the caller owns it."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def __enter__(self) -> BinaryIO:
        return self.stream

    def __exit__(self, *exc: object) -> None:
        return None
