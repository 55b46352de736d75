"""CSV, read as text as written: a thread of its own cuts the stream into pieces of whole rows
and has pyarrow parse each piece, while the caller works on the chunk before (see
`shared.scoring.readers` for the rules).

Why the rows are cut here rather than by pyarrow's streaming reader (`pyarrow.csv.open_csv`)
with an `invalid_row_handler`, which reads this module's files about as fast: it reads a quote
never closed at the end of the file as a value running to the end (`3,"4\n5,6` is one row whose
second value is `4\n5,6`: scored, not refused); in a one-column file a line of blanks is a row;
a row longer than its block size fails the file ("straddling object"); and the handler is given
no row number once its reader uses threads. Each would change a row number or a verdict.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from shared.errors import DataError
from shared.scoring.readers.framing import (
    BOM,
    ENCODING,
    MALFORMED_LINE,
    MAX_RAW_CHARS,
    BadRow,
    Chunk,
    Source,
    T,
)

# CSV is parsed this many bytes at a time (whole rows: up to the last line break that ends one),
# by a thread that keeps this many such pieces ready: about one default chunk ahead.
_BLOCK_BYTES: Final = 2 * 1024 * 1024
_READ_AHEAD: Final = 2
# A row longer than this is refused, not held: a quote that is never closed makes one.
_MAX_ROW_BYTES: Final = 64 * 1024 * 1024
_QUOTE, _COMMA, _LF, _CR = ord('"'), ord(","), ord("\n"), ord("\r")
# What may come before a quote that opens a value, and after one that closes it.
_BEFORE_OPENING: Final = (_COMMA, _LF, _CR, _QUOTE)
_AFTER_CLOSING: Final = (_COMMA, _LF, _CR, _QUOTE)
_VALUE_STARTS: Final = frozenset((_COMMA, _LF, _CR))
_BLANKS: Final = (ord(" "), ord("\t"))
# The header is looked for in this many bytes first, then four times as many, and so on.
_HEADER_LOOK_BYTES: Final = 64 * 1024


# A thread of its own (`_read_ahead`) reads the stream, cuts it into pieces of whole rows
# (`_whole_rows`), has pyarrow parse each piece in one call with every column as bytes, and
# turns the columns into text (`_text_piece`), while the caller works on the chunk before. The
# caller's side only slices the pieces into chunks of exactly `chunk_rows` rows. Cutting needs
# to know which line breaks are inside quoted values: a quote opens a value only at the value's
# start, as pyarrow reads it (`_quoted_spans`).


def csv_chunks(
    source: Source, chunk_rows: int, name: str, first_row_number: int = 1
) -> Iterator[Chunk]:
    """The rows of `source`, numbered from `first_row_number` (a part of a file: the stream is
    the file's header bytes followed by that part's rows)."""
    header: tuple[str, ...] | None = None
    pending: list[pa.Table] = []  # rows read, not yet in a chunk
    pending_rows = 0
    bad: list[BadRow] = []  # of the pending rows, in row order
    first = next_row = first_row_number  # the first row of the next chunk
    pieces_read = _csv_pieces(source, name, first_row_number - 1)
    # Closed here, however this generator ends, so the thread stops reading the caller's stream.
    with closing(_read_ahead(pieces_read, _READ_AHEAD)) as pieces:
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
    if pending_rows or (next_row == first == 1):
        yield _chunk(pa.concat_tables(pending), header, next_row, bad)


@dataclass(frozen=True)
class _Piece:
    """Consecutive data rows as text columns; a row in `bad` holds nulls where it was unreadable."""

    header: tuple[str, ...]
    table: pa.Table
    bad: tuple[BadRow, ...]


def _csv_pieces(source: Source, name: str, rows_before: int) -> Iterator[_Piece]:
    header: tuple[str, ...] | None = None
    rows_read = rows_before
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


def _whole_rows(source: Source) -> Iterator[tuple[bytes, bool]]:
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
            more, at_start = more.removeprefix(BOM), False
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


def header_end(head: bytes) -> int | None:
    """Where the data rows start: the offset just after the header row (the first row that is
    not blank) in `head`, the file's first bytes; None when that row does not end in them."""
    skipped = len(BOM) if head.startswith(BOM) else 0
    piece = head[skipped:]
    layout = _layout(piece)
    ended = np.flatnonzero(layout.counted[:-1])  # the last row may go on past `head`
    if ended.size == 0:
        return None
    return skipped + int(layout.starts[int(ended[0]) + 1])


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
