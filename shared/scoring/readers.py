"""Read an input file as a stream of chunks: CSV, Parquet or JSONL, each optionally gzip.

    detect_format(name, content_type, head) -> FileFormat    or DataError: quarantine the file
    iter_chunks(stream, fmt, chunk_rows, name) -> Chunk …      never the whole file at once

Row numbers are 1-based data rows (the header and blank lines are not rows), continuous across
chunks. A chunk holds at most `chunk_rows` data rows: the rows that could be read go in `frame`,
the others (a JSONL line that is not a JSON object, a value that is not UTF-8) in `bad_rows`,
so a few unreadable rows never cost the rest of the file.

CSV is read as text, as the data contract asks (`dtype=object`, only empty fields are missing),
by pandas' C parser: RFC 4180 quoting, a newline inside quotes is part of the value. Bytes that
are not UTF-8 are kept with ``surrogateescape`` and each value holding one is rejected with
reason ENCODING (the value shown with ``\\xNN`` escapes), the rest of the file is scored: one
byte of Latin-1 in a comment field should not lose a million predictions. In the header such
bytes are spelled ``\\xNN`` in the column's name. JSONL values keep their JSON types. Parquet is
read a record batch at a time, typed; one row group is the unit of decompression, so memory is
bounded by the writer's row-group size as well as by `chunk_rows`.
gzip is decompressed as it is read (a Parquet file, which needs random access, is first
decompressed to a temporary file), so a small file that expands 1000 times is never held at once.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tempfile
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Final, Literal, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from shared.errors import DataError

Kind = Literal["csv", "parquet", "jsonl"]
T = TypeVar("T")
# What a file is read through: the caller's stream, or a decompressor over it.
_Bytes = BinaryIO | gzip.GzipFile
DEFAULT_CHUNK_ROWS: Final = 50_000
GZIP_MAGIC: Final = b"\x1f\x8b"
PARQUET_MAGIC: Final = b"PAR1"
MALFORMED_LINE: Final = "MALFORMED_LINE"
ENCODING: Final = "ENCODING"
# A rejected line is kept as evidence, but a 50 MB line is not evidence worth storing.
MAX_RAW_CHARS: Final = 1000
# What corrupt compressed data raises (BadGzipFile is an OSError).
_UNREADABLE: Final = (OSError, EOFError, zlib.error)
_READ_BYTES: Final = 256 * 1024
# Parquet from a stream that cannot seek is copied: in memory up to this size, then to disk.
_SPOOL_BYTES: Final = 16 * 1024 * 1024
# A CSV header longer than this is left unescaped (see _HeaderEscaped) rather than held whole.
_MAX_HEADER_BYTES: Final = 1024 * 1024
# Read in small steps: what follows the header is held until the parser asks for it.
_HEADER_READ_BYTES: Final = 16 * 1024
_QUOTE, _COMMA = ord('"'), ord(",")
_LINE_BREAKS: Final = frozenset(b"\r\n")
_BLANK_OR_BOM: Final = b" \t\r\n\x0b\x0c\xef\xbb\xbf"

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


def iter_chunks(
    stream: BinaryIO,
    fmt: FileFormat,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    name: str = "<file>",
) -> Generator[Chunk, None, None]:
    """The file's rows, `chunk_rows` at most at a time; see the module docstring.

    Close the generator (or exhaust it) before closing `stream`: the CSV parser flushes its
    text wrapper over the stream when it closes.

    An empty file gives no chunk; a file with a header (or Parquet schema) and no rows gives one
    empty chunk that carries the header.
    """
    if chunk_rows < 1:
        raise DataError(f"chunk_rows must be at least 1, got {chunk_rows}")
    watched = _Watched(stream)
    if fmt.kind == "parquet":
        yield from _parquet_chunks(watched, fmt, chunk_rows, name)
        return
    buffered = io.BufferedReader(watched, _READ_BYTES)
    source: _Bytes = gzip.GzipFile(fileobj=buffered, mode="rb") if fmt.compressed else buffered
    try:
        if fmt.kind == "csv":
            yield from _csv_chunks(source, chunk_rows, name)
        else:
            yield from _jsonl_chunks(source, chunk_rows)
    except _UNREADABLE as exc:
        watched.raise_own_failure()
        # A truncated or corrupt gzip stream: the file is bad, not the connection.
        raise DataError(f"{name}: cannot be decompressed as gzip: {exc}") from exc


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


# --- CSV ---------------------------------------------------------------------------------------


def _csv_chunks(source: _Bytes, chunk_rows: int, name: str) -> Iterator[Chunk]:
    try:
        reader = pd.read_csv(
            io.BufferedReader(_HeaderEscaped(source)),
            dtype=object,
            keep_default_na=False,
            na_values=[""],
            encoding="utf-8-sig",
            encoding_errors="surrogateescape",
            chunksize=chunk_rows,
        )
    except pd.errors.EmptyDataError:
        return
    next_row = 1
    with reader:
        while True:
            try:
                frame = next(reader)
            except StopIteration:
                return
            except pd.errors.ParserError as exc:
                where = f"after data row {next_row - 1}" if next_row > 1 else "in its first rows"
                raise DataError(f"{name}: not a well-formed CSV {where}: {exc}") from exc
            frame.columns = [str(c) for c in frame.columns]
            frame.index = pd.RangeIndex(len(frame))
            yield _without_bad_text(frame, next_row)
            next_row += len(frame)


class _HeaderEscaped(io.RawIOBase):
    """A CSV byte stream whose header record spells the bytes that are not UTF-8 as ``\\xNN``.

    pandas holds column names as Arrow strings, which cannot hold the lone surrogates that
    ``surrogateescape`` makes of such bytes: one in a column name (a spreadsheet's Latin-1
    export) would fail the whole read. Escaped, it is a column the contract does not know, or a
    required one reported missing by a readable name. The values are left as they are, so each
    bad one is still rejected on its own.
    """

    def __init__(self, source: _Bytes) -> None:
        super().__init__()
        self._source = source
        self._pending: bytes | None = None  # None until the header has been read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._pending is None:
            self._pending = self._escaped_header()
        if self._pending:
            data, self._pending = self._pending[: len(buffer)], self._pending[len(buffer) :]
        else:
            data = self._source.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _escaped_header(self) -> bytes:
        head, scan = b"", _HeaderScan()
        while (end := scan.feed(head)) is None:
            more = self._source.read(_HEADER_READ_BYTES)
            if not more:
                end = len(head)
                break
            head += more
            if len(head) > _MAX_HEADER_BYTES:
                return head  # no header is this long: leave the bytes to the parser as they are
        return head[:end].decode("utf-8", "backslashreplace").encode() + head[end:]


class _HeaderScan:
    """Finds where a CSV's header record ends, as the parser reads it: lines of blanks before
    it are skipped, and a quote opens a quoted value (in which a line break is text and ``""``
    a quote) only at the start of a value."""

    def __init__(self) -> None:
        self._scanned = self._line_start = 0
        self._quoted = self._after_closing_quote = False
        self._at_value_start = True

    def feed(self, data: bytes) -> int | None:
        """Where the header ends in `data` (past its line break), None if not within it yet.

        `data` is what was fed before and more: only the new bytes are scanned.
        """
        for index in range(self._scanned, len(data)):
            byte = data[index]
            if self._quoted:
                if byte == _QUOTE:
                    self._quoted, self._after_closing_quote = False, True
            elif byte == _QUOTE and (self._at_value_start or self._after_closing_quote):
                self._quoted, self._at_value_start, self._after_closing_quote = True, False, False
            elif byte in _LINE_BREAKS:
                if data[self._line_start : index].strip(_BLANK_OR_BOM):
                    return index + 1
                self._line_start, self._at_value_start = index + 1, True
                self._after_closing_quote = False
            else:
                self._at_value_start, self._after_closing_quote = byte == _COMMA, False
        self._scanned = len(data)
        return None


def _without_bad_text(frame: pd.DataFrame, first_row_number: int) -> Chunk:
    """The chunk of `frame`, rows holding a value that was not UTF-8 moved to `bad_rows`."""
    header = tuple(frame.columns)
    bad: list[BadRow] = []
    rows_with_bad = np.zeros(len(frame), dtype=np.bool_)
    for column in frame.columns:
        positions = _undecodable(frame[column])
        for position in positions:
            raw = str(frame[column].iat[position])
            shown = raw.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            bad.append(
                BadRow(
                    row_number=first_row_number + int(position),
                    reason_code=ENCODING,
                    reason="expected UTF-8 text, found bytes that are not (shown as \\xNN)",
                    raw_value=shown[:MAX_RAW_CHARS],
                    column_name=column,
                )
            )
        rows_with_bad[positions] = True
    if not bad:
        return Chunk(frame, first_row_number, header)
    bad.sort(key=lambda b: b.row_number)
    kept = frame[~rows_with_bad].reset_index(drop=True)
    return Chunk(kept, first_row_number, header, tuple(bad))


def _undecodable(column: pd.Series) -> npt.NDArray[np.intp]:
    """Positions of the values that hold an escaped non-UTF-8 byte (a lone surrogate)."""
    try:
        # Arrow refuses lone surrogates: one fast conversion clears a clean column.
        pa.array(column.to_numpy(), type=pa.large_string(), from_pandas=True)
    except (UnicodeEncodeError, pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    else:
        return np.empty(0, dtype=np.intp)
    return np.flatnonzero([isinstance(v, str) and not _is_utf8(v) for v in column.to_numpy()])


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- JSONL -------------------------------------------------------------------------------------


def _jsonl_chunks(source: _Bytes, chunk_rows: int) -> Iterator[Chunk]:
    records: list[dict[str, object]] = []
    bad: list[BadRow] = []
    first_row_number = row_number = 1
    header: tuple[str, ...] | None = None
    for line_number, raw in enumerate(source, start=1):
        # A UTF-8 byte order mark, as some editors write, is not part of the first value.
        line = raw.removeprefix(b"\xef\xbb\xbf") if line_number == 1 else raw
        if not line.strip():
            continue  # blank lines are not rows, as in CSV
        record = _json_record(line, row_number)
        if isinstance(record, BadRow):
            bad.append(record)
        else:
            records.append(record)
        row_number += 1
        if row_number - first_row_number == chunk_rows:
            chunk = _jsonl_chunk(records, bad, first_row_number, header)
            header = header if header is not None else chunk.header
            yield chunk
            records, bad, first_row_number = [], [], row_number
    if row_number > first_row_number:
        yield _jsonl_chunk(records, bad, first_row_number, header)


def _json_record(line: bytes, row_number: int) -> dict[str, object] | BadRow:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        shown = line.decode("utf-8", "backslashreplace").rstrip("\r\n")
        reason = f"expected UTF-8 text, found byte {line[exc.start]:#04x} at byte {exc.start}"
        return BadRow(row_number, ENCODING, reason, shown[:MAX_RAW_CHARS])
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        reason = f"expected a JSON object, found invalid JSON ({exc.msg} at column {exc.colno})"
        return BadRow(row_number, MALFORMED_LINE, reason, text.rstrip("\r\n")[:MAX_RAW_CHARS])
    if not isinstance(value, dict):
        reason = f"expected a JSON object, found a JSON {type(value).__name__}"
        return BadRow(row_number, MALFORMED_LINE, reason, text.rstrip("\r\n")[:MAX_RAW_CHARS])
    return value


def _jsonl_chunk(
    records: list[dict[str, object]],
    bad: list[BadRow],
    first_row_number: int,
    header: tuple[str, ...] | None,
) -> Chunk:
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    frame.columns = [str(c) for c in frame.columns]
    # A chunk's header is the first chunk's keys: the ones the file-level check looked at.
    return Chunk(frame, first_row_number, header or tuple(frame.columns), tuple(bad))


# --- Parquet -----------------------------------------------------------------------------------


def _parquet_chunks(
    stream: _Watched, fmt: FileFormat, chunk_rows: int, name: str
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
        next_row = 1
        for batch in _batches(parquet, chunk_rows, name, stream):
            if batch.num_rows:
                yield Chunk(batch.to_pandas(), next_row, header)
                next_row += batch.num_rows
        if next_row == 1:
            yield Chunk(parquet.schema_arrow.empty_table().to_pandas(), 1, header)


def _batches(
    parquet: Any, chunk_rows: int, name: str, stream: _Watched
) -> Iterator[pa.RecordBatch]:
    batches = parquet.iter_batches(batch_size=chunk_rows)
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
    stream: _Watched, compressed: bool, name: str
) -> tempfile.SpooledTemporaryFile[bytes] | _Unclosed:
    if not compressed and stream.seekable():
        return _Unclosed(io.BufferedReader(stream, _READ_BYTES))
    # Closed by the caller's `with`, which is why no context manager opens it here.
    spooled: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
        _SPOOL_BYTES
    )
    buffered = io.BufferedReader(stream, _READ_BYTES)
    source: _Bytes = gzip.GzipFile(fileobj=buffered, mode="rb") if compressed else buffered
    try:
        shutil.copyfileobj(source, spooled)
    except _UNREADABLE as exc:
        spooled.close()
        stream.raise_own_failure()
        raise DataError(f"{name}: cannot be decompressed as gzip: {exc}") from exc
    spooled.seek(0)
    return spooled


class _Watched(io.RawIOBase):
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


class _Unclosed:
    """The caller's stream as a context manager that leaves it open: the caller owns it."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def __enter__(self) -> BinaryIO:
        return self.stream

    def __exit__(self, *exc: object) -> None:
        return None
