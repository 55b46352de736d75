"""How a file is cut into splits that workers score apart, with exact row numbers.

    plan_parquet(metadata, split_bytes) -> [Split]      by row group; rows counted by the footer
    plan_table(file, split_bytes) -> [Split]             a BigQuery table by ranges of row indexes
    text_ranges(file, split_bytes) -> [(start, end)]     nominal byte ranges of a CSV/JSONL file
    count_range(stream, …) -> RangeCount                 the counting pass of one range
    number_text_splits(file, counts, …) -> ([Split], note)  row numbers from the counts

Parquet splits at row-group boundaries, and the footer says how many rows each group holds.
A text file is cut into byte ranges; a split holds the rows that start in its range (a row
starts after a line break: LF for JSONL, LF or CR for CSV). A counting pass reads each range,
finds its first row start and counts its data rows as the reader counts them (blank lines are
not rows; in a CSV the header is not either), and the counts, added up in order, give each
split's first row number.

A CSV line break inside a quoted value (RFC 4180) does not end a row, and from the middle of a
file one cannot tell whether a byte is inside a quoted value. So the counting pass reads each
CSV range holding quotes twice, as beginning outside a quoted value and as beginning inside
one; once the ranges are counted, the first begins outside, and each range's quotes, counted,
say how the next one begins. That holds while every quote opens or closes a value where RFC 4180
puts them (an opening one after a comma, a line break or ``""``, a closing one before them),
which the pass checks: the first quote that does not (``5'11"``, or a value that goes on after
its closing quote) makes the file one split, and the run's record says which byte it was.
gzip files and Parquet inside gzip are one split each (they cannot be read from the middle).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, BinaryIO, Final, Literal

import numpy as np

from shared.scoring.readers import FileFormat, Part
from shared.scoring.readers.framing import BOM

if TYPE_CHECKING:
    from cloudscore.pipeline.inputs import InputFile

SplitKind = Literal["whole", "row_groups", "bytes", "rows"]
# The counting pass reads this many bytes at a time.
_BLOCK: Final = 4 * 1024 * 1024
# Bytes a blank CSV line may hold (`shared.scoring.readers.csv`); JSONL's are bytes.strip()'s.
_CSV_BLANKS: Final = b" \t"
_JSON_BLANKS: Final = b" \t\n\r\x0b\x0c"


@dataclass(frozen=True)
class Split:
    """One part of one file, scored by one worker and loaded by one load job per table."""

    file: InputFile
    fmt: FileFormat | None  # None: a table
    index: int
    count: int  # the file's splits
    kind: SplitKind
    start: int = 0  # row groups, bytes or table rows: start … end
    end: int = 0
    first_row_number: int = 1
    header: bytes = b""  # CSV after the first split: the file's bytes before its data rows

    @property
    def ident(self) -> str:
        """The split's extent, as its load job ids name it."""
        if self.kind == "whole":
            return "all"
        prefix = {"row_groups": "g", "bytes": "b", "rows": "r"}[self.kind]
        return f"{prefix}{self.start}-{self.end}"

    @property
    def part(self) -> Part:
        if self.kind == "row_groups":
            return Part(self.first_row_number, tuple(range(self.start, self.end)))
        return Part(self.first_row_number, at_file_start=self.start == 0)


def plan_parquet(file: InputFile, fmt: FileFormat, metadata: Any, split_bytes: int) -> list[Split]:
    """Consecutive row groups of about `split_bytes` (compressed) each."""
    groups: list[tuple[int, int, int]] = []  # (first group, end group, first row)
    first_group, first_row, size, rows = 0, 1, 0, 1
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        size += sum(group.column(c).total_compressed_size for c in range(group.num_columns))
        rows += group.num_rows
        if size >= split_bytes:
            groups.append((first_group, index + 1, first_row))
            first_group, first_row, size = index + 1, rows, 0
    if first_group < metadata.num_row_groups or not groups:
        groups.append((first_group, metadata.num_row_groups, first_row))
    if len(groups) == 1:
        return [Split(file, fmt, 0, 1, "whole")]
    return [
        Split(file, fmt, i, len(groups), "row_groups", start, end, first_row_number=row)
        for i, (start, end, row) in enumerate(groups)
    ]


def plan_table(file: InputFile, split_bytes: int) -> list[Split]:
    """Consecutive ranges of a table's row indexes of about `split_bytes` (by the table's size
    per row); a table is read by row index, never as one stream, so even one split is a range."""
    rows = file.rows
    per_split = rows if file.size <= split_bytes else max(1, rows * split_bytes // file.size)
    bounds = [*range(0, rows, max(per_split, 1)), rows] if rows else [0, 0]
    ranges = list(itertools.pairwise(bounds))
    return [
        Split(file, None, index, len(ranges), "rows", start, end, first_row_number=start + 1)
        for index, (start, end) in enumerate(ranges)
    ]


def text_ranges(size: int, split_bytes: int) -> list[tuple[int, int]]:
    """Nominal byte ranges that cover a file of `size` bytes."""
    count = max(1, -(-size // split_bytes))
    bounds = [min(size, i * split_bytes) for i in range(count)] + [size]
    return list(itertools.pairwise(bounds))


@dataclass(frozen=True)
class Scan:
    """A range read as if it began outside (or inside) a quoted value."""

    first_row_start: int | None  # the first row start at or after `start`; None: none before end
    lines: int  # rows that are not blank among those starting in first_row_start … end
    quotes: int  # quotes in start … end (CSV)
    # The first quote (a file offset) that neither opens a value nor closes one where RFC 4180
    # puts them; from there on, where rows start cannot be told by counting quotes.
    misplaced: int | None = None


@dataclass(frozen=True)
class RangeCount:
    """What the counting pass found in the range start … end of a text file: read as if it began
    outside a quoted value and, for a CSV range holding quotes, inside one. Which of the two is
    true is known only once the ranges before it are counted (`number_text_splits`)."""

    start: int
    end: int
    outside: Scan
    inside: Scan | None = None  # CSV only

    def scan(self, *, quoted: bool) -> Scan:
        if not quoted:
            return self.outside
        # No quote in the range: no line break in it is outside a quoted value, so no row starts.
        return self.inside or Scan(None, 0, 0)


def count_range(stream: BinaryIO, start: int, end: int, fmt: FileFormat) -> RangeCount:
    """Count the rows that start in start … end (reading on to the end of the last of them)."""
    outside = _scan(stream, start, end, fmt, quoted=False)
    if fmt.kind != "csv":
        return RangeCount(start, end, outside)
    if outside.quotes == 0 and outside.misplaced is None:
        return RangeCount(start, end, outside)
    return RangeCount(start, end, outside, _scan(stream, start, end, fmt, quoted=True))


def _scan(stream: BinaryIO, start: int, end: int, fmt: FileFormat, *, quoted: bool) -> Scan:
    """One reading of the range, which begins inside a quoted value if `quoted`.

    A row starts after a line break outside quoted values. Every quote at or after `start`
    opens or closes a value in turn, which holds for the reader (`shared.scoring.readers.csv`)
    exactly when an opening quote follows a comma, a line break, a quote (``""``) or the file's
    start, and a closing one comes before a comma, a line break, a quote or the file's end: the
    first quote that does not is `misplaced`, and the reading stops there.
    """
    csv = fmt.kind == "csv"
    scanner = _Scanner(start, end, quoted=quoted, csv=csv, bom=_has_bom(stream))
    position = max(start - 1, 0)  # a break at start - 1 means a row starts exactly at `start`
    stream.seek(position)
    carry = b""
    while True:
        more = stream.read(_BLOCK)
        window = carry + more
        at_eof = not more
        # The last byte waits for the next block: a closing quote needs the byte after it.
        size = len(window) if at_eof else len(window) - 1
        found = scanner.read(np.frombuffer(window, dtype=np.uint8), size, position, at_eof)
        if found is not None:
            return found
        carry, position = window[size:], position + size


def _any_of(block: Any, values: bytes) -> Any:
    """Which bytes of `block` are one of `values` (a few comparisons: faster than np.isin)."""
    found = block == values[0]
    for value in values[1:]:
        found |= block == value
    return found


def _has_bom(stream: BinaryIO) -> bool:
    stream.seek(0)
    return stream.read(len(BOM)) == BOM


_QUOTE, _COMMA, _LF, _CR = ord('"'), ord(","), ord("\n"), ord("\r")
# What may come before a quote that opens a value, and after one that closes it (as the CSV
# reader's `_BEFORE_OPENING` and `_AFTER_CLOSING`).
_AROUND_QUOTES: Final = np.array([_COMMA, _LF, _CR, _QUOTE], dtype=np.uint8)


class _Scanner:
    """The state of one reading of a range, fed the file's bytes a block at a time."""

    def __init__(self, start: int, end: int, *, quoted: bool, csv: bool, bom: bool) -> None:
        self.start, self.end, self.csv = start, end, csv
        self.breaks = b"\n\r" if csv else b"\n"
        self.blanks = _CSV_BLANKS if csv else _JSON_BLANKS
        # The file's first value starts after its byte order mark (which the readers drop).
        self.value_start = len(BOM) if bom else 0
        self.quoted = quoted  # inside a quoted value where the next block begins
        self.quotes = 0  # quotes in start … end
        self.previous = -1  # the byte before the next block (-1: none, the file's start)
        self.first: int | None = 0 if start == 0 else None
        self.line_start = self.first  # where the current row starts (None: not found yet)
        self.has_content = False  # whether the current row holds more than blanks so far
        self.lines = 0

    def result(self, misplaced: int | None = None) -> Scan:
        return Scan(self.first, self.lines, self.quotes, misplaced)

    def read(self, data: Any, size: int, position: int, at_eof: bool) -> Scan | None:
        """Read data[:size], the bytes at `position` (data[size], if any, is the next byte);
        the result once the range is counted."""
        block = data[:size]
        is_break = _any_of(block, self.breaks)
        row_breaks = np.flatnonzero(is_break)
        if self.csv:
            quotes = np.flatnonzero(block == _QUOTE)
            quotes = quotes[position + quotes >= self.start]
            misplaced = self._misplaced(data, quotes, position, at_eof)
            if misplaced is not None:
                return self.result(misplaced)
            # A line break is outside quoted values when an even number of quotes precede it.
            before = np.searchsorted(quotes, row_breaks)
            row_breaks = row_breaks[(before + self.quoted) % 2 == 0]
            self.quotes += int(np.count_nonzero(position + quotes < self.end))
            self.quoted = (self.quoted + quotes.size) % 2 == 1
        self.previous = int(data[size - 1]) if size else self.previous
        if self.line_start is None:
            if row_breaks.size == 0:
                return self.result() if position + size >= self.end else None
            self.line_start = self.first = position + int(row_breaks[0]) + 1
            if self.first >= self.end:
                self.first = None
                return self.result()
        content = ~(is_break | _any_of(block, self.blanks))
        if position < self.value_start:
            content[: self.value_start - position] = False  # the byte order mark
        filled = np.zeros(size + 1, dtype=np.int32)  # content bytes before each position
        np.cumsum(content, dtype=np.int32, out=filled[1:])
        local = max(self.line_start - position, 0)  # where the current row starts in this block
        ends = row_breaks[row_breaks >= local]  # the breaks that end this block's rows, in order
        begins = np.concatenate(([local], ends[:-1] + 1))
        filled_rows = (filled[ends] - filled[begins]) > 0
        if filled_rows.size:
            filled_rows[0] |= self.has_content
        # The row after a break at end - 1 or later is the next range's.
        stop = np.flatnonzero(position + ends + 1 >= self.end)
        if stop.size:
            self.lines += int(filled_rows[: int(stop[0]) + 1].sum())
            return self.result()
        self.lines += int(filled_rows.sum())
        if ends.size:
            self.line_start, self.has_content = position + int(ends[-1]) + 1, False
            local = int(ends[-1]) + 1
        self.has_content = self.has_content or bool(filled[size] - filled[local] > 0)
        # The current row started before `end`: once it holds more than blanks, it counts.
        if self.has_content and position + size >= self.end:
            self.lines += 1
            return self.result()
        if at_eof:
            self.lines += int(self.has_content)
            return self.result()
        return None

    def _misplaced(self, data: Any, quotes: Any, position: int, at_eof: bool) -> int | None:
        if quotes.size == 0:
            return None
        opening = (np.arange(quotes.size) + self.quoted) % 2 == 0
        before = np.where(quotes > 0, data[np.maximum(quotes - 1, 0)], self.previous)
        # The byte after each quote (data holds it but at the end of the file).
        last = quotes + 1 >= data.size
        after = data[np.minimum(quotes + 1, data.size - 1)]
        at_value_start = (position + quotes == self.value_start) | np.isin(before, _AROUND_QUOTES)
        at_value_end = (last & at_eof) | (~last & np.isin(after, _AROUND_QUOTES))
        wrong = np.where(opening, ~at_value_start, ~at_value_end)
        found = np.flatnonzero(wrong)
        return None if found.size == 0 else position + int(quotes[found[0]])


def number_text_splits(
    file: InputFile,
    fmt: FileFormat,
    counts: Iterable[RangeCount],
    header_end: int | None,
) -> tuple[list[Split], str | None]:
    """The splits of a text file and their first row numbers; one whole split (and the reason,
    for the run's record) when a split point cannot be proved to start a row."""
    ordered = sorted(counts, key=lambda c: c.start)
    whole = [Split(file, fmt, 0, 1, "whole")]
    if len(ordered) < 2:
        return whole, None
    if fmt.kind == "csv" and (header_end is None or header_end > ordered[1].start):
        return whole, "scored as one split: its header row is longer than a split"
    # Each range read as it truly begins: outside a quoted value at the file's start, then
    # inside one after a range that leaves a quote open.
    scans: list[tuple[int, Scan]] = []
    quoted = False
    for count in ordered:
        scan = count.scan(quoted=quoted)
        if scan.misplaced is not None:
            return whole, (
                f"scored as one split: the quote at byte {scan.misplaced} neither opens nor "
                "closes a value where RFC 4180 places quotes, so where its rows start cannot be "
                "told from the middle of the file"
            )
        scans.append((count.start, scan))
        quoted = quoted != (scan.quotes % 2 == 1)
    if quoted:
        return whole, "scored as one split: its last quoted value is never closed"
    kept = [scan for _, scan in scans if scan.first_row_start is not None]
    splits: list[Split] = []
    row = 1
    for index, scan in enumerate(kept):
        start = scan.first_row_start or 0
        following = kept[index + 1].first_row_start if index + 1 < len(kept) else None
        end = file.size if following is None else following
        data_rows = scan.lines - (1 if fmt.kind == "csv" and start == 0 else 0)
        splits.append(Split(file, fmt, index, len(kept), "bytes", start, end, row))
        row += max(data_rows, 0)
    return splits, None


def with_header(splits: Sequence[Split], header: bytes) -> list[Split]:
    """CSV splits after the first carry the file's header bytes, read again before their rows."""
    return [
        s if s.start == 0 or s.fmt is None or s.fmt.kind != "csv" else _replace(s, header)
        for s in splits
    ]


def _replace(split: Split, header: bytes) -> Split:
    return replace(split, header=header)
