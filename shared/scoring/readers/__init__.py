"""Read an input file as a stream of chunks: CSV, Parquet or JSONL, each optionally gzip.

    detect_format(name, content_type, head) -> FileFormat    or DataError: quarantine the file
    iter_chunks(stream, fmt, chunk_rows, name) -> Chunk …      never the whole file at once

One module per format (`csv`, `jsonl`, `parquet`) and what they share (`framing`: the format,
the chunks and their bad rows, the watched stream).

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
from collections.abc import Generator
from typing import BinaryIO

from shared.errors import DataError
from shared.scoring.readers.csv import csv_chunks
from shared.scoring.readers.framing import (
    DEFAULT_CHUNK_ROWS,
    ENCODING,
    GZIP_MAGIC,
    MALFORMED_LINE,
    MAX_RAW_CHARS,
    PARQUET_MAGIC,
    READ_BYTES,
    UNREADABLE,
    WHOLE_FILE,
    BadRow,
    Chunk,
    FileFormat,
    Part,
    Source,
    Watched,
    detect_format,
    header_of,
)
from shared.scoring.readers.jsonl import jsonl_chunks
from shared.scoring.readers.parquet import parquet_chunks

__all__ = [
    "DEFAULT_CHUNK_ROWS", "ENCODING", "GZIP_MAGIC", "MALFORMED_LINE", "MAX_RAW_CHARS",
    "PARQUET_MAGIC", "WHOLE_FILE", "BadRow", "Chunk", "FileFormat", "Part", "detect_format",
    "header_of", "iter_chunks",
]  # fmt: skip


def iter_chunks(
    stream: BinaryIO,
    fmt: FileFormat,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    name: str = "<file>",
    part: Part = WHOLE_FILE,
) -> Generator[Chunk, None, None]:
    """The file's rows, `chunk_rows` at most at a time; see the module docstring.

    `part` reads one part of a file the same way (cloudscore's pipeline splits files): the row
    groups of a Parquet file, or a CSV or JSONL stream that holds the rows from
    `part.first_row_number` on (a CSV part after the file's first starts with the file's
    header bytes).

    Close the generator (or exhaust it) before closing `stream`: until then it may read from
    `stream` (CSV is read ahead by a thread of its own, which closing stops).

    An empty file gives no chunk; a file with a header (or Parquet schema) and no rows gives one
    empty chunk that carries the header.
    """
    if chunk_rows < 1:
        raise DataError(f"chunk_rows must be at least 1, got {chunk_rows}")
    watched = Watched(stream)
    if fmt.kind == "parquet":
        yield from parquet_chunks(watched, fmt, chunk_rows, name, part)
        return
    buffered = io.BufferedReader(watched, READ_BYTES)
    source: Source = gzip.GzipFile(fileobj=buffered, mode="rb") if fmt.compressed else buffered
    try:
        if fmt.kind == "csv":
            yield from csv_chunks(source, chunk_rows, name, part.first_row_number)
        else:
            yield from jsonl_chunks(source, chunk_rows, part)
    except UNREADABLE as exc:
        watched.raise_own_failure()
        # A truncated or corrupt gzip stream: the file is bad, not the connection.
        raise DataError(f"{name}: cannot be decompressed as gzip: {exc}") from exc
