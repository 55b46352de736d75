"""Hostile inputs and traffic for the batch scorer, through the whole local cloud.

Each test drops files in the inbox as a user would, waits for their `scoring_runs` rows and then
checks the row accounting exactly: rows_in = rows_scored + rows_rejected, every data row once in
`predictions` or (by row number) in `rejected_rows`, one run row per object generation, and the
file moved out of `incoming/` to where its outcome says. The expected numbers come from the data
the test itself writes, never from what the system reports.
"""

from __future__ import annotations

import gzip
import io
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pytest

from cloudscore.demo_data import FEATURE_COLUMNS, ID_COLUMN, iter_demo_frames, write_demo_data
from local_emulator.settings import StackSettings
from shared import clients
from tests.integration.batch_support import counts, drop, run_row
from tests.integration.waiting import wait_for

pytestmark = pytest.mark.stack

# The machine is shared and loaded: a run takes seconds, but waiting is cheap when it is quick.
TIMEOUT_S: Final = 120.0
# The batch function cuts files at 50 000 rows unless configured otherwise: the big file spans
# two full chunks and a short third one, so the accounting across chunk boundaries is checked.
BIG_ROWS: Final = 100_003

Rejection = tuple[int, str | None, str, str | None]


# --- what lands: BigQuery rows and bucket objects --------------------------------------------


def _bq(local_stack: StackSettings) -> Any:
    return clients.bigquery_client(local_stack.project, local_stack.endpoints())


def _bucket(local_stack: StackSettings) -> Any:
    storage = clients.storage_client(local_stack.project, local_stack.endpoints())
    return storage.bucket(local_stack.inbox_bucket)


def _table(local_stack: StackSettings, name: str) -> str:
    return f"`{local_stack.project}.{local_stack.dataset}.{name}`"


def _object_name(uri: str) -> str:
    return uri.split("/", 3)[3]


def _runs_of(local_stack: StackSettings, uris: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Every scoring_runs row of these files, by source URI (a file may have none yet)."""
    listed = ", ".join(f"'{uri}'" for uri in uris)
    sql = f"SELECT * FROM {_table(local_stack, 'scoring_runs')} WHERE source_uri IN ({listed})"
    found: dict[str, list[dict[str, Any]]] = {}
    for row in _bq(local_stack).query(sql).result():
        found.setdefault(row["source_uri"], []).append(dict(row))
    return found


def _wait_for_run(local_stack: StackSettings, uri: str) -> dict[str, Any]:
    run: dict[str, Any] = wait_for(
        lambda: run_row(local_stack, uri), timeout_s=TIMEOUT_S, what=f"the run of {uri}"
    )
    assert "duplicates" not in run, f"{uri} has {run.get('duplicates')} scoring_runs rows"
    return run


def _rejections(local_stack: StackSettings, uri: str) -> list[Rejection]:
    sql = (
        f"SELECT row_number, column_name, reason_code, raw_value "
        f"FROM {_table(local_stack, 'rejected_rows')} WHERE source_uri = '{uri}'"
    )
    rows = _bq(local_stack).query(sql).result()
    return sorted(
        ((int(r["row_number"]), r["column_name"], r["reason_code"], r["raw_value"]) for r in rows),
        key=lambda r: (r[0], r[1] or "", r[2]),
    )


def _record_ids(local_stack: StackSettings, uri: str) -> dict[int, str | None]:
    """record_id by row_number of the file's predictions."""
    sql = (
        f"SELECT row_number, record_id FROM {_table(local_stack, 'predictions')} "
        f"WHERE source_uri = '{uri}'"
    )
    return {int(r["row_number"]): r["record_id"] for r in _bq(local_stack).query(sql).result()}


def _coverage(local_stack: StackSettings, uris: Iterable[str]) -> dict[tuple[str, int], Any]:
    """(distinct row numbers, lowest, highest) over predictions and rejected_rows together,
    by (source URI, generation).

    With counts() saying predictions hold P distinct rows once each and rejected_rows R
    distinct rows, (P + R, 1, P + R) here means each of rows 1..P+R is in exactly one table.
    """
    listed = ", ".join(f"'{uri}'" for uri in uris)
    picked = (
        f"SELECT source_uri, source_generation, row_number FROM {{}} WHERE source_uri IN ({listed})"
    )
    sql = (
        f"SELECT source_uri, source_generation, COUNT(DISTINCT row_number) AS n, "
        f"MIN(row_number) AS lo, MAX(row_number) AS hi FROM ("
        f"{picked.format(_table(local_stack, 'predictions'))} UNION ALL "
        f"{picked.format(_table(local_stack, 'rejected_rows'))}"
        f") GROUP BY source_uri, source_generation"
    )
    return {
        (r["source_uri"], r["source_generation"]): (r["n"], r["lo"], r["hi"])
        for r in _bq(local_stack).query(sql).result()
    }


def _assert_every_row_once(
    local_stack: StackSettings, uri: str, generation: int, rows_in: int, scored: int
) -> None:
    """Rows 1..rows_in each in predictions (scored of them) or rejected_rows, never both."""
    assert counts(local_stack, uri) == (scored, scored, rows_in - scored)
    expected = {(uri, generation): (rows_in, 1, rows_in)} if rows_in else {}
    assert _coverage(local_stack, [uri]) == expected


def _assert_run(
    run: dict[str, Any], *, status: str, rows_in: int, scored: int, rejected: int
) -> None:
    assert rows_in == scored + rejected  # the test's own arithmetic, before the system's
    found = (run["status"], run["rows_in"], run["rows_scored"], run["rows_rejected"])
    assert found == (status, rows_in, scored, rejected), run


def _assert_moved(local_stack: StackSettings, uri: str, generation: int, prefix: str) -> None:
    """The original is gone from incoming/ and its generation is kept under prefix/<gen>/."""
    bucket = _bucket(local_stack)
    name = _object_name(uri)
    # The original is deleted just after the run row is written: give that step its moment.
    wait_for(
        lambda: bucket.get_blob(name) is None, timeout_s=TIMEOUT_S, what=f"{name} to be removed"
    )
    moved = f"{prefix}/{generation}/{name.removeprefix('incoming/')}"
    assert bucket.get_blob(moved) is not None, f"{moved} not found"
    other = "quarantine" if prefix == "processed" else "processed"
    assert bucket.get_blob(f"{other}/{generation}/{name.removeprefix('incoming/')}") is None


def _demo_frame(rows: int, seed: int) -> pd.DataFrame:
    return next(iter_demo_frames(rows, seed=seed, chunk_rows=rows))


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- the tests ---------------------------------------------------------------------------------


def test_twenty_files_dropped_at_once_each_get_one_exact_run(
    local_stack: StackSettings, champion: str, tmp_path: Path
) -> None:
    extensions = (".csv", ".csv.gz", ".parquet", ".jsonl")
    shares = (0.0, 0.05, 0.1, 0.0, 0.08)
    written = [
        write_demo_data(
            tmp_path / f"f{i:02d}{extensions[i % 4]}",
            rows=200 + 15 * i,
            seed=100 + i,
            bad_rows=shares[i % 5],
        )
        for i in range(20)
    ]
    assert sum(d.bad_rows > 0 for d in written) == 12  # and 8 files without a bad row

    with ThreadPoolExecutor(20) as pool:
        dropped = list(pool.map(lambda d: drop(local_stack, d.out), written))
    uris = [uri for uri, _ in dropped]

    runs = wait_for(
        lambda: (found := _runs_of(local_stack, uris)) and len(found) == len(uris) and found,
        timeout_s=TIMEOUT_S,
        what="a run for each of the 20 files",
    )
    assert {uri: len(rows) for uri, rows in runs.items()} == dict.fromkeys(uris, 1)
    for data, (uri, generation) in zip(written, dropped, strict=True):
        (run,) = runs[uri]
        scored = data.rows - data.bad_rows
        status = "partially_rejected" if data.bad_rows else "succeeded"
        assert run["source_generation"] == generation
        assert run["model_version"] == champion
        _assert_run(run, status=status, rows_in=data.rows, scored=scored, rejected=data.bad_rows)
        assert counts(local_stack, uri) == (scored, scored, data.bad_rows), data.out.name
    assert _coverage(local_stack, uris) == {
        (uri, generation): (data.rows, 1, data.rows)
        for data, (uri, generation) in zip(written, dropped, strict=True)
    }
    for uri, generation in dropped:
        _assert_moved(local_stack, uri, generation, "processed")
    # Nothing came twice while the others were being finished.
    assert {uri: len(rows) for uri, rows in _runs_of(local_stack, uris).items()} == dict.fromkeys(
        uris, 1
    )


def test_an_overwritten_object_is_scored_once_per_generation(
    local_stack: StackSettings, champion: str, tmp_path: Path
) -> None:
    first = write_demo_data(tmp_path / "a" / "apps.csv", rows=300, seed=21, bad_rows=0.1)
    second = write_demo_data(tmp_path / "b" / "apps.csv", rows=240, seed=22, bad_rows=0.05)
    assert (first.bad_rows, second.bad_rows) == (30, 12)
    name = f"incoming/{uuid.uuid4().hex[:8]}-apps.csv"
    uri = f"gs://{local_stack.inbox_bucket}/{name}"
    bucket = _bucket(local_stack)

    blob = bucket.blob(name)
    blob.upload_from_filename(str(first.out))
    gen_a = int(blob.generation)
    wait_for(lambda: _runs_of(local_stack, [uri]), timeout_s=TIMEOUT_S, what="the first run")
    # Straight away, whether or not the first generation has been deleted yet: either order
    # must leave the second generation alone until its own run moves it.
    blob = bucket.blob(name)
    blob.upload_from_filename(str(second.out))
    gen_b = int(blob.generation)
    assert gen_b != gen_a

    runs = wait_for(
        lambda: len(found := _runs_of(local_stack, [uri]).get(uri, [])) >= 2 and found,
        timeout_s=TIMEOUT_S,
        what="the run of the second generation",
    )
    assert sorted(r["source_generation"] for r in runs) == sorted([gen_a, gen_b])
    by_generation = {r["source_generation"]: r for r in runs}
    run_a, run_b = by_generation[gen_a], by_generation[gen_b]
    _assert_run(run_a, status="partially_rejected", rows_in=300, scored=270, rejected=30)
    _assert_run(run_b, status="partially_rejected", rows_in=240, scored=228, rejected=12)
    assert run_a["run_id"] != run_b["run_id"]

    sql = (
        f"SELECT source_generation AS g, COUNT(*) AS n, COUNT(DISTINCT row_number) AS d "
        f"FROM {_table(local_stack, 'predictions')} WHERE source_uri = '{uri}' GROUP BY g"
    )
    predicted = {r["g"]: (r["n"], r["d"]) for r in _bq(local_stack).query(sql).result()}
    assert predicted == {gen_a: (270, 270), gen_b: (228, 228)}
    sql = (
        f"SELECT source_generation AS g, COUNT(DISTINCT row_number) AS d "
        f"FROM {_table(local_stack, 'rejected_rows')} WHERE source_uri = '{uri}' GROUP BY g"
    )
    rejected = {r["g"]: r["d"] for r in _bq(local_stack).query(sql).result()}
    assert rejected == {gen_a: 30, gen_b: 12}
    assert _coverage(local_stack, [uri]) == {
        (uri, gen_a): (300, 1, 300),
        (uri, gen_b): (240, 1, 240),
    }

    wait_for(lambda: bucket.get_blob(name) is None, timeout_s=TIMEOUT_S, what="the original gone")
    short = name.removeprefix("incoming/")
    for generation, data in ((gen_a, first), (gen_b, second)):
        copy = bucket.get_blob(f"processed/{generation}/{short}")
        assert copy is not None, f"processed/{generation}/{short} not found"
        # Each copy is its own generation's content, not the latest upload twice.
        assert copy.download_as_bytes() == data.out.read_bytes()


def test_an_empty_file_is_rejected_as_empty_and_quarantined(
    local_stack: StackSettings, champion: str, tmp_path: Path
) -> None:
    uri, generation = drop(local_stack, _write(tmp_path / "empty.csv", b""))

    run = _wait_for_run(local_stack, uri)

    _assert_run(run, status="rejected", rows_in=0, scored=0, rejected=0)
    assert run["reason"] is not None and "empty" in run["reason"].lower(), run["reason"]
    _assert_every_row_once(local_stack, uri, generation, rows_in=0, scored=0)
    _assert_moved(local_stack, uri, generation, "quarantine")


def test_a_header_only_csv_succeeds_with_no_rows(
    local_stack: StackSettings, champion: str, tmp_path: Path
) -> None:
    header = _demo_frame(1, seed=3).head(0).to_csv(index=False)
    assert header.count("\n") == 1 and all(c in header for c in FEATURE_COLUMNS)
    uri, generation = drop(local_stack, _write(tmp_path / "header.csv", header.encode()))

    run = _wait_for_run(local_stack, uri)

    _assert_run(run, status="succeeded", rows_in=0, scored=0, rejected=0)
    assert run["reason"] is None
    _assert_every_row_once(local_stack, uri, generation, rows_in=0, scored=0)
    _assert_moved(local_stack, uri, generation, "processed")


def _assert_gzip_scored_whole(
    local_stack: StackSettings, path: Path, raw: bytes, rows: int, min_ratio: float
) -> None:
    packed = gzip.compress(raw, compresslevel=9, mtime=0)
    assert len(raw) / len(packed) > min_ratio, (len(raw), len(packed))
    uri, generation = drop(local_stack, _write(path, packed))

    run = _wait_for_run(local_stack, uri)

    _assert_run(run, status="succeeded", rows_in=rows, scored=rows, rejected=0)
    _assert_every_row_once(local_stack, uri, generation, rows_in=rows, scored=rows)
    _assert_moved(local_stack, uri, generation, "processed")


def test_a_gzip_csv_that_expands_about_1000_times_has_every_row_scored(
    local_stack: StackSettings, champion: str, tmp_path: Path
) -> None:
    header, row = _demo_frame(1, seed=3).to_csv(index=False).splitlines(keepends=True)
    # Each row carries a long run of one byte in a column the contract does not know: deflate
    # packs such runs near its limit (1032x), while rows of contract values alone stay ~300x.
    rows = 2_000
    filler = "x" * 28_000
    raw = (header.rstrip("\n") + ",note\n" + (row.rstrip("\n") + f",{filler}\n") * rows).encode()
    _assert_gzip_scored_whole(local_stack, tmp_path / "bomb.csv.gz", raw, rows, min_ratio=900)


def test_a_highly_compressed_gzip_csv_across_chunks_has_every_row_scored(
    local_stack: StackSettings, champion: str, tmp_path: Path
) -> None:
    header, row = _demo_frame(1, seed=3).to_csv(index=False).splitlines(keepends=True)
    raw = (header + row * BIG_ROWS).encode()
    _assert_gzip_scored_whole(
        local_stack, tmp_path / "repeated.csv.gz", raw, BIG_ROWS, min_ratio=250
    )


def test_values_that_are_not_utf8_reject_their_rows_and_the_rest_is_scored(
    local_stack: StackSettings, champion: str, tmp_path: Path
) -> None:
    frame = _demo_frame(80, seed=31)
    ids = frame[ID_COLUMN].tolist()
    latin1, utf8 = "<LATIN1-E>", "<UTF8-E>"
    # Rows 5, 18 and 51 (1-based) get a Latin-1 é in their id; row 51 also in home_ownership.
    for position in (4, 17, 50):
        frame.loc[position, ID_COLUMN] += f"-{latin1}"
    frame.loc[50, "home_ownership"] += latin1
    # Valid UTF-8 beyond ASCII is not an encoding problem.
    frame.loc[30, ID_COLUMN] += f"-{utf8}"
    text = frame.to_csv(index=False, lineterminator="\n").encode()
    data = text.replace(latin1.encode(), b"\xe9").replace(utf8.encode(), "é".encode())
    uri, generation = drop(local_stack, _write(tmp_path / "latin1.csv", data))

    run = _wait_for_run(local_stack, uri)

    _assert_run(run, status="partially_rejected", rows_in=80, scored=77, rejected=3)
    _assert_every_row_once(local_stack, uri, generation, rows_in=80, scored=77)
    assert _rejections(local_stack, uri) == [
        (5, ID_COLUMN, "ENCODING", f"{ids[4]}-\\xe9"),
        (18, ID_COLUMN, "ENCODING", f"{ids[17]}-\\xe9"),
        (51, ID_COLUMN, "ENCODING", f"{ids[50]}-\\xe9"),
        (
            51,
            "home_ownership",
            "ENCODING",
            frame.loc[50, "home_ownership"].replace(latin1, "\\xe9"),
        ),
    ]
    record_ids = _record_ids(local_stack, uri)
    assert record_ids[31] == f"{ids[30]}-é"
    assert sorted(record_ids) == [n for n in range(1, 81) if n not in (5, 18, 51)]
    _assert_moved(local_stack, uri, generation, "processed")


def test_quoted_newlines_keep_row_numbers_those_of_data_rows(
    local_stack: StackSettings, champion: str, tmp_path: Path
) -> None:
    frame = _demo_frame(60, seed=32)
    # Ids spanning lines (LF and CRLF), and a free-text column outside the contract holding
    # newlines, commas and quotes: RFC 4180 quoting keeps each a single row.
    frame.loc[2, ID_COLUMN] += "\nsecond line"
    frame.loc[3, ID_COLUMN] += "\r\nwindows line"
    frame["note"] = [
        f'line one\nline "two", with a comma\n\nline {i}' if i % 7 == 0 else f"note {i}"
        for i in range(60)
    ]
    # Rows after the multi-line values are bad: their row numbers must be data rows, not lines.
    frame["credit_score"] = frame["credit_score"].astype(object)
    frame.loc[[9, 40], "credit_score"] = "abc"
    text = frame.to_csv(index=False, lineterminator="\n")
    assert text.count("\n") > 61 + 20  # far more lines than rows
    uri, generation = drop(local_stack, _write(tmp_path / "multiline.csv", text.encode()))

    run = _wait_for_run(local_stack, uri)

    _assert_run(run, status="partially_rejected", rows_in=60, scored=58, rejected=2)
    _assert_every_row_once(local_stack, uri, generation, rows_in=60, scored=58)
    assert _rejections(local_stack, uri) == [
        (10, "credit_score", "WRONG_TYPE", "abc"),
        (41, "credit_score", "WRONG_TYPE", "abc"),
    ]
    expected = {i + 1: frame.loc[i, ID_COLUMN] for i in range(60) if i not in (9, 40)}
    assert _record_ids(local_stack, uri) == expected
    _assert_moved(local_stack, uri, generation, "processed")


def test_wrong_types_in_many_columns_of_a_wide_file_reject_each_row_once(
    local_stack: StackSettings, champion: str, tmp_path: Path
) -> None:
    rows = 400
    frame = _demo_frame(rows, seed=33).astype({c: object for c in FEATURE_COLUMNS})
    rng = np.random.default_rng(33)
    junk = {
        "age": "abc",
        "annual_income": "12k",
        "loan_amount": "n/a",
        "term_months": "thirty-six",
        "interest_rate": "5,5",
        "credit_score": "-",
        "debt_to_income": "abc",
        "num_open_accounts": "many",
        "num_credit_inquiries_6m": "?",
        "has_cosigner": "maybe",
    }
    expected: list[Rejection] = []
    for column, value in junk.items():
        hit = np.sort(rng.choice(rows, size=rows // 12, replace=False))
        frame.loc[hit, column] = value
        expected += [(int(i) + 1, column, "WRONG_TYPE", value) for i in hit]
    # Columns the contract does not know, some with values that would be wrong anywhere.
    extras = {f"extra_{j:03d}": rng.choice(["abc", "1.5", "", "x,y"], rows) for j in range(60)}
    frame = pd.concat([frame, pd.DataFrame(extras)], axis=1)
    assert frame.shape[1] == 22 + 60
    bad = {r[0] for r in expected}
    assert len(expected) > len(bad)  # some rows have several problems
    scored = rows - len(bad)
    uri, generation = drop(
        local_stack, _write(tmp_path / "wide.csv", frame.to_csv(index=False).encode())
    )

    run = _wait_for_run(local_stack, uri)

    _assert_run(run, status="partially_rejected", rows_in=rows, scored=scored, rejected=len(bad))
    _assert_every_row_once(local_stack, uri, generation, rows_in=rows, scored=scored)
    assert _rejections(local_stack, uri) == sorted(expected, key=lambda r: (r[0], r[1], r[2]))
    assert sorted(_record_ids(local_stack, uri)) == [n for n in range(1, rows + 1) if n not in bad]
    _assert_moved(local_stack, uri, generation, "processed")


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def test_parquet_columns_of_another_type_are_read_by_value(
    local_stack: StackSettings, champion: str, tmp_path: Path
) -> None:
    frame = _demo_frame(120, seed=34)
    # A numeric feature written as text, some of it not numbers; an integer feature as text and
    # a boolean as 0/1 integers, all readable: each value is judged, not the column's type.
    income = frame["annual_income"].map(lambda v: None if pd.isna(v) else f"{v:.2f}")
    junk_rows = [0, 7, 55, 119]
    income[junk_rows] = ["abc", "12k", "", "$45,000"]
    frame["annual_income"] = income.astype("string")
    frame["term_months"] = frame["term_months"].astype(str)
    frame["has_cosigner"] = frame["has_cosigner"].astype("int8")
    uri, generation = drop(local_stack, _write(tmp_path / "typed.parquet", _parquet(frame)))

    run = _wait_for_run(local_stack, uri)

    # An empty string is a missing value, which annual_income may be: row 56 is scored.
    _assert_run(run, status="partially_rejected", rows_in=120, scored=117, rejected=3)
    _assert_every_row_once(local_stack, uri, generation, rows_in=120, scored=117)
    assert _rejections(local_stack, uri) == [
        (1, "annual_income", "WRONG_TYPE", "abc"),
        (8, "annual_income", "WRONG_TYPE", "12k"),
        (120, "annual_income", "WRONG_TYPE", "$45,000"),
    ]
    _assert_moved(local_stack, uri, generation, "processed")


def test_a_parquet_categorical_stored_as_integers_rejects_every_row_naming_the_column(
    local_stack: StackSettings, champion: str, tmp_path: Path
) -> None:
    frame = _demo_frame(50, seed=35)
    frame["region"] = np.arange(50, dtype=np.int64) % 4  # codes instead of region names
    uri, generation = drop(local_stack, _write(tmp_path / "codes.parquet", _parquet(frame)))

    run = _wait_for_run(local_stack, uri)

    _assert_run(run, status="rejected", rows_in=50, scored=0, rejected=50)
    assert run["reason"], "a run with every row rejected says so in its reason"
    _assert_every_row_once(local_stack, uri, generation, rows_in=50, scored=0)
    assert _rejections(local_stack, uri) == [
        (i + 1, "region", "UNKNOWN_CATEGORY", str(i % 4)) for i in range(50)
    ]
    # Every row was read and judged, each rejection saying why: the file is processed.
    # Quarantine is for a file that could not be read as rows at all.
    _assert_moved(local_stack, uri, generation, "processed")


def test_a_column_name_that_is_not_utf8_does_not_cost_the_file(
    local_stack: StackSettings, champion: str, tmp_path: Path
) -> None:
    frame = _demo_frame(40, seed=36)
    # A column the contract does not know, named in Latin-1 as a spreadsheet export may do.
    frame["remarque_<E>"] = [f"r{i}" for i in range(40)]
    data = frame.to_csv(index=False).encode().replace(b"<E>", b"\xe9")
    uri, generation = drop(local_stack, _write(tmp_path / "latin1-header.csv", data))

    run = _wait_for_run(local_stack, uri)

    _assert_run(run, status="succeeded", rows_in=40, scored=40, rejected=0)
    _assert_every_row_once(local_stack, uri, generation, rows_in=40, scored=40)
    _assert_moved(local_stack, uri, generation, "processed")
