"""Reading files in chunks: formats, gzip, row numbers, bad bytes and lines, bounded memory."""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import threading
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

from cloudscore import demo_data as dd
from shared.contract import DataContract, infer_contract, validate
from shared.errors import DataError
from shared.json_values import MAX_DEPTH
from shared.project_config import ProjectConfig
from shared.scoring import readers
from shared.scoring.readers import (
    ENCODING,
    MALFORMED_LINE,
    Chunk,
    FileFormat,
    detect_format,
    header_of,
    iter_chunks,
)
from shared.scoring.readers import csv as csv_reader

ROWS = 60
CONFIG = ProjectConfig(
    model_name="loan-default",
    target=dd.LABEL_COLUMN,
    id_column=dd.ID_COLUMN,
    time_column=dd.TIME_COLUMN,
)
NAMES = ("d.csv", "d.csv.gz", "d.jsonl", "d.ndjson.gz", "d.parquet", "d.parquet.gz")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return next(dd.iter_demo_frames(ROWS, seed=3, chunk_rows=ROWS))


@pytest.fixture(scope="module")
def contract(frame: pd.DataFrame) -> DataContract:
    return infer_contract(frame, CONFIG)


def encoded(frame: pd.DataFrame, name: str) -> bytes:
    """`frame` as the bytes of a file called `name`."""
    buffer = io.BytesIO()
    base = name.removesuffix(".gz")
    if base.endswith(".parquet"):
        frame.to_parquet(buffer, index=False)
    elif base.endswith(".csv"):
        buffer.write(frame.to_csv(index=False).encode())
    else:
        buffer.write(frame.to_json(orient="records", lines=True).encode())
    data = buffer.getvalue()
    return gzip.compress(data, mtime=0) if name.endswith(".gz") else data


def read(data: bytes, name: str, chunk_rows: int = 10_000) -> list[Chunk]:
    fmt = detect_format(name, None, data[:8])
    return list(iter_chunks(io.BytesIO(data), fmt, chunk_rows, name))


def plain(frame: pd.DataFrame) -> dict[str, list[object]]:
    """The values by column, every missing one as None."""
    return frame.astype(object).where(frame.notna(), None).to_dict("list")  # type: ignore[return-value]


def checked(chunks: list[Chunk], contract: DataContract) -> pd.DataFrame:
    """The chunks validated and joined: features read as their kinds, whatever the format."""
    parts = [validate(c.frame, contract, c.first_row_number).valid for c in chunks]
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize(
    ("name", "content_type", "head", "expected"),
    [
        ("a.csv", None, b"id,x\n", FileFormat("csv")),
        ("a.CSV.GZ", None, b"\x1f\x8b\x08\x00", FileFormat("csv", compressed=True)),
        ("a.jsonl", None, b'{"a":', FileFormat("jsonl")),
        ("a.ndjson", None, b'{"a":', FileFormat("jsonl")),
        ("a.parquet", None, b"PAR1", FileFormat("parquet")),
        ("upload.bin", None, b"PAR1\x15\x04", FileFormat("parquet")),
        ("upload", "text/csv; charset=utf-8", b"id,x\n", FileFormat("csv")),
        ("upload", "application/x-ndjson", b"{", FileFormat("jsonl")),
        ("a.jsonl", "application/gzip", b"\x1f\x8b\x08", FileFormat("jsonl", compressed=True)),
        # Cloud Storage may serve a .gz object already decompressed: the bytes decide.
        ("a.csv.gz", "application/gzip", b"id,x\n", FileFormat("csv")),
        ("empty.csv.gz", None, b"", FileFormat("csv", compressed=True)),
    ],
)
def test_formats_are_told_by_name_content_type_and_magic(
    name: str, content_type: str | None, head: bytes, expected: FileFormat
) -> None:
    assert detect_format(name, content_type, head) == expected


def test_gzip_parquet_is_told_by_the_magic_inside(frame: pd.DataFrame) -> None:
    data = encoded(frame, "x.parquet.gz")
    assert detect_format("blob", "application/gzip", data[:512]) == FileFormat("parquet", True)


def test_an_unknown_format_names_the_file_and_what_was_found() -> None:
    with pytest.raises(DataError, match=r"report\.xlsx: not a CSV, Parquet or JSONL file"):
        detect_format("report.xlsx", "application/vnd.ms-excel", b"PK\x03\x04")


@pytest.mark.parametrize("name", NAMES)
def test_every_format_gives_the_same_rows_and_row_numbers(
    name: str, frame: pd.DataFrame, contract: DataContract
) -> None:
    reference = checked(read(encoded(frame, "d.csv"), "d.csv"), contract)
    chunks = read(encoded(frame, name), name, chunk_rows=7)
    assert [c.first_row_number for c in chunks] == list(range(1, ROWS + 1, 7))
    assert all(len(c.frame) <= 7 for c in chunks)
    assert chunks[0].header == tuple(frame.columns)
    result = checked(chunks, contract)
    assert result["row_number"].tolist() == list(range(1, ROWS + 1))
    features = list(contract.feature_names())
    pd.testing.assert_frame_equal(result[features], reference[features])
    ids = result[dd.ID_COLUMN].astype(str).tolist()
    assert ids == frame[dd.ID_COLUMN].astype(str).tolist()


@pytest.mark.parametrize("name", ["d.csv", "d.jsonl", "d.parquet"])
def test_chunk_size_does_not_change_the_rows(name: str, frame: pd.DataFrame) -> None:
    data = encoded(frame, name)
    small, whole = read(data, name, chunk_rows=7), read(data, name, chunk_rows=10_000)
    assert len(small) == 9 and len(whole) == 1
    joined = pd.concat([c.frame for c in small], ignore_index=True)
    # JSON has no column types: a chunk whose values are all null holds objects, not floats.
    assert plain(joined) == plain(whole[0].frame)


def test_csv_is_text_and_keeps_quoted_newlines_commas_and_quotes() -> None:
    data = b'id,note,amount\n007,"two\nlines",1e3\n008,"a, ""quoted"" word",n/a\n009,,\n'
    (chunk,) = read(data, "notes.csv")
    assert plain(chunk.frame) == {
        "id": ["007", "008", "009"],
        "note": ["two\nlines", 'a, "quoted" word', None],
        # Read as text: "n/a" stays for the contract to report, not a silent missing value.
        "amount": ["1e3", "n/a", None],
    }
    assert chunk.row_numbers().tolist() == [1, 2, 3]


def test_a_byte_order_mark_is_not_part_of_the_first_column() -> None:
    (chunk,) = read(b"\xef\xbb\xbfid,x\n1,2\n", "bom.csv")
    assert chunk.header == ("id", "x")


@pytest.mark.parametrize("name", ["e.csv", "e.csv.gz", "e.jsonl", "e.jsonl.gz", "e.parquet"])
def test_an_empty_file_gives_no_chunk(name: str) -> None:
    data = gzip.compress(b"") if name.endswith(".gz") else b""
    fmt = detect_format(name, None, data[:8])
    chunks = iter_chunks(io.BytesIO(data), fmt, 10, name)
    header, rest = header_of(chunks)
    assert header == ()
    assert list(rest) == []


@pytest.mark.parametrize("name", ["h.csv", "h.csv.gz", "h.parquet"])
def test_a_header_only_file_gives_one_empty_chunk_with_the_header(
    name: str, frame: pd.DataFrame
) -> None:
    chunks = read(encoded(frame.head(0), name), name)
    assert len(chunks) == 1
    assert chunks[0].header == tuple(frame.columns)
    assert chunks[0].rows_in == 0


def test_header_of_gives_back_every_chunk(frame: pd.DataFrame) -> None:
    data = encoded(frame, "d.csv")
    header, chunks = header_of(iter_chunks(io.BytesIO(data), FileFormat("csv"), 25))
    assert header == tuple(frame.columns)
    assert [c.first_row_number for c in chunks] == [1, 26, 51]


def test_non_utf8_values_reject_their_rows_and_the_rest_is_read() -> None:
    data = b"id,city,note\n1,Paris,ok\n2,S\xe3o Paulo,bad \xff\n3,Z\xc3\xbcrich,ok\n"
    chunks = read(data, "cities.csv", chunk_rows=2)
    assert [c.rows_in for c in chunks] == [2, 1]
    first = chunks[0]
    assert first.frame["id"].tolist() == ["1"]
    assert first.row_numbers().tolist() == [1]
    assert [(b.row_number, b.column_name, b.reason_code) for b in first.bad_rows] == [
        (2, "city", ENCODING),
        (2, "note", ENCODING),
    ]
    assert first.bad_rows[0].raw_value == "S\\xe3o Paulo"
    assert chunks[1].frame["city"].tolist() == ["Zürich"]  # valid UTF-8 is untouched
    assert chunks[1].row_numbers().tolist() == [3]


@pytest.mark.parametrize("name", ["names.csv", "names.csv.gz"])
def test_column_names_that_are_not_utf8_are_spelled_with_escapes(name: str) -> None:
    # Blank lines before the header, and a quoted name holding a line break and a quote.
    data = b'\n  \n"r\xe9gion","a\xe9\n""b""",x\r\n1,S\xe3o,2\r\n3,4,5\r\n'
    (chunk,) = read(gzip.compress(data, mtime=0) if name.endswith(".gz") else data, name)
    assert chunk.header == ("r\\xe9gion", 'a\\xe9\n"b"', "x")
    # Only the header is escaped: a bad value in the first data row is still rejected.
    assert [(b.row_number, b.column_name, b.raw_value) for b in chunk.bad_rows] == [
        (1, 'a\\xe9\n"b"', "S\\xe3o")
    ]
    assert plain(chunk.frame) == {"r\\xe9gion": ["3"], 'a\\xe9\n"b"': ["4"], "x": ["5"]}


def test_a_header_longer_than_one_read_is_escaped_whole() -> None:
    long_name = b"c" * 300_000 + b"\xe9"
    (chunk,) = read(b"id," + long_name + b"\n1,2\n", "long.csv")
    assert chunk.header == ("id", "c" * 300_000 + "\\xe9")
    assert chunk.frame["id"].tolist() == ["1"]


def test_malformed_jsonl_lines_become_bad_rows_with_their_row_numbers() -> None:
    lines = [
        b'{"id": "a", "n": 1, "x": 2.5, "ok": true}',
        b"{not json",
        b"",  # blank: not a row
        b"[1, 2]",
        b'{"id": "b\xff"}',
        b'{"id": "c", "n": null}',
    ]
    chunks = read(b"\n".join(lines) + b"\n", "lines.jsonl", chunk_rows=3)
    assert [c.rows_in for c in chunks] == [3, 2]
    bad = [b for c in chunks for b in c.bad_rows]
    assert [(b.row_number, b.reason_code, b.column_name) for b in bad] == [
        (2, MALFORMED_LINE, None),
        (3, MALFORMED_LINE, None),
        (4, ENCODING, None),
    ]
    assert bad[0].raw_value == "{not json"
    assert "found a JSON list" in bad[1].reason
    assert chunks[0].row_numbers().tolist() == [1]
    assert chunks[1].row_numbers().tolist() == [5]
    first = chunks[0].frame.iloc[0].to_dict()
    # Values keep their JSON types, so the contract sees numbers as numbers.
    assert first == {"id": "a", "n": 1, "x": 2.5, "ok": True}
    assert chunks[1].header == ("id", "n", "x", "ok")  # the first chunk's header throughout


def test_jsonl_lines_nested_too_deep_become_bad_rows_however_deep() -> None:
    def nested(depth: int) -> bytes:
        return b"[" * depth + b"]" * depth

    lines = [
        b'{"id": "a", "tags": ' + nested(MAX_DEPTH - 1) + b"}",  # the record is a level
        b'{"id": "b", "tags": ' + nested(MAX_DEPTH) + b"}",
        b'{"id": "c", "tags": ' + nested(100_000) + b"}",  # deeper than `json` reads
        b'{"id": "d"}',
    ]
    (chunk,) = read(b"\n".join(lines) + b"\n", "deep.jsonl")

    assert chunk.frame["id"].tolist() == ["a", "d"]
    assert [(b.row_number, b.reason_code, b.reason) for b in chunk.bad_rows] == [
        (
            2,
            MALFORMED_LINE,
            f"expected JSON nested at most {MAX_DEPTH} deep, found deeper at tags[0][0][0]…",
        ),
        (3, MALFORMED_LINE, f"expected JSON nested at most {MAX_DEPTH} deep, found deeper"),
    ]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (b"9" * 5000, "a number of more than 4300 digits"),
        # Not JSON, though Python's json reads them: as "nan" in a CSV, never a missing value.
        (b"NaN", "NaN is not a JSON value"),
        (b"-Infinity", "-Infinity is not a JSON value"),
    ],
)
def test_a_jsonl_line_that_only_pythons_json_reads_is_a_bad_row(value: bytes, why: str) -> None:
    (chunk,) = read(b'{"id": "a", "n": ' + value + b'}\n{"id": "b"}\n', "odd.jsonl")

    assert chunk.frame["id"].tolist() == ["b"]
    [bad] = chunk.bad_rows
    assert (bad.row_number, bad.reason_code) == (1, MALFORMED_LINE)
    assert why in bad.reason


def test_a_jsonl_line_naming_a_key_twice_is_a_bad_row_saying_which() -> None:
    lines = [
        b'{"id": "a", "x": 1, "x": 2}',
        b'{"id": "b", "x": 3}',
        b'{"id": "c", "t": {"k": 1, "k": 1}}',
    ]
    (chunk,) = read(b"\n".join(lines) + b"\n", "twice.jsonl")

    assert chunk.frame["id"].tolist() == ["b"]
    assert [(bad.row_number, bad.reason_code) for bad in chunk.bad_rows] == [
        (1, MALFORMED_LINE),
        (3, MALFORMED_LINE),
    ]
    assert chunk.bad_rows[0].reason == 'expected each key once in a JSON object, found "x" twice'
    assert chunk.bad_rows[1].reason == (
        'expected each key once in a JSON object, found "k" twice at t'
    )


def test_jsonl_text_with_half_a_surrogate_pair_is_a_bad_row_saying_where() -> None:
    lines = [b'{"id": "a", "tags": ["x", "\\ud800"]}', b'{"id": "\\ud83d\\ude00"}']
    (chunk,) = read(b"\n".join(lines) + b"\n", "halves.jsonl")

    assert chunk.frame["id"].tolist() == ["\U0001f600"]
    [bad] = chunk.bad_rows
    assert (bad.row_number, bad.reason_code) == (1, ENCODING)
    assert (
        bad.reason == "expected Unicode text at tags[1], found half of a surrogate pair (\\ud800)"
    )


def test_a_corrupt_gzip_stream_is_a_data_error_naming_the_file(frame: pd.DataFrame) -> None:
    data = encoded(frame, "d.csv.gz")[:-40]
    with pytest.raises(DataError, match=r"cut\.csv\.gz: cannot be decompressed as gzip"):
        read(data, "cut.csv.gz")


def test_a_gzip_that_expands_1000_times_is_read_in_bounded_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # CSV is parsed a block at a time: blocks far smaller than the file show that no more than
    # a few are held. (pyarrow's own memory is not traced here; its parsed rows go in chunks.)
    monkeypatch.setattr(csv_reader, "_BLOCK_BYTES", 64 * 1024)
    line = b"1234567,0.5,alpha,beta,gamma\n"
    rows = 200_000
    plain_size = len(line) * rows
    data = gzip.compress(b"id,x,a,b,c\n" + line * rows)
    assert plain_size / len(data) > 200  # deflate's limit is ~1000x; this data is near it
    tracemalloc.start()
    try:
        count = biggest = 0
        for chunk in iter_chunks(io.BytesIO(data), FileFormat("csv", True), 2_000, "bomb.csv.gz"):
            count += chunk.rows_in
            biggest = max(biggest, len(chunk.frame))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == rows
    assert biggest == 2_000
    # A chunk of 2,000 rows is ~0.6 MB of Python strings; the whole file would be ~5.8 MB of
    # bytes and ~60 MB as a frame.
    assert peak < plain_size / 3


def test_parquet_from_a_stream_that_cannot_seek_is_read(frame: pd.DataFrame) -> None:
    class OneWay(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            chunk = self.inner.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    stream = io.BufferedReader(OneWay(encoded(frame, "d.parquet")))
    chunks = list(iter_chunks(stream, FileFormat("parquet"), 25, "pipe.parquet"))
    assert [len(c.frame) for c in chunks] == [25, 25, 10]


def test_jsonl_written_by_hand_keeps_unicode(tmp_path: Path) -> None:
    path = tmp_path / "u.jsonl"
    path.write_text(json.dumps({"id": "Zoë"}, ensure_ascii=False) + "\n", encoding="utf-8")
    with path.open("rb") as stream:
        (chunk,) = iter_chunks(stream, FileFormat("jsonl"))
    assert chunk.frame["id"].tolist() == ["Zoë"]


class Dropping(io.RawIOBase):
    """A stream whose connection drops after `good` bytes, as a storage download can."""

    def __init__(self, data: bytes, good: int) -> None:
        self.inner = io.BytesIO(data)
        self.good = good

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.inner.seek(offset, whence)

    def tell(self) -> int:
        return self.inner.tell()

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.inner.tell() >= self.good:
            raise ConnectionResetError("connection reset by peer")
        chunk = self.inner.read(min(len(buffer), self.good - self.inner.tell()))
        buffer[: len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize("name", NAMES)
def test_a_dropped_connection_is_raised_as_itself_not_as_a_bad_file(
    frame: pd.DataFrame, name: str
) -> None:
    data = encoded(pd.concat([frame] * 50, ignore_index=True), name)
    stream = io.BufferedReader(Dropping(data, len(data) // 2), 4096)
    fmt = detect_format(name, None, data[:512])

    with pytest.raises(ConnectionResetError):
        list(iter_chunks(stream, fmt, 25, name))


# --- CSV read in blocks of whole rows ----------------------------------------------------------


def values_of(chunks: list[Chunk]) -> list[list[object]]:
    """The rows of every chunk's frame, each value as text or None."""
    return [
        [None if pd.isna(v) else v for v in row]
        for c in chunks
        for row in c.frame.astype(object).to_numpy().tolist()
    ]


def bad_of(chunks: list[Chunk]) -> list[tuple[int, str, str | None, str | None]]:
    return [
        (b.row_number, b.reason_code, b.column_name, b.raw_value)
        for c in chunks
        for b in c.bad_rows
    ]


def outcome(data: bytes, chunk_rows: int) -> object:
    """Everything a reader of `data` sees, the error included: equal for equal readings."""
    seen: list[object] = []
    try:
        for c in iter_chunks(io.BytesIO(data), FileFormat("csv"), chunk_rows, "f.csv"):
            seen.append((c.first_row_number, c.header, c.rows_in, c.row_numbers().tolist()))
            seen.append((values_of([c]), bad_of([c])))
    except DataError as exc:
        seen.append(str(exc))
    return seen


def blocks(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    monkeypatch.setattr(csv_reader, "_BLOCK_BYTES", size)


@pytest.mark.parametrize("block", [16, 100, 1000, 1 << 20])
def test_chunks_have_exactly_chunk_rows_rows_whatever_blocks_pyarrow_is_given(
    monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    # Rows of different lengths, so the blocks' ends fall anywhere in a row.
    rows = [[str(i), "x" * (i % 13), f"{i * 0.5}"] for i in range(100)]
    data = b"id,text,n\n" + "".join(",".join(r) + "\n" for r in rows).encode()
    blocks(monkeypatch, block)
    chunks = read(data, "rows.csv", chunk_rows=7)
    assert [c.first_row_number for c in chunks] == list(range(1, 101, 7))
    assert [len(c.frame) for c in chunks] == [7] * 14 + [2]
    assert values_of(chunks) == [[r[0], r[1] or None, r[2]] for r in rows]


def test_a_quoted_line_break_straddling_a_block_boundary_stays_in_its_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = (
        b'id,note,n\r\n1,"two\nlines",5\r\n2,"a ""quoted"", word\r\nand more",6\r\n'
        b'3,"",7\r\n4,"\r\n",8\r\n5,plain,9\r\n'
    )
    expected = [
        ["1", "two\nlines", "5"],
        ["2", 'a "quoted", word\r\nand more', "6"],
        ["3", None, "7"],
        ["4", "\r\n", "8"],
        ["5", "plain", "9"],
    ]
    # Every block size up to the whole file: each byte is the last of a block once.
    for block in range(1, len(data) + 2):
        blocks(monkeypatch, block)
        chunks = read(data, "notes.csv", chunk_rows=2)
        assert values_of(chunks) == expected, block
        assert [c.first_row_number for c in chunks] == [1, 3, 5]


def test_a_bad_byte_in_the_last_row_of_a_block_rejects_that_row_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    head = b"id,city\n1,Paris\n2,Lyon\n"
    data = head + b"3,S\xe3o Paulo\n4,Z\xc3\xbcrich\n5,Oslo\n"
    bad_row_end = len(head) + len(b"3,S\xe3o Paulo\n")
    for block in (bad_row_end, bad_row_end - 1, bad_row_end + 1, 5):
        blocks(monkeypatch, block)
        chunks = read(data, "cities.csv", chunk_rows=2)
        assert bad_of(chunks) == [(3, ENCODING, "city", "S\\xe3o Paulo")], block
        assert [c.row_numbers().tolist() for c in chunks] == [[1, 2], [4], [5]]
        assert values_of(chunks) == [["1", "Paris"], ["2", "Lyon"], ["4", "Zürich"], ["5", "Oslo"]]


def test_rows_with_more_values_than_the_header_are_rejected_and_the_rest_read() -> None:
    # pandas took a first row one value too long to mean an index column, shifting every value.
    data = b"id,note\n1,a,extra\n2,b\n3,c,d,e\n4,d\n"
    chunks = read(data, "long.csv", chunk_rows=2)
    assert bad_of(chunks) == [
        (1, MALFORMED_LINE, None, "1,a,extra"),
        (3, MALFORMED_LINE, None, "3,c,d,e"),
    ]
    assert "expected 2 values as in the header, found 4" in chunks[1].bad_rows[0].reason
    assert [c.row_numbers().tolist() for c in chunks] == [[2], [4]]
    assert values_of(chunks) == [["2", "b"], ["4", "d"]]


def test_a_row_with_fewer_values_than_the_header_is_rejected_not_padded() -> None:
    # A row cut short (its last values lost) would otherwise be scored with them missing.
    chunks = read(b"id,a,b\n1,x\n2\n3,y,z\n4,,\n", "short.csv", chunk_rows=2)
    assert bad_of(chunks) == [(1, MALFORMED_LINE, None, "1,x"), (2, MALFORMED_LINE, None, "2")]
    assert "expected 3 values as in the header, found 2" in chunks[0].bad_rows[0].reason
    assert "expected 3 values as in the header, found 1" in chunks[0].bad_rows[1].reason
    assert [c.row_numbers().tolist() for c in chunks] == [[], [3, 4]]
    assert values_of(chunks) == [["3", "y", "z"], ["4", None, None]]


@pytest.mark.parametrize("width", [1, 3])
def test_blank_lines_are_not_rows_and_every_line_end_ends_one(width: int) -> None:
    row = ",".join(["v"] * width).encode()
    header = b",".join(f"h{i}".encode() for i in range(width))
    data = b"\n \t\n" + header + b"\r\n" + row + b"\r\n\r\n  \r" + row + b"\r\t\n"
    (chunk,) = read(data, "blank.csv")
    assert chunk.header == tuple(f"h{i}" for i in range(width))
    assert values_of([chunk]) == [["v"] * width] * 2
    assert chunk.row_numbers().tolist() == [1, 2]


def test_quotes_that_do_not_open_a_value_are_text() -> None:
    # One inch mark in the whole file: a reader counting quotes would find one never closed.
    data = b'name,height,note\nAda,5\'11",ok\nBob,6,"x"y\n'
    (chunk,) = read(data, "heights.csv")
    assert values_of([chunk]) == [["Ada", "5'11\"", "ok"], ["Bob", "6", "xy"]]


def test_values_stay_as_written_and_only_empty_ones_are_missing() -> None:
    (chunk,) = read(b'a,b,c,d,e\nn/a,NA,null,nan, 42 \n,"",NULL,None,"  "\n', "text.csv")
    assert values_of([chunk]) == [
        ["n/a", "NA", "null", "nan", " 42 "],
        [None, None, "NULL", "None", "  "],
    ]
    # pandas' text dtype over Arrow strings: the contract reads the parsed buffers as they are.
    assert all(isinstance(t, pd.StringDtype) and t.storage == "pyarrow" for t in chunk.frame.dtypes)


def test_empty_column_names_are_named_as_pandas_does() -> None:
    (chunk,) = read(b"a,,a.1,\n1,2,3,4\n", "names.csv")
    assert chunk.header == ("a", "Unnamed: 1", "a.1", "Unnamed: 3")
    assert list(chunk.frame.columns) == list(chunk.header)


@pytest.mark.parametrize("header", [b"id,a,b,a", b'id,"a",b,a', b"a,a"])
def test_a_header_naming_a_column_twice_rejects_the_file_whole_naming_it(header: bytes) -> None:
    # Which of the two values is the column's cannot be told; BigQuery's loads refuse it too.
    with pytest.raises(DataError, match="the header names the column 'a' twice"):
        read(header + b"\n1,2,3,4\n", "twice.csv")


def test_a_quote_never_closed_is_a_data_error_after_the_last_whole_row() -> None:
    lines = [b"id,x"] + [f"{i},{i}".encode() for i in range(1, 8)]
    lines[6] = b'"' + lines[6]  # data row 6
    stream = iter_chunks(io.BytesIO(b"\n".join(lines) + b"\n"), FileFormat("csv"), 2, "q.csv")
    got = [next(stream).row_numbers().tolist() for _ in range(2)]
    with pytest.raises(
        DataError, match=r"q\.csv: not a well-formed CSV after data row 5: .*never closed"
    ):
        next(stream)
    # Row 5 was read, but no chunk is yielded part way: what a failed file loaded stays whole
    # chunks, and a file bad within its first chunk loads nothing (it is quarantined whole).
    assert got == [[1, 2], [3, 4]]


def test_a_failed_read_leaves_no_thread_reading_the_stream() -> None:
    data = b"id,x\n" + b"1,2\n" * 50_000 + b'3,"never closed\n'
    chunks = iter_chunks(io.BytesIO(data), FileFormat("csv"), 1000, "q.csv")
    with pytest.raises(DataError, match="after data row 50000"):
        for _ in chunks:
            pass
    assert not [t for t in threading.enumerate() if t.name == "csv-read-ahead"]


def test_a_header_with_a_quote_never_closed_is_a_data_error_in_the_first_rows() -> None:
    with pytest.raises(DataError, match="not a well-formed CSV in its first rows"):
        read(b'id,"x\n1,2\n', "h.csv")


def test_a_row_longer_than_the_limit_is_a_data_error_not_held(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blocks(monkeypatch, 64)
    monkeypatch.setattr(csv_reader, "_MAX_ROW_BYTES", 1000)
    data = b'id,x\n1,2\n3,"' + b"y" * 5000 + b'"\n'
    with pytest.raises(DataError, match="after data row 1: the next row is longer than"):
        read(data, "huge.csv")


def test_closing_the_chunks_early_stops_the_read_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    blocks(monkeypatch, 1024)
    data = b"id,x\n" + b"1,2\n" * 1_000_000
    stream = io.BytesIO(data)
    chunks = iter_chunks(stream, FileFormat("csv"), 10, "big.csv")
    assert next(chunks).rows_in == 10
    chunks.close()
    where = stream.tell()
    assert where <= 2 * readers.READ_BYTES  # a few blocks and a buffer ahead, not the file
    assert not [t for t in threading.enumerate() if t.name == "csv-read-ahead"]
    assert stream.tell() == where


def test_any_block_size_reads_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    # Bytes of every kind a CSV may hold, well formed or not: cutting them into blocks at any
    # place never changes a value, a row number, a bad row or an error.
    rng = random.Random(7)
    alphabet = [b"a", b"1", b",", b'"', b"\n", b"\r", b"\r\n", b" ", b"\t", b"\xff", b"\xc3\xa9"]
    for _ in range(80):
        data = b"h1,h2,h3\n" + b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        blocks(monkeypatch, 1 << 20)
        whole = outcome(data, chunk_rows=3)
        for block in (1, 3, 11):
            blocks(monkeypatch, block)
            assert outcome(data, chunk_rows=3) == whole, (data, block)


def test_well_formed_csv_reads_as_pandas_reads_it_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(11)
    values = ["", " ", "a", "n/a", "NA", "nan", " x ", 'q"uote', "com,ma", "new\nline", "cr\r\nlf",
              "é", '""', "5'11\""]  # fmt: skip
    for trial in range(60):
        width = rng.randint(2, 4)
        rows = [[rng.choice(values) for _ in range(width)] for _ in range(rng.randint(0, 12))]
        text = io.StringIO()
        writer = csv.writer(
            text,
            quoting=csv.QUOTE_ALL if trial % 2 else csv.QUOTE_MINIMAL,
            lineterminator="\r\n" if trial % 3 else "\n",
        )
        writer.writerows([[f"c{i}" for i in range(width)], *rows])
        data = text.getvalue().encode()
        expected = pd.read_csv(
            io.BytesIO(data), dtype=object, keep_default_na=False, na_values=[""]
        )
        for block in (7, 1 << 20):
            blocks(monkeypatch, block)
            chunks = read(data, "w.csv", chunk_rows=5)
            assert chunks[0].header == tuple(expected.columns)
            assert values_of(chunks) == [
                [None if pd.isna(v) else v for v in row] for row in expected.to_numpy().tolist()
            ], data
