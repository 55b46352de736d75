"""What every reader shares: a file's format, its rows in chunks, the rows that cannot be read,
and the stream it is read from.

    detect_format(name, content_type, head) -> FileFormat    or DataError: quarantine the file
    Chunk, BadRow                                            what a reader yields
    Watched(stream)                                          tells a bad file from a bad stream
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Final, Literal, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from shared.config import BatchConfig
from shared.errors import DataError

Kind = Literal["csv", "parquet", "jsonl"]
T = TypeVar("T")
# What a file is read through: the caller's stream, or a decompressor over it.
Source = BinaryIO | gzip.GzipFile
# The batch function's own default (CLOUDSCORE_BATCH_CHUNK_ROWS).
DEFAULT_CHUNK_ROWS: Final = BatchConfig().chunk_rows
GZIP_MAGIC: Final = b"\x1f\x8b"
# A UTF-8 byte order mark, which some editors write at the start of a text file.
BOM: Final = b"\xef\xbb\xbf"
PARQUET_MAGIC: Final = b"PAR1"
MALFORMED_LINE: Final = "MALFORMED_LINE"
ENCODING: Final = "ENCODING"
# A rejected line is kept as evidence, but a 50 MB line is not evidence worth storing.
MAX_RAW_CHARS: Final = 1000
# What corrupt compressed data raises (BadGzipFile is an OSError).
UNREADABLE: Final = (OSError, EOFError, zlib.error)
READ_BYTES: Final = 256 * 1024

_SUFFIXES: Final[dict[str, Kind]] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_CONTENT_TYPES: Final[dict[str, Kind]] = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/parquet": "parquet",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
    "application/x-ndjson": "jsonl",
    "application/ndjson": "jsonl",
}
_GZIP_TYPES: Final = frozenset({"application/gzip", "application/x-gzip"})


@dataclass(frozen=True)
class FileFormat:
    kind: Kind
    compressed: bool = False  # gzip

    def __str__(self) -> str:
        return self.kind + (".gz" if self.compressed else "")


@dataclass(frozen=True)
class Part:
    """Which rows of a file a reader reads: all of them (`WHOLE_FILE`), or one part of a file
    split for parallel scoring, whose rows are numbered from `first_row_number`."""

    first_row_number: int = 1
    # Parquet: the row groups of the part, in order (None: all).
    row_groups: tuple[int, ...] | None = None
    # Whether the stream starts where the file does (a UTF-8 byte order mark there is dropped).
    at_file_start: bool = True


WHOLE_FILE: Final = Part()


@dataclass(frozen=True)
class BadRow:
    """A data row that could not be read; it becomes a rejection (column_name None: whole row)."""

    row_number: int
    reason_code: str
    reason: str
    raw_value: str | None
    column_name: str | None = None


@dataclass(frozen=True)
class Chunk:
    """Consecutive data rows of a file: `frame` the readable ones, `bad_rows` the others.

    The chunk covers rows first_row_number … first_row_number + rows_in - 1; `row_numbers()`
    says which of them the rows of `frame` are, in order.
    """

    frame: pd.DataFrame
    first_row_number: int
    header: tuple[str, ...]
    bad_rows: tuple[BadRow, ...] = field(default=())
    # JSON's values (JSONL): a string is text, never a number (`shared.contract.validate`).
    json_values: bool = False

    @property
    def rows_in(self) -> int:
        return len(self.frame) + len({bad.row_number for bad in self.bad_rows})

    def row_numbers(self) -> npt.NDArray[np.int64]:
        numbers = np.arange(
            self.first_row_number, self.first_row_number + self.rows_in, dtype=np.int64
        )
        if not self.bad_rows:
            return numbers
        bad = np.array(sorted({b.row_number for b in self.bad_rows}), dtype=np.int64)
        return numbers[~np.isin(numbers, bad)]


def detect_format(name: str, content_type: str | None, head: bytes) -> FileFormat:
    """The format of a file from its name, content type and first bytes (at least 4 of them).

    The bytes decide whether it is gzip when there are any (Cloud Storage may serve a `.gz`
    object decompressed); the `PAR1` magic marks Parquet whatever the name says. Otherwise the
    name's suffix (before any `.gz`) names the format, then the content type.
    """
    lowered = name.lower()
    media = (content_type or "").split(";")[0].strip().lower()
    named_gzip = lowered.endswith(".gz") or media in _GZIP_TYPES
    compressed = head.startswith(GZIP_MAGIC) if head else named_gzip
    inner = _decompressed_head(head) if compressed else head
    if inner.startswith(PARQUET_MAGIC):
        return FileFormat("parquet", compressed)
    base = lowered.removesuffix(".gz")
    for suffix, kind in _SUFFIXES.items():
        if base.endswith(suffix):
            return FileFormat(kind, compressed)
    if media in _CONTENT_TYPES:
        return FileFormat(_CONTENT_TYPES[media], compressed)
    found = f"name {name!r}, content type {content_type!r}, first bytes {head[:8]!r}"
    raise DataError(f"{name}: not a CSV, Parquet or JSONL file (found {found})")


def _decompressed_head(head: bytes) -> bytes:
    import zlib

    try:
        return zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(head, 16)
    except zlib.error:
        return b""


def header_of(chunks: Iterator[Chunk]) -> tuple[tuple[str, ...], Iterator[Chunk]]:
    """The header of the first chunk, and the chunks again, that one included.

    The caller checks the header against the contract (`contract.missing_columns`) before it
    writes anything; an empty file has the empty header.
    """
    first = next(chunks, None)
    if first is None:
        return (), iter(())

    def again() -> Iterator[Chunk]:
        yield first
        yield from chunks

    return first.header, again()


class Watched(io.RawIOBase):
    """The caller's stream, remembering its own read failures.

    Parsers and decompressors raise OSError for a corrupt file, and a dropped connection under
    the stream raises OSError too. A failure of the stream itself is the transport's, which a
    retry can fix, so it is raised as it was, never reported as a bad file.
    """

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__()
        self._stream = stream
        self._failure: BaseException | None = None

    def raise_own_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _guard(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except BaseException as exc:
            self._failure = exc
            raise

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._stream.seekable()

    def read(self, size: int = -1) -> bytes:
        return self._guard(lambda: self._stream.read(size))

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._guard(lambda: self._stream.seek(offset, whence))

    def tell(self) -> int:
        return self._stream.tell()

    def close(self) -> None:
        # The caller owns the stream and closes it.
        super().close()
