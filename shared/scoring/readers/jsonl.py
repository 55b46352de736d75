"""JSONL: one JSON object per line, its values keeping their JSON types."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pandas as pd

from shared.json_values import (
    MAX_DEPTH,
    RepeatedKey,
    decode_error_text,
    lone_surrogate,
    may_hold_surrogates,
    path_text,
    read_record_json,
    too_deep,
)
from shared.scoring.readers.framing import (
    BOM,
    ENCODING,
    MALFORMED_LINE,
    MAX_RAW_CHARS,
    BadRow,
    Chunk,
    Part,
    Source,
)


def jsonl_chunks(source: Source, chunk_rows: int, part: Part) -> Iterator[Chunk]:
    records: list[dict[str, object]] = []
    bad: list[BadRow] = []
    first_row_number = row_number = part.first_row_number
    header: tuple[str, ...] | None = None
    for line_number, raw in enumerate(source, start=1):
        # A UTF-8 byte order mark, as some editors write, is not part of the first value.
        line = raw.removeprefix(BOM) if line_number == 1 and part.at_file_start else raw
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
        value = read_record_json(text)
        deep = too_deep(value, line.count(b"[") + line.count(b"{"))
    except RepeatedKey as exc:
        reason = f"expected each key once in a JSON object, {exc}"
        return _bad_line(row_number, MALFORMED_LINE, reason, text)
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
