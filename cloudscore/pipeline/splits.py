"""How a file is cut into splits that workers score apart, with exact row numbers.

    plan_parquet(metadata, split_bytes) -> [Split]      by row group; rows counted by the footer
    text_ranges(file, split_bytes) -> [(start, end)]     nominal byte ranges of a CSV/JSONL file
    count_range(stream, …) -> RangeCount                 the counting pass of one range
    number_text_splits(file, counts, …) -> ([Split], note)  row numbers from the counts

Parquet splits at row-group boundaries, and the footer says how many rows each group holds.
A text file is cut into byte ranges; a split holds the rows that start in its range (a row
starts after a line break: LF for JSONL, LF or CR for CSV). A counting pass reads each range,
finds its first row start and counts its data rows as the reader counts them (blank lines are
not rows; in a CSV the header is not either), and the counts, added up in order, give each
split's first row number.

A CSV line break inside a quoted value (RFC 4180) does not end a row, and where a quoted value
begins cannot be told from the middle of a file. A split point is taken as safe only when the
counting pass proves the file has no quote at all; any quote, and the file is scored as one
split, which the run's record says. gzip files and Parquet inside gzip are one split each (they
cannot be read from the middle).
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
_BLOCK: Final = 8 * 1024 * 1024
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


def text_ranges(size: int, split_bytes: int) -> list[tuple[int, int]]:
    """Nominal byte ranges that cover a file of `size` bytes."""
    count = max(1, -(-size // split_bytes))
    bounds = [min(size, i * split_bytes) for i in range(count)] + [size]
    return list(itertools.pairwise(bounds))


@dataclass(frozen=True)
class RangeCount:
    """What the counting pass found in the range start … end of a text file."""

    start: int
    end: int
    first_row_start: int | None  # the first row start at or after `start`; None: none before end
    lines: int  # lines that are not blank among those starting in first_row_start … end
    has_quote: bool  # a quote in start … end (CSV)


def count_range(stream: BinaryIO, start: int, end: int, fmt: FileFormat) -> RangeCount:
    """Count the lines that start in start … end (reading on to the end of the last of them)."""
    csv = fmt.kind == "csv"
    breaks = np.frombuffer(b"\n\r" if csv else b"\n", dtype=np.uint8)
    blanks = np.frombuffer(_CSV_BLANKS if csv else _JSON_BLANKS, dtype=np.uint8)
    position = max(start - 1, 0)
    stream.seek(position)
    # The first row start: the file's start, or just after the first line break at start - 1 or
    # later (a break at start - 1 means a row starts exactly at `start`).
    line_start: int | None = 0 if start == 0 else None
    first = line_start
    lines, has_quote, has_content = 0, False, False
    while True:
        block = stream.read(_BLOCK)
        if not block:  # the end of the file ends the last line
            if line_start is not None and line_start < end and has_content:
                lines += 1
            return RangeCount(start, end, first, lines, has_quote)
        data = np.frombuffer(block, dtype=np.uint8)
        quoted_from, quoted_to = max(start - position, 0), max(end - position, 0)
        if csv and quoted_to > quoted_from and block.find(b'"', quoted_from, quoted_to) >= 0:
            has_quote = True
        found = np.flatnonzero(np.isin(data, breaks))
        if line_start is None:
            if found.size == 0:
                position += len(block)
                continue
            line_start = first = position + int(found[0]) + 1
            if first >= end:
                return RangeCount(start, end, None, 0, has_quote)
        content = ~np.isin(data, blanks) & ~np.isin(data, breaks)
        if position == 0 and block.startswith(BOM):
            content[: len(BOM)] = False  # the readers drop it
        filled = np.concatenate(([0], np.cumsum(content)))
        local = line_start - position  # where the current line starts in this block (< 0: before)
        ends = found[found >= local]  # the breaks that end this block's lines, in order
        begins = np.concatenate(([max(local, 0)], ends[:-1] + 1))
        filled_lines = (filled[ends] - filled[begins]) > 0
        if filled_lines.size:
            filled_lines[0] |= has_content
        # The first line that starts at or after `end` is the next range's.
        stop = np.flatnonzero(position + ends + 1 >= end)
        if stop.size:
            lines += int(filled_lines[: int(stop[0]) + 1].sum())
            return RangeCount(start, end, first, lines, has_quote)
        lines += int(filled_lines.sum())
        if ends.size:
            line_start, local, has_content = position + int(ends[-1]) + 1, int(ends[-1]) + 1, False
        has_content = has_content or bool(filled[-1] - filled[max(local, 0)] > 0)
        position += len(block)


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
    if fmt.kind == "csv":
        if any(c.has_quote for c in ordered):
            return whole, (
                "scored as one split: the CSV file holds quotes, and a line break inside a "
                "quoted value would make a split point start in the middle of a row"
            )
        if header_end is None or header_end > ordered[1].start:
            return whole, "scored as one split: its header row is longer than a split"
    kept = [c for c in ordered if c.first_row_start is not None]
    splits: list[Split] = []
    row = 1
    for index, count in enumerate(kept):
        start = count.first_row_start or 0
        following = kept[index + 1].first_row_start if index + 1 < len(kept) else None
        end = file.size if following is None else following
        data_rows = count.lines - (1 if fmt.kind == "csv" and start == 0 else 0)
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
