"""Read an input file as a stream of chunks: CSV, Parquet or JSONL, each optionally gzip.

    detect_format(name, content_type, head) -> FileFormat    or DataError: quarantine the file
    iter_chunks(stream, fmt, chunk_rows, name) -> Chunk …      never the whole file at once

Row numbers are 1-based data rows (the header and blank lines are not rows), continuous across
chunks. A chunk holds at most `chunk_rows` data rows: the rows that could be read go in `frame`,
the others (a JSONL line that is not a JSON object, holds NaN or Infinity, nests arrays and
objects deeper than `shared.json_values.MAX_DEPTH` or holds half a surrogate pair; a CSV row with
fewer or more values than its header; a value that is not UTF-8) in `bad_rows`, so a few
unreadable rows never cost the rest of the file.

CSV is read as text, as the data contract asks: no value is converted and only an empty field
(quoted or not) is missing, so "n/a", "NA", "nan" or " 42 " reach the contract as written. The
frame's columns are pandas' Arrow-backed text (``pd.StringDtype("pyarrow")``), which the
contract reads without converting the text again. pyarrow's CSV parser reads a few MB of whole
rows at a time, in a thread that works ahead of the caller. RFC 4180 quoting: a line break
inside quotes is part of the value and ``""`` is a quote (a quote that does not start a value
is text, as in ``5'11"``); LF, CRLF or CR line ends; a UTF-8 byte order mark at the start is
dropped; blank lines (empty or only blanks) are not rows. A row with fewer values than the
header, or more, is rejected as MALFORMED_LINE: a row cut short and a row whose writer left out
its last empty values cannot be told apart, nor which value belongs to which column (BigQuery's
own CSV loads refuse both too, unless told to allow jagged rows). A quote that is never
closed (or a row over `_MAX_ROW_BYTES`) is a DataError saying after which data row. Bytes that
are not UTF-8: each value holding one is rejected with reason ENCODING (the value shown with
``\\xNN`` escapes), the rest of the file is scored: one byte of Latin-1 in a comment field should
not lose a million predictions. In the header such bytes are spelled ``\\xNN`` in the column's
name; an empty name becomes "Unnamed: i", as pandas names it. A header that names a column
twice rejects the file whole (a DataError naming the column), as BigQuery's own CSV loads do.

JSONL values keep their JSON types (NaN and Infinity, which are not JSON, refuse the line).
Parquet is read a record batch at a time, typed; one row group is the unit of decompression, so
memory is bounded by the writer's row-group size as well as by `chunk_rows`.
gzip is decompressed as it is read (a Parquet file, which needs random access, is first
decompressed to a temporary file), so a small file that expands 1000 times is never held at once.
"""

from __future__ import annotations

import gzip
import io
import json
import queue
import shutil
import tempfile
import threading
import zlib
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Final, Literal, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from shared.config import BatchConfig
from shared.errors import DataError
from shared.json_values import (
    MAX_DEPTH,
    decode_error_text,
    lone_surrogate,
    may_hold_surrogates,
    path_text,
    refuse_constant,
    too_deep,
)

Kind = Literal["csv", "parquet", "jsonl"]
T = TypeVar("T")
# What a file is read through: the caller's stream, or a decompressor over it.
_Bytes = BinaryIO | gzip.GzipFile
# The batch function's own default (CLOUDSCORE_BATCH_CHUNK_ROWS).
DEFAULT_CHUNK_ROWS: Final = BatchConfig().chunk_rows
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
# CSV is parsed this many bytes at a time (whole rows: up to the last line break that ends one),
# by a thread that keeps this many such pieces ready: about one default chunk ahead.
_BLOCK_BYTES: Final = 2 * 1024 * 1024
_READ_AHEAD: Final = 2
# A row longer than this is refused, not held: a quote that is never closed makes one.
_MAX_ROW_BYTES: Final = 64 * 1024 * 1024
_BOM: Final = b"\xef\xbb\xbf"
_QUOTE, _COMMA, _LF, _CR = ord('"'), ord(","), ord("\n"), ord("\r")
# What may come before a quote that opens a value, and after one that closes it.
_BEFORE_OPENING: Final = (_COMMA, _LF, _CR, _QUOTE)
_AFTER_CLOSING: Final = (_COMMA, _LF, _CR, _QUOTE)
_VALUE_STARTS: Final = frozenset((_COMMA, _LF, _CR))
_BLANKS: Final = (ord(" "), ord("\t"))
# The header is looked for in this many bytes first, then four times as many, and so on.
_HEADER_LOOK_BYTES: Final = 64 * 1024

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


def iter_chunks(
    stream: BinaryIO,
    fmt: FileFormat,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    name: str = "<file>",
) -> Generator[Chunk, None, None]:
    """The file's rows, `chunk_rows` at most at a time; see the module docstring.

    Close the generator (or exhaust it) before closing `stream`: until then it may read from
    `stream` (CSV is read ahead by a thread of its own, which closing stops).

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
#
# A thread of its own (`_read_ahead`) reads the stream, cuts it into pieces of whole rows
# (`_whole_rows`), has pyarrow parse each piece in one call with every column as bytes, and
# turns the columns into text (`_text_piece`), while the caller works on the chunk before. The
# caller's side only slices the pieces into chunks of exactly `chunk_rows` rows. Cutting needs
# to know which line breaks are inside quoted values: a quote opens a value only at the value's
# start, as pyarrow reads it (`_quoted_spans`).


def _csv_chunks(source: _Bytes, chunk_rows: int, name: str) -> Iterator[Chunk]:
    header: tuple[str, ...] | None = None
    pending: list[pa.Table] = []  # rows read, not yet in a chunk
    pending_rows = 0
    bad: list[BadRow] = []  # of the pending rows, in row order
    next_row = 1  # the first row of the next chunk
    # Closed here, however this generator ends, so the thread stops reading the caller's stream.
    with closing(_read_ahead(_csv_pieces(source, name), _READ_AHEAD)) as pieces:
        for piece in pieces:
            header = piece.header
            pending.append(piece.table)
            pending_rows += piece.table.num_rows
            bad.extend(piece.bad)
            while pending_rows >= chunk_rows:
                table = pa.concat_tables(pending)  # no copy: pieces become chunks of a column
                pending, pending_rows = [table.slice(chunk_rows)], pending_rows - chunk_rows
                end = next_row + chunk_rows
                taken, bad = (
                    [b for b in bad if b.row_number < end],
                    [b for b in bad if b.row_number >= end],
                )
                yield _chunk(table.slice(0, chunk_rows), header, next_row, taken)
                next_row = end
    if header is None:
        return  # an empty file, or blank lines only: no header, no chunk
    if pending_rows or next_row == 1:
        yield _chunk(pa.concat_tables(pending), header, next_row, bad)


@dataclass(frozen=True)
class _Piece:
    """Consecutive data rows as text columns; a row in `bad` holds nulls where it was unreadable."""

    header: tuple[str, ...]
    table: pa.Table
    bad: tuple[BadRow, ...]


def _csv_pieces(source: _Bytes, name: str) -> Iterator[_Piece]:
    header: tuple[str, ...] | None = None
    rows_read = 0
    try:
        for piece, quoted in _whole_rows(source):
            rest = piece
            if header is None:
                header, rest = _header_and_rest(piece)
                if header is None:
                    continue  # nothing but blank lines so far
                yield _Piece(header, _text_table(len(header)), ())  # the header, if no row comes
            if rest:
                table, malformed = _parsed(rest, len(header), quoted)
                first_row, rows_read = rows_read + 1, rows_read + table.num_rows
                yield _text_piece(table, header, first_row, malformed)
    except (_NotWellFormed, pa.ArrowInvalid) as exc:  # pyarrow's: the header, not expected
        where = f"after data row {rows_read}" if rows_read else "in its first rows"
        raise DataError(f"{name}: not a well-formed CSV {where}: {exc}") from exc
    except _RepeatedColumn as exc:
        # As BigQuery's own CSV loads refuse it: the file is rejected whole.
        raise DataError(
            f"{name}: the header names the column {exc.name!r} twice (columns {exc.first} and "
            f"{exc.second}); which of the two values is the column's cannot be told"
        ) from exc


class _NotWellFormed(Exception):
    """The bytes cannot be cut into rows; the message says why, the caller says where."""


@dataclass(frozen=True)
class _Malformed:
    """A row with another number of values than the header: which of them belongs to which column
    is unknown."""

    text: bytes  # the row as written, cut to what a rejection keeps
    values: int


def _whole_rows(source: _Bytes) -> Iterator[tuple[bytes, bool]]:
    """The stream in pieces of whole rows (the header among them), about `_BLOCK_BYTES` each,
    with whether a line break inside a quoted value may be among them.

    A UTF-8 byte order mark at the start is dropped. Raises `_NotWellFormed` at the end of the
    stream if a quoted value is never closed, and for a row longer than `_MAX_ROW_BYTES` (one
    that long is almost surely an unclosed quote, and holding it would not bound memory).
    """
    carry = b""
    want = _BLOCK_BYTES
    at_start = True
    while True:
        more = source.read(want)
        if at_start:
            more, at_start = more.removeprefix(_BOM), False
        buffer = carry + more if carry else more
        if not more:
            if buffer:
                end, quoted = _rows_end(buffer, final=True)
                if end:
                    yield buffer[:end], quoted
                if end < len(buffer):
                    raise _NotWellFormed("the next row opens a quote that is never closed")
            return
        end, quoted = _rows_end(buffer, final=False)
        if end == 0:
            if len(buffer) > _MAX_ROW_BYTES:
                raise _NotWellFormed(
                    f"the next row is longer than {_MAX_ROW_BYTES // 2**20} MiB (is a quote "
                    "never closed?)"
                )
            # No row ends yet: read as much again, so a long row costs O(n log n), not O(n²).
            carry, want = buffer, max(_BLOCK_BYTES, len(buffer))
            continue
        yield buffer[:end], quoted
        carry, want = buffer[end:], _BLOCK_BYTES


def _rows_end(buffer: bytes, *, final: bool) -> tuple[int, bool]:
    """Where the last whole row in `buffer` ends (0: none yet), and whether a line break before
    that is inside a quoted value. At the end of the stream (`final`) every row is whole unless
    a quote is still open; the end is then that of the rows before it."""
    if buffer.find(b'"') < 0:  # memchr: most blocks of most files hold no quote at all
        end = len(buffer) if final else max(buffer.rfind(b"\n"), buffer.rfind(b"\r")) + 1
        return end, False
    data = np.frombuffer(buffer, dtype=np.uint8)
    opens, closes = _quoted_spans(buffer, data)
    breaks = np.flatnonzero((data == _LF) | (data == _CR))
    inside = _within(breaks, opens, closes)
    still_open = bool(closes.size) and int(closes[-1]) == len(data)
    if final and not still_open:
        return len(buffer), bool(inside.any())
    ends = breaks[~inside]
    end = int(ends[-1]) + 1 if ends.size else 0
    return end, bool(inside[breaks < end].any())


def _quoted_spans(
    buffer: bytes, data: npt.NDArray[np.uint8]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """The positions of the opening and closing quotes of the quoted values in `buffer` (`data`
    is the same bytes as an array), which starts at the start of a row; a value still open at
    the end closes at len(buffer).

    A quote opens a value only at the value's start; inside, ``""`` is a quote and a quote
    followed by anything else closes it (what follows is part of the value, unquoted). So a
    quote elsewhere, as in ``5'11"``, is text. In RFC 4180 files every quote alternates
    opening and closing, which is checked at once; the others are followed quote by quote.
    """
    quotes = np.flatnonzero(data == _QUOTE)
    opens, closes = quotes[0::2], quotes[1::2]
    before = data[np.maximum(opens - 1, 0)]
    after = data[np.minimum(closes + 1, len(data) - 1)]
    alternating = bool(
        np.all((opens == 0) | np.isin(before, _BEFORE_OPENING))
        and np.all((closes + 1 == len(data)) | np.isin(after, _AFTER_CLOSING))
    )
    if not alternating:
        opens, closes = _quotes_one_by_one(buffer, quotes)
    if closes.size < opens.size:
        closes = np.append(closes, len(data))
    return opens, closes


def _quotes_one_by_one(
    buffer: bytes, quotes: npt.NDArray[np.intp]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    opens: list[int] = []
    closes: list[int] = []
    positions = quotes.tolist()
    inside, index = False, 0
    while index < len(positions):
        at = positions[index]
        index += 1
        if not inside:
            if at == 0 or buffer[at - 1] in _VALUE_STARTS:
                inside = True
                opens.append(at)
        elif index < len(positions) and positions[index] == at + 1:
            index += 1  # "" inside a quoted value: a quote, the value goes on
        else:
            inside = False
            closes.append(at)
    return np.array(opens, dtype=np.intp), np.array(closes, dtype=np.intp)


def _within(
    positions: npt.NDArray[np.intp], opens: npt.NDArray[np.intp], closes: npt.NDArray[np.intp]
) -> npt.NDArray[np.bool_]:
    """Which of `positions` are inside a quoted value (spans are sorted and disjoint)."""
    if opens.size == 0:
        return np.zeros(positions.size, dtype=np.bool_)
    span = np.searchsorted(opens, positions, side="right") - 1
    return (span >= 0) & (positions < closes[np.maximum(span, 0)])


@dataclass(frozen=True)
class _Layout:
    """The rows of a piece: where each starts and ends (line break excluded), how many values it
    has, and whether it is a data row (not empty, not only blanks)."""

    starts: npt.NDArray[np.intp]
    ends: npt.NDArray[np.intp]
    values: npt.NDArray[np.intp]
    counted: npt.NDArray[np.bool_]
    empty: npt.NDArray[np.bool_]
    quoted: bool  # a line break inside a quoted value


def _layout(piece: bytes) -> _Layout:
    data = np.frombuffer(piece, dtype=np.uint8)
    opens, closes = _quoted_spans(piece, data)
    breaks = np.flatnonzero((data == _LF) | (data == _CR))
    inside = _within(breaks, opens, closes)
    row_breaks = breaks[~inside]
    starts = np.concatenate(([0], row_breaks + 1))
    ends = np.append(row_breaks, len(data))
    commas = np.flatnonzero(data == _COMMA)
    commas = commas[~_within(commas, opens, closes)]
    values = np.searchsorted(commas, ends) - np.searchsorted(commas, starts) + 1
    # Blank lines are not rows (pandas' rule; pyarrow skips only empty ones). A blank line has
    # one value and starts with a blank: only those few are looked at one by one.
    empty = ends == starts
    candidates = (values == 1) & ~empty & np.isin(data[np.minimum(starts, len(data) - 1)], _BLANKS)
    blank = empty.copy()
    for row in np.flatnonzero(candidates).tolist():
        blank[row] = not piece[starts[row] : ends[row]].strip(b" \t")
    return _Layout(starts, ends, values, ~blank, empty, bool(inside.any()))


def _header_and_rest(piece: bytes) -> tuple[tuple[str, ...] | None, bytes]:
    """The column names from the first row that is not blank, and the bytes after that row."""
    # Rows that end in the first bytes of the piece are rows of the piece: look at no more.
    size = _HEADER_LOOK_BYTES
    while True:
        layout = _layout(piece[:size])
        ended = np.flatnonzero(layout.counted[:-1])  # the last row may go on past `size`
        if ended.size or size >= len(piece):
            break
        size *= 4
    found = ended if ended.size else np.flatnonzero(layout.counted)
    if found.size == 0:
        return None, b""
    row = int(found[0])
    line = piece[layout.starts[row] : layout.ends[row]]
    rest = piece[layout.starts[row + 1] :] if row + 1 < len(layout.starts) else b""
    width = int(layout.values[row])
    table = _read_csv(line, width, quoted=b'"' in line)
    names = [
        "" if value is None else value.decode("utf-8", "backslashreplace")
        for value in (table.column(i)[0].as_py() for i in range(width))
    ]
    return tuple(_named(names)), rest


def _named(names: list[str]) -> list[str]:
    """The column names, an empty one named "Unnamed: i" as pandas names it; `_RepeatedColumn`
    when a name is given twice: which of the two values is the column's cannot be told."""
    seen: dict[str, int] = {}
    for position, name in enumerate(names):
        if name and name in seen:
            raise _RepeatedColumn(name, seen[name] + 1, position + 1)
        seen[name] = position
    return [name or f"Unnamed: {i}" for i, name in enumerate(names)]


class _RepeatedColumn(Exception):
    def __init__(self, name: str, first: int, second: int) -> None:
        super().__init__(name)
        self.name, self.first, self.second = name, first, second


def _parsed(
    piece: bytes, width: int, quoted: bool
) -> tuple[pa.Table, list[tuple[int, _Malformed]]]:
    """The rows of `piece` as a table of bytes, with the rows that have fewer or more values
    than the header (each an all-null row in the table, so rows keep their places) by position."""
    if width > 1:  # one column: a line of blanks would be read as a value, not skipped
        try:
            return _read_csv(piece, width, quoted), []
        except pa.ArrowInvalid:
            pass  # a row with another number of values, or a line of blanks
    return _parsed_row_by_row(piece, width)


def _parsed_row_by_row(piece: bytes, width: int) -> tuple[pa.Table, list[tuple[int, _Malformed]]]:
    """`piece` with its irregular rows mended before pyarrow reads it: a line of blanks is left
    out, and a row with another number of values than the header is kept aside, an empty row in
    its place."""
    layout = _layout(piece)
    irregular = np.flatnonzero(~layout.empty & (~layout.counted | (layout.values != width)))
    numbers = np.cumsum(layout.counted) - 1  # each row's position among the data rows
    parts: list[bytes] = []
    malformed: list[tuple[int, _Malformed]] = []
    placeholder = b'""' + b"," * (width - 1) + b"\n"  # "" is a null value, even in one column
    copied = 0  # the bytes before this have been handled
    for row in irregular.tolist():
        start, end = int(layout.starts[row]), int(layout.ends[row])
        parts.append(piece[copied:start])
        copied = int(layout.starts[row + 1]) if row + 1 < len(layout.starts) else len(piece)
        if not layout.counted[row]:
            continue
        text = piece[start : min(end, start + 4 * MAX_RAW_CHARS)]
        malformed.append((int(numbers[row]), _Malformed(text, int(layout.values[row]))))
        parts.append(placeholder)
    parts.append(piece[copied:])
    expected = int(layout.counted.sum())
    if expected == 0:  # only empty lines, which pyarrow would call an empty file
        return _binary_table(width), []
    try:
        table = _read_csv(b"".join(parts), width, layout.quoted)
    except pa.ArrowInvalid as exc:  # not expected once mended: said, never guessed around
        raise _NotWellFormed(str(exc)) from exc
    if table.num_rows != expected:  # the layout and pyarrow disagree: never guess
        raise _NotWellFormed(f"{expected} rows found where pyarrow reads {table.num_rows}")
    return table, malformed


def _read_csv(data: bytes, width: int, quoted: bool) -> pa.Table:
    """Rows of `width` values, each as bytes; only an empty value (quoted or not) is null."""
    import pyarrow.csv as pacsv

    names = [str(i) for i in range(width)]
    return pacsv.read_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(
            column_names=names,
            # One block, one thread: the piece is whole rows, and it is already parsed apart
            # from the caller's work (_read_ahead).
            use_threads=False,
            block_size=max(len(data) + 1, 1 << 16),
        ),
        # Only where a line break may be inside a quoted value: pyarrow then cuts blocks more
        # carefully, which costs time, and a piece with no quote cannot have one.
        parse_options=pacsv.ParseOptions(newlines_in_values=quoted),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.large_binary()),
            strings_can_be_null=True,
            null_values=[""],
        ),
    )


def _binary_table(width: int) -> pa.Table:
    return pa.table({str(i): pa.array([], pa.large_binary()) for i in range(width)})


def _text_table(width: int) -> pa.Table:
    return pa.table({str(i): pa.array([], pa.large_string()) for i in range(width)})


def _text_piece(
    table: pa.Table,
    header: tuple[str, ...],
    first_row: int,
    malformed: list[tuple[int, _Malformed]],
) -> _Piece:
    """`table` (bytes) as text; the rows with fewer or more values than the header, or with a
    value that is not UTF-8, as bad rows (that value made null, so the column can be text)."""
    bad = [
        BadRow(
            row_number=first_row + position,
            reason_code=MALFORMED_LINE,
            reason=f"expected {len(header)} values as in the header, found {found.values}",
            raw_value=found.text.decode("utf-8", "backslashreplace")[:MAX_RAW_CHARS],
        )
        for position, found in malformed
    ]
    texts: list[Any] = []
    for name, column in zip(header, table.columns, strict=True):
        try:
            # One cast checks a whole column; the data buffer is kept, not copied.
            texts.append(column.cast(pa.large_string()))
            continue
        except pa.ArrowInvalid:
            pass
        undecodable = np.zeros(len(column), dtype=np.bool_)
        for position, value in _undecodable(column):
            undecodable[position] = True
            bad.append(
                BadRow(
                    row_number=first_row + position,
                    reason_code=ENCODING,
                    reason="expected UTF-8 text, found bytes that are not (shown as \\xNN)",
                    raw_value=value.decode("utf-8", "backslashreplace")[:MAX_RAW_CHARS],
                    column_name=name,
                )
            )
        nulled = pc.if_else(pa.array(undecodable), pa.scalar(None, pa.large_binary()), column)
        texts.append(nulled.cast(pa.large_string()))
    bad.sort(key=lambda b: b.row_number)  # stable: a row's bad values stay in column order
    return _Piece(header, pa.table(texts, names=[str(i) for i in range(len(texts))]), tuple(bad))


def _undecodable(column: Any) -> Iterator[tuple[int, bytes]]:
    """The positions and values of the values that are not UTF-8."""
    for position, value in enumerate(column.to_pylist()):
        if value is not None:
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                yield position, value


def _chunk(table: pa.Table, header: tuple[str, ...], first_row: int, bad: list[BadRow]) -> Chunk:
    if bad:
        dropped = np.zeros(table.num_rows, dtype=np.bool_)
        dropped[[b.row_number - first_row for b in bad]] = True
        table = table.filter(pa.array(~dropped))
    # pandas' text dtype backed by Arrow, over the parsed buffers as they are: the contract's
    # checks read them as Arrow text without converting anything again.
    frame = pd.DataFrame(
        {
            name: pd.Series(pd.arrays.ArrowStringArray(column), copy=False)
            for name, column in zip(header, table.columns, strict=True)
        }
    )
    return Chunk(frame, first_row, header, tuple(bad))


_END: Final = object()


def _read_ahead(items: Iterator[T], depth: int = 1) -> Generator[T, None, None]:
    """`items`, made by a thread of their own at most `depth` ahead of the caller.

    What the thread raises is raised here, in turn. Closing this generator stops the thread and
    waits for it (a read under way is finished first), so the stream is no longer read once it
    has returned.
    """
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
            except queue.Full:
                continue
            return True
        return False

    def run() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as exc:  # handed to the caller, who raises it
            put(_Raised(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=run, name="csv-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.exc
            yield item
    finally:
        stop.set()
        worker.join()


@dataclass(frozen=True)
class _Raised:
    exc: BaseException


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
    deep: tuple[str | int, ...] | None
    try:
        value = json.loads(text, parse_constant=refuse_constant)
        deep = too_deep(value, line.count(b"[") + line.count(b"{"))
    except json.JSONDecodeError as exc:
        reason = f"expected a JSON object, found invalid JSON ({exc.msg} at column {exc.colno})"
        return _bad_line(row_number, MALFORMED_LINE, reason, text)
    except ValueError as exc:  # NaN or Infinity, or an integer beyond Python's digit limit
        reason = f"expected a JSON object, found invalid JSON ({decode_error_text(exc)})"
        return _bad_line(row_number, MALFORMED_LINE, reason, text)
    except RecursionError:
        deep = ()  # deeper than `json` reads: deeper than the limit too
    if deep is not None:
        where = f" at {path_text(deep)}" if deep else ""
        reason = f"expected JSON nested at most {MAX_DEPTH} deep, found deeper{where}"
        return _bad_line(row_number, MALFORMED_LINE, reason, text)
    surrogate = lone_surrogate(value) if may_hold_surrogates(line) else None
    if surrogate is not None:
        path, half = surrogate
        shown = half.encode("utf-8", "backslashreplace").decode("utf-8")
        reason = (
            f"expected Unicode text at {path_text(path)}, found half of a surrogate pair "
            f"({shown[:MAX_RAW_CHARS]})"
        )
        # The line itself is UTF-8 (it was decoded strictly): the half is an escape in it.
        return _bad_line(row_number, ENCODING, reason, text)
    if not isinstance(value, dict):
        reason = f"expected a JSON object, found a JSON {type(value).__name__}"
        return _bad_line(row_number, MALFORMED_LINE, reason, text)
    return value


def _bad_line(row_number: int, reason_code: str, reason: str, text: str) -> BadRow:
    return BadRow(row_number, reason_code, reason, text.rstrip("\r\n")[:MAX_RAW_CHARS])


def _jsonl_chunk(
    records: list[dict[str, object]],
    bad: list[BadRow],
    first_row_number: int,
    header: tuple[str, ...] | None,
) -> Chunk:
    # Indexed by position: records with no key at all ({}) are rows too, not none.
    frame = pd.DataFrame.from_records(records, index=pd.RangeIndex(len(records)))
    frame.columns = [str(c) for c in frame.columns]
    # A chunk's header is the first chunk's keys: the ones the file-level check looked at.
    return Chunk(frame, first_row_number, header or tuple(frame.columns), tuple(bad), True)


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
