"""Label files: ids and labels made text as the predictions spell them, every refusal naming file,
row, column and value, duplicates, the load job's key, and `cloudscore labels load --dry-run`."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest.mock import create_autospec

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.api_core import exceptions as api_exceptions
from google.cloud import bigquery

from cloudscore.cli import main
from cloudscore.demo_data import ID_COLUMN, LABEL_COLUMN, write_demo_data
from shared.errors import UsageError
from shared.monitoring.labels import (
    LabelColumns,
    LabelsRefused,
    PreparedLabels,
    check_labels,
    label_frame,
    label_text,
    load_labels,
    opened,
    refuse_problems,
)
from shared.project_config import load_project_config, parse_project_config
from shared.scoring.core import record_id_texts as batch_record_id

REPO_CONFIG = Path(__file__).resolve().parents[2] / "cloudscore.toml"
LOADED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
COLUMNS = LabelColumns("id", "y")


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    """`rows` in the format the name says; CSV values are written as given (text)."""
    name = path.name
    if name.endswith(".parquet"):
        pq.write_table(pa.Table.from_pylist(rows), path)
    elif ".csv" in name:
        header = list(rows[0])
        lines = [",".join(header)] + [",".join(str(r[c]) for c in header) for r in rows]
        data = ("\n".join(lines) + "\n").encode()
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    else:
        data = "".join(json.dumps(r) + "\n" for r in rows).encode()
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


def check(
    path: Path,
    columns: LabelColumns = COLUMNS,
    task: str = "binary_classification",
    positive_label: int | str = 1,
    loaded_at: datetime = LOADED_AT,
) -> PreparedLabels:
    with opened(str(path)) as (stream, content_type):
        return check_labels(
            stream,
            path.name,
            columns,
            task=task,
            positive_label=positive_label,
            loaded_at=loaded_at,
            content_type=content_type,
        )


def refusal(*prepared: PreparedLabels) -> str:
    with pytest.raises(LabelsRefused) as refused:
        refuse_problems(prepared)
    return str(refused.value)


# --- label_text --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1, "1"),
        (0, "0"),
        (1.0, "1"),
        (-0.0, "0"),
        (np.int64(1), "1"),
        (np.float32(0.0), "0"),
        ("1", "1"),
        ("1.0", "1"),
        (" 1 ", "1"),
        ("01", "1"),
        ("+1", "1"),
        ("1e0", "1"),
        (True, "1"),
        (False, "0"),
        (np.bool_(True), "1"),
        ("true", "1"),
        ("FALSE", "0"),
        (" True ", "1"),
        (0.5, "0.5"),
        ("0.50", "0.5"),
        (Decimal("2.00"), "2"),
        (2.0**60, "1.152921504606847e+18"),
        ("yes", "yes"),
        ("  Yes ", "Yes"),
        ("1_000", "1_000"),
        ("inf", "inf"),
        (None, ""),
        (float("nan"), ""),
        (pd.NA, ""),
        ("   ", ""),
    ],
)
def test_label_text(value: object, text: str) -> None:
    assert label_text(value) == text


@pytest.mark.parametrize(("positive", "other"), [(1, 0), (True, False), ("1", "0"), ("yes", "no")])
def test_the_configured_positive_label_and_the_loaded_labels_meet_in_one_spelling(
    tmp_path: Path, positive: int | str, other: int | str
) -> None:
    # TOML gives `positive_label = 1` an int and `= true` a bool; training compares with ==.
    config = parse_project_config(
        {"model": {"name": "m", "target": "y", "id_column": "id", "positive_label": positive}},
        "test",
    )
    for suffix in (".csv", ".parquet", ".jsonl"):
        path = write(tmp_path / f"l{suffix}", [{"id": "a", "y": positive}, {"id": "b", "y": other}])
        rows = check(path, positive_label=config.positive_label).rows
        assert rows["label"].tolist()[0] == label_text(config.positive_label), suffix
        assert rows["label"].tolist()[1] != label_text(config.positive_label), suffix


# --- ids and labels across formats -------------------------------------------------------------


def test_csv_ids_stay_as_written_and_labels_get_one_spelling(tmp_path: Path) -> None:
    path = tmp_path / "l.csv"
    path.write_text('id,y\n007,1.0\n" 17",0\n17,true\nA-1,False\n', encoding="utf-8")

    rows = check(path).rows

    assert rows["record_id"].tolist() == ["007", " 17", "17", "A-1"]
    assert rows["label"].tolist() == ["1", "0", "1", "0"]


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".ndjson.gz"])
def test_typed_ids_and_labels_become_the_text_a_csv_would_spell(
    tmp_path: Path, suffix: str
) -> None:
    path = write(
        tmp_path / f"l{suffix}",
        [{"id": 17.0, "y": 1.0}, {"id": 18.0, "y": 0.0}, {"id": 2.5, "y": 1.0}],
    )

    rows = check(path).rows

    assert rows["record_id"].tolist() == ["17", "18", "2.5"]
    assert rows["label"].tolist() == ["1", "0", "1"]


def test_ids_read_as_integers_or_as_text_join_as_the_same_id(tmp_path: Path) -> None:
    as_int = write(tmp_path / "a.parquet", [{"id": 17, "y": 1}, {"id": 18, "y": 0}])
    as_text = write(tmp_path / "b.jsonl", [{"id": "17", "y": "1"}, {"id": 18, "y": 0}])
    from_csv = write(tmp_path / "c.csv", [{"id": 17, "y": 1}, {"id": 18, "y": 0}])

    ids = [check(p).rows["record_id"].tolist() for p in (as_int, as_text, from_csv)]

    assert ids == [["17", "18"]] * 3


@pytest.mark.parametrize(
    "ids",
    [[17, 18], [17.0, 2.5], ["007", " 17"], [2**60, 5]],
)
def test_ids_are_made_text_by_the_batch_path_s_own_function(tmp_path: Path, ids: list[Any]) -> None:
    path = write(tmp_path / "l.parquet", [{"id": i, "y": 1} for i in ids])

    prepared = check(path)

    assert (
        prepared.rows["record_id"].tolist() == batch_record_id(pd.read_parquet(path)["id"]).tolist()
    )


def test_the_demo_labels_load_with_the_repository_s_configuration(tmp_path: Path) -> None:
    config = load_project_config(REPO_CONFIG)
    columns = LabelColumns.of(config)
    for suffix in (".csv", ".csv.gz", ".parquet", ".jsonl", ".ndjson.gz"):
        labels = tmp_path / f"labels{suffix}"
        write_demo_data(tmp_path / f"data{suffix}", 300, seed=5, labels_out=labels)
        written = pd.read_parquet(labels) if suffix == ".parquet" else None

        prepared = check(labels, columns, config.task, config.positive_label)

        assert prepared.problem_count == 0 and prepared.warnings == ()
        assert prepared.time_column == "labelled_at"
        assert len(prepared.rows) == prepared.rows_read == 300
        assert set(prepared.rows["label"]) == {"0", "1"}
        assert prepared.rows["record_id"].iloc[0] == "APP-5-000000000"
        if written is not None:
            expected = pd.to_datetime(written["labelled_at"], utc=True)
            assert (prepared.rows["labelled_at"] == expected).all()


def test_times_with_an_offset_are_converted_and_naive_ones_taken_as_utc(tmp_path: Path) -> None:
    path = tmp_path / "l.csv"
    path.write_text(
        "id,y,labelled_at\na,1,2026-01-02T03:04:05+02:00\nb,0,2026-01-02 03:04:05\nc,0,2026-01-02\n"
    )

    times = check(path).rows["labelled_at"].tolist()

    assert [t.isoformat() for t in times] == [
        "2026-01-02T01:04:05+00:00",
        "2026-01-02T03:04:05+00:00",
        "2026-01-02T00:00:00+00:00",
    ]


def test_times_are_read_by_the_contracts_grammar_each_on_its_own(tmp_path: Path) -> None:
    # Year 1000 beside nine decimals, which made pandas read the column in nanoseconds.
    taken = tmp_path / "l.csv"
    taken.write_text("id,y,labelled_at\na,1,1000-01-02\nb,0,2026-01-02T03:04:05.123456789Z\n")
    # Spellings one parser or the other took: 2026-01 (pandas), a week date (Python).
    refused = tmp_path / "m.csv"
    refused.write_text("id,y,labelled_at\nc,0,2026-01\nd,1,2026-W01-5\n")

    times = check(taken).rows["labelled_at"]
    message = refusal(check(refused))

    assert [t.isoformat() for t in times] == [
        "1000-01-02T00:00:00+00:00",
        "2026-01-02T03:04:05.123456+00:00",
    ]
    assert "m.csv row 1, column 'labelled_at': expected an ISO 8601 timestamp" in message
    assert "m.csv row 2, column 'labelled_at': expected an ISO 8601 timestamp" in message


def test_without_a_time_column_every_row_is_dated_at_the_load(tmp_path: Path) -> None:
    path = write(tmp_path / "l.csv", [{"id": "a", "y": 1}, {"id": "b", "y": 0}])

    prepared = check(path)

    assert prepared.time_column is None
    assert prepared.rows["labelled_at"].tolist() == [pd.Timestamp(LOADED_AT)] * 2


def test_an_explicit_time_column_is_used(tmp_path: Path) -> None:
    path = write(tmp_path / "l.csv", [{"id": "a", "y": 1, "when": "2026-01-05T00:00:00Z"}])

    prepared = check(path, LabelColumns("id", "y", time="when"))

    assert prepared.time_column == "when"
    assert prepared.rows["labelled_at"].iloc[0] == pd.Timestamp("2026-01-05", tz="UTC")


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            [{"id": "a", "y": 1}, {"id": "", "y": 0}],
            "l.csv row 2, column 'id': expected an id, found an empty value",
        ),
        (
            [{"id": "a", "y": 1}, {"id": "  ", "y": 0}],
            "l.csv row 2, column 'id': expected an id, found ",
        ),
        (
            [{"id": "a", "y": ""}, {"id": "b", "y": 0}],
            "l.csv row 1, column 'y': expected a label, found an empty value",
        ),
        (
            [
                {"id": "a", "y": 1, "labelled_at": "2026-01-01"},
                {"id": "b", "y": 0, "labelled_at": "last tuesday"},
            ],
            "l.csv row 2, column 'labelled_at': expected an ISO 8601 timestamp, found "
            '"last tuesday"',
        ),
        (
            [{"id": "a", "y": 1, "labelled_at": ""}],
            "l.csv row 1, column 'labelled_at': expected an ISO 8601 timestamp, found an empty "
            "value",
        ),
    ],
)
def test_a_bad_row_is_named_by_file_row_column_and_value(
    tmp_path: Path, rows: list[dict[str, Any]], expected: str
) -> None:
    prepared = check(write(tmp_path / "l.csv", rows))

    assert prepared.rows.empty and prepared.problem_count == 1
    assert expected in refusal(prepared)


def test_jsonl_rows_that_are_not_objects_or_lack_the_key_are_named(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    path.write_text('{"id": "a", "y": 1}\n[1, 2]\n{"y": 0}\n{"id": "d", "y": null}\n')

    message = refusal(check(path))

    assert "3 problem(s) in l.jsonl" in message
    assert "l.jsonl row 2: expected a JSON object, found a JSON list" in message
    assert "l.jsonl row 3, column 'id': expected an id, found an empty value" in message
    assert "l.jsonl row 4, column 'y': expected a label, found an empty value" in message


def test_a_missing_column_names_the_file_the_column_and_the_columns_found(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "l.csv", [{"record": "a", "y": 1}])

    message = refusal(check(path, LabelColumns.of(_config(id_column="id"))))

    assert (
        "l.csv: expected the id column 'id' (model.id_column), found the columns 'record', 'y'"
    ) in message


def test_a_named_time_column_that_is_missing_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "l.parquet", [{"id": "a", "y": 1}])

    message = refusal(check(path, LabelColumns("id", "y", time="when")))

    assert "expected the time column 'when' (--time-column), found the columns 'id', 'y'" in message


def test_more_than_two_labels_for_a_binary_task_are_named(tmp_path: Path) -> None:
    rows = [{"id": str(i), "y": label} for i, label in enumerate([0, 1, 1, 2, "maybe"])]

    message = refusal(check(write(tmp_path / "l.csv", rows)))

    assert "l.csv, column 'y': expected at most two distinct labels for a binary task" in message
    assert "found 4: '1' (2 rows), '0' (1 row), '2' (1 row), 'maybe' (1 row)" in message


def test_a_regression_label_must_be_a_finite_number(tmp_path: Path) -> None:
    rows = [{"id": "a", "y": "3.5"}, {"id": "b", "y": "n/a"}, {"id": "c", "y": "inf"}]

    prepared = check(write(tmp_path / "l.csv", rows), task="regression")

    message = refusal(prepared)
    assert "l.csv row 2, column 'y': expected a finite number, found \"n/a\"" in message
    assert "l.csv row 3, column 'y': expected a finite number, found \"inf\"" in message


def test_an_id_with_two_labels_is_refused_naming_the_id_labels_and_rows(tmp_path: Path) -> None:
    rows = [{"id": "a", "y": 1}, {"id": "b", "y": 0}, {"id": "a", "y": 0}, {"id": "a", "y": 1}]

    message = refusal(check(write(tmp_path / "l.csv", rows)))

    assert (
        "l.csv row 1, column 'y': expected one label per id, found id 'a' labelled '1' "
        "(rows 1, 4) and '0' (row 3)"
    ) in message


def test_repeated_rows_are_loaded_once_with_their_latest_time(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "y": 1, "labelled_at": "2026-01-01T00:00:00Z"},
        {"id": "b", "y": 0, "labelled_at": "2026-01-01T00:00:00Z"},
        {"id": "a", "y": 1, "labelled_at": "2026-01-03T00:00:00Z"},
        {"id": "a", "y": "1.0", "labelled_at": "2026-01-02T00:00:00Z"},
        {"id": "b", "y": 0, "labelled_at": "2026-01-01T00:00:00Z"},
    ]

    prepared = check(write(tmp_path / "l.csv", rows))

    assert prepared.rows_read == 5 and prepared.problem_count == 0
    assert prepared.rows["record_id"].tolist() == ["b", "a"]
    latest = prepared.rows.set_index("record_id")["labelled_at"]
    assert latest["a"] == pd.Timestamp("2026-01-03", tz="UTC")
    assert prepared.label_counts() == {"0": 1, "1": 1}


def test_at_most_ten_problems_are_listed_with_the_total(tmp_path: Path) -> None:
    rows = [{"id": "" if i % 2 else str(i), "y": ""} for i in range(30)]

    prepared = check(write(tmp_path / "l.csv", rows))
    message = refusal(prepared)

    assert prepared.problem_count == 45  # 15 empty ids, 30 empty labels
    listed = [line for line in message.splitlines() if line.startswith("  l.csv")]
    assert len(listed) == 10
    assert "… and 35 more" in message and message.startswith("45 problem(s) in l.csv")
    assert "l.csv row 1, column 'y'" in listed[0]


def test_every_file_is_checked_and_the_problems_of_all_are_counted(tmp_path: Path) -> None:
    good = check(write(tmp_path / "good.csv", [{"id": "a", "y": 1}]))
    bad = check(write(tmp_path / "bad.csv", [{"id": "", "y": 1}]))
    worse = check(write(tmp_path / "worse.csv", [{"id": "a", "y": ""}]))

    message = refusal(good, bad, worse)

    assert message.startswith("2 problem(s) in bad.csv, worse.csv; nothing was loaded")
    assert "bad.csv row 1, column 'id'" in message and "worse.csv row 1, column 'y'" in message
    refuse_problems([good])  # a file without problems passes


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("l.csv", b"", "l.csv: expected rows, found an empty file"),
        ("l.csv", b"id,y\n", "l.csv: expected rows, found a header only ('id', 'y')"),
        ("l.parquet", b"PAR1 not really", "l.parquet: not a readable Parquet file"),
        ("l.csv.gz", b"\x1f\x8b\x08\x00garbage", "l.csv.gz: cannot be decompressed as gzip"),
        ("l.txt", b"id,y\na,1\n", "l.txt: not a CSV, Parquet or JSONL file"),
    ],
)
def test_an_unreadable_or_empty_file_is_a_problem_of_that_file(
    tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)

    assert expected in refusal(check(path))


def test_a_missing_file_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"nope\.csv: no such file"), opened("nope.csv"):
        pass


def test_a_file_without_the_positive_label_gives_a_warning_not_a_refusal(tmp_path: Path) -> None:
    prepared = check(write(tmp_path / "l.csv", [{"id": "a", "y": "no"}]), positive_label="yes")

    assert prepared.problem_count == 0 and len(prepared.rows) == 1
    assert prepared.warnings == (
        "l.csv: no label equals the positive label 'yes' (model.positive_label); found 'no'",
    )


# --- the load job's key ------------------------------------------------------------------------


def test_the_job_key_is_stable_across_reads_formats_and_row_order(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "y": 1, "labelled_at": "2026-01-01T00:00:00Z"},
        {"id": "b", "y": 0, "labelled_at": "2026-01-02T00:00:00Z"},
    ]
    csv = write(tmp_path / "l.csv", rows)
    parquet = write(tmp_path / "l.parquet", [{**r, "y": float(r["y"])} for r in rows])
    reordered = write(tmp_path / "r.jsonl", rows[::-1])

    keys = {check(p).job_key for p in (csv, csv, parquet, reordered)}

    assert len(keys) == 1 and len(keys.pop()) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"y": 0},
        {"id": "c"},
        {"labelled_at": "2026-01-01T00:00:01Z"},
    ],
)
def test_the_job_key_differs_for_different_content(tmp_path: Path, change: dict[str, Any]) -> None:
    row = {"id": "a", "y": 1, "labelled_at": "2026-01-01T00:00:00Z"}
    first = check(write(tmp_path / "a.csv", [row]))
    second = check(write(tmp_path / "b.csv", [{**row, **change}]))

    assert first.job_key != second.job_key


def test_without_a_time_column_the_key_ignores_the_time_of_loading(tmp_path: Path) -> None:
    path = write(tmp_path / "l.csv", [{"id": "a", "y": 1}])

    early = check(path, loaded_at=datetime(2026, 1, 1, tzinfo=UTC))
    late = check(path, loaded_at=datetime(2026, 6, 1, tzinfo=UTC))

    assert early.job_key == late.job_key
    assert early.rows["labelled_at"].iloc[0] != late.rows["labelled_at"].iloc[0]


def test_a_load_s_job_id_derives_from_the_table_and_the_key() -> None:
    frame = pd.DataFrame(
        {"record_id": ["a"], "label": ["1"], "labelled_at": [pd.Timestamp(LOADED_AT)]}
    )
    client = create_autospec(bigquery.Client, instance=True)
    client.project = "p"
    client.get_job.side_effect = api_exceptions.NotFound("no job")

    assert load_labels(client, "ds1", frame, "key", location="US") is True
    assert (
        load_labels(client, "ds1", frame, "key", location="US") is True
    )  # the fake never finds a job
    assert load_labels(client, "ds2", frame, "key", location="US") is True
    assert load_labels(client, "ds1", frame, "other", location="US") is True

    calls = client.load_table_from_file.call_args_list
    ids = [call.kwargs["job_id"] for call in calls]
    assert ids[0] == ids[1] and len({ids[0], ids[2], ids[3]}) == 3
    assert ids[0].startswith("labels-")
    assert calls[0].args[1] == "p.ds1.labels" and calls[2].args[1] == "p.ds2.labels"


def test_a_load_whose_job_exists_loads_nothing() -> None:
    frame = pd.DataFrame(
        {"record_id": ["a"], "label": ["1"], "labelled_at": [pd.Timestamp(LOADED_AT)]}
    )
    client = create_autospec(bigquery.Client, instance=True)
    client.project = "p"
    client.get_job.return_value.state = "DONE"
    client.get_job.return_value.error_result = None

    assert load_labels(client, "ds", frame, "key", location="US") is False
    client.load_table_from_file.assert_not_called()


# --- columns and the command -------------------------------------------------------------------


def _config(**model: Any) -> Any:
    return parse_project_config({"model": {"name": "m", "target": "y", **model}}, "test")


def test_columns_default_to_the_configuration_and_flags_override() -> None:
    config = _config(id_column="app")

    assert LabelColumns.of(config) == LabelColumns(
        "app", "y", None, "model.id_column", "model.target"
    )
    given = LabelColumns.of(config, id_column="i", label_column="l", time_column="t")
    assert (given.id, given.label, given.time) == ("i", "l", "t")
    with pytest.raises(UsageError, match="--id-column: needed"):
        LabelColumns.of(_config())


def test_label_frame_reads_one_local_file_or_refuses_it(tmp_path: Path) -> None:
    path = write(tmp_path / "l.csv", [{"id": "a", "y": "1.0"}])

    frame = label_frame(path, id_column="id", label_column="y", loaded_at=LOADED_AT)

    assert frame.to_dict("list") == {
        "record_id": ["a"],
        "label": ["1"],
        "labelled_at": [pd.Timestamp(LOADED_AT)],
    }
    with pytest.raises(LabelsRefused, match="expected the id column 'nope'"):
        label_frame(path, id_column="nope", label_column="y")


def test_dry_run_checks_demo_labels_with_no_cloud(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CLOUDSCORE_PROJECT", raising=False)
    monkeypatch.setenv("CLOUDSCORE_LOCAL_DIR", str(tmp_path / "no-stack"))
    monkeypatch.chdir(tmp_path)
    write_demo_data(tmp_path / "d.csv", 200, seed=3, labels_out=tmp_path / "l.parquet")

    code = main(["labels", "load", "--config", str(REPO_CONFIG), "--dry-run", "l.parquet"])

    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("l.parquet: 200 rows read, 200 to load (dry run); times from ")
    assert "2 distinct labels" in out and "'1' (positive)" in out


def test_the_command_refuses_bad_files_with_their_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLOUDSCORE_LOCAL_DIR", str(tmp_path / "no-stack"))
    good = write(tmp_path / "good.csv", [{ID_COLUMN: "a", LABEL_COLUMN: 1}])
    bad = write(tmp_path / "bad.csv", [{ID_COLUMN: "a", LABEL_COLUMN: ""}])
    argv = ["labels", "load", "--config", str(REPO_CONFIG), "--dry-run"]

    assert main([*argv, str(good), str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"cloudscore: error: 1 problem(s) in {bad}; nothing was loaded")
    assert f"{bad} row 1, column 'defaulted': expected a label, found an empty value" in err
    assert "Traceback" not in err

    assert main([*argv, str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv: no such file" in capsys.readouterr().err
    assert main([*argv, "--id-column", "x", str(good)]) == 1
    assert "expected the id column 'x' (--id-column)" in capsys.readouterr().err


def test_help_names_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["labels", "load", "--help"])
    shown = capsys.readouterr().out
    for option in ("--config", "--id-column", "--label-column", "--time-column", "--dry-run"):
        assert option in shown
