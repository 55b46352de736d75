"""The scoring pipeline on Beam's in-process DirectRunner, with a version's files and Parquet
outputs in folders (no cloud): the rows it gives are the rows the batch function's core gives,
split however the files are, and a second run adds none."""

from __future__ import annotations

import gzip
import io
import itertools
import json
import random
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cloudscore import demo_data as dd
from cloudscore.pipeline import run
from cloudscore.pipeline.inputs import InputFile, Range
from cloudscore.pipeline.splits import (
    Split,
    count_range,
    number_text_splits,
    plan_table,
    text_ranges,
)
from shared.contract import DataContract, infer_contract
from shared.model import ScoringModel
from shared.model_format import model_files
from shared.registry import NewVersion, version_dir_files
from shared.scoring.claims import run_key
from shared.scoring.core import row_days
from shared.scoring.readers import FileFormat, iter_chunks
from shared.scoring.readers.csv import header_end
from shared.training import train_model
from tests.unit.test_scoring_core import CONFIG, bad_demo
from tests.unit.training_data import demo_frame, quick_demo_spec

CHUNK_ROWS = 300
MODEL_NAME, VERSION = "loan-default", "20260101-000000-abc123"
PREDICTION_COLUMNS = [
    "record_id",
    "passthrough",
    "predicted_label",
    "score",
    "model_name",
    "model_version",
    "source_generation",
    "row_number",
    "data_time",
]
REJECTION_COLUMNS = ["row_number", "column_name", "reason_code", "reason", "raw_value"]


@pytest.fixture(scope="module")
def trained() -> tuple[ScoringModel, DataContract]:
    frame = demo_frame(2000, seed=5)
    spec = quick_demo_spec(candidates=("xgboost",), max_trials=1, time_budget_s=5.0)
    return train_model(frame, spec).model, infer_contract(frame, CONFIG)


@pytest.fixture(scope="module")
def model_dir(
    tmp_path_factory: pytest.TempPathFactory, trained: tuple[ScoringModel, DataContract]
) -> Path:
    model, contract = trained
    directory = tmp_path_factory.mktemp("model")
    new = NewVersion(model_files(model), contract.to_json(), {}, {}, None, {})
    for name, data in version_dir_files(MODEL_NAME, VERSION, new).items():
        (directory / name).write_bytes(data)
    return directory


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CSV without quotes (split by bytes), CSV whose quoted values hold line breaks (split by
    bytes too), CSV with a quote out of place (one split), JSONL with bad lines (split by
    lines), Parquet of many row groups, gzip CSV, and a file missing a column."""
    folder = tmp_path_factory.mktemp("inputs")
    clean = demo_frame(2500, seed=11)
    clean.to_csv(folder / "clean.csv", index=False)
    bad = bad_demo(1200)
    quoted = bad.copy()
    # Values the contract refuses, each rejected with its row number and raw value.
    quoted.loc[::7, "region"] = 'north\n"east"'
    quoted.loc[3::11, "loan_purpose"] = "car,\r\nboat"
    quoted.to_csv(folder / "quoted.csv", index=False)
    text = bad.head(900).to_csv(index=False)
    first_id = str(bad[dd.ID_COLUMN].iloc[600])
    (folder / "stray.csv").write_text(text.replace(first_id, first_id + "-5'11\""))
    dd.write_demo_data(folder / "lines.jsonl", 900, seed=12, bad_rows=0.05)
    pq.write_table(
        pa.Table.from_pandas(clean, preserve_index=False),
        folder / "groups.parquet",
        row_group_size=200,
    )
    (folder / "zipped.csv.gz").write_bytes(
        gzip.compress(bad.head(500).to_csv(index=False).encode())
    )
    clean.drop(columns=[dd.ID_COLUMN, "age"]).head(50).to_csv(folder / "short.csv", index=False)
    return folder


def score_pipeline(inputs: Path, model_dir: Path, out: Path, *extra: str) -> list[str]:
    result = run(
        [
            f"--sources={inputs}/*",
            f"--model_dir={model_dir}",
            f"--output_dir={out}",
            "--split_bytes=40000",
            json_settings(),
            *extra,
        ]
    )
    return [o.line() for o in result.files]


def json_settings() -> str:
    return "--settings=" + json.dumps({"CLOUDSCORE_BATCH_CHUNK_ROWS": str(CHUNK_ROWS)})


def table(out: Path, name: str) -> pd.DataFrame:
    frames = [pd.read_parquet(p) for p in sorted((out / name).glob("*.parquet"))]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def split_loads(out: Path, path: Path, kind: str) -> list[str]:
    """The splits of `path` whose predictions were loaded, by their ids' extent (b…: bytes,
    g…: row groups, all: the whole file)."""
    key = run_key(str(path), path.stat().st_mtime_ns, MODEL_NAME, VERSION)
    names = [p.stem.split("-p-", 1) for p in (out / "predictions").glob("*.parquet")]
    return [extent for k, extent in names if k == key and extent.startswith(kind)]


def core_rows(path: Path, model_dir: Path, out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    from cloudscore.cli import main

    target = out / f"{path.name}.parquet"
    argv = ["score", str(path), "--out", str(target), "--model-dir", str(model_dir)]
    main([*argv, "--chunk-rows", str(CHUNK_ROWS)])
    return pd.read_parquet(target), pd.read_parquet(
        target.with_name(f"{path.name}.rejected.parquet")
    )


def test_the_pipeline_gives_the_rows_the_batch_core_gives_and_a_second_run_adds_none(
    inputs: Path, model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    lines = score_pipeline(inputs, model_dir, out)

    runs = table(out, "scoring_runs").set_index("source_uri")
    predictions, rejections = table(out, "predictions"), table(out, "rejected_rows")
    for path in sorted(inputs.iterdir()):
        uri = str(path)
        run_row = runs.loc[uri]
        if path.name == "short.csv":
            assert run_row["status"] == "rejected"
            assert "lacks required column" in run_row["reason"]
            assert not (predictions["source_uri"] == uri).any()
            continue
        expected, expected_rejected = core_rows(path, model_dir, tmp_path / "core")
        mine = predictions[predictions["source_uri"] == uri]
        mine_rejected = rejections[rejections["source_uri"] == uri]
        pd.testing.assert_frame_equal(
            mine[PREDICTION_COLUMNS].sort_values("row_number", ignore_index=True),
            expected[PREDICTION_COLUMNS].sort_values("row_number", ignore_index=True),
        )
        pd.testing.assert_frame_equal(
            mine_rejected[REJECTION_COLUMNS].sort_values(
                ["row_number", "column_name"], ignore_index=True
            ),
            expected_rejected[REJECTION_COLUMNS].sort_values(
                ["row_number", "column_name"], ignore_index=True
            ),
        )
        assert run_row["rows_in"] == run_row["rows_scored"] + run_row["rows_rejected"]
        assert run_row["rows_scored"] == len(expected)
        # The drift counts are kept per day of the data's time, as the batch function keeps
        # them for monitoring's periods: every split's days added up.
        days = json.loads(run_row["drift_summary"])["counts"]["days"]
        per_day = pd.Series(row_days(expected)).value_counts()
        assert {int(day): counts["rows"] for day, counts in days.items()} == per_day.to_dict()
        assert mine["run_id"].nunique() == 1
    # The splits the files were scored in: one load per split and table.
    loads = {p.name.split("-p-")[1] for p in (out / "predictions").glob("*.parquet")}
    assert any(name.startswith("g") for name in loads)  # Parquet by row groups
    assert sum(name.startswith("b") for name in loads) > 4  # CSV and JSONL by byte ranges
    assert len(split_loads(out, inputs / "quoted.csv", "b")) > 2
    stray = runs.loc[str(inputs / "stray.csv")]
    assert "scored as one split: the quote at byte" in stray["reason"]
    assert split_loads(out, inputs / "stray.csv", "all")
    assert len(lines) == len(list(inputs.iterdir()))

    before = {
        name: len(table(out, name)) for name in ("predictions", "rejected_rows", "scoring_runs")
    }
    again = score_pipeline(inputs, model_dir, out)
    after = {
        name: len(table(out, name)) for name in ("predictions", "rejected_rows", "scoring_runs")
    }
    assert after == before
    assert sorted(again) == sorted(lines)


def test_a_launch_after_a_stopped_one_cuts_files_as_it_did_whatever_its_split_size(
    inputs: Path, model_dir: Path, tmp_path: Path
) -> None:
    """A job stopped midway leaves some splits loaded and no run rows; launched again with
    another --split_bytes, it cuts each file as the first launch did: no row twice, none lost."""
    out = tmp_path / "out"
    score_pipeline(inputs, model_dir, out)
    tables = ("predictions", "rejected_rows")
    first = {name: table(out, name) for name in tables}
    loads_before = sorted(p.name for name in tables for p in (out / name).glob("*.parquet"))
    # As the job stopped: every other split's loads undone, and no file's run recorded.
    for name in tables:
        for path in sorted((out / name).glob("*.parquet"))[::2]:
            path.unlink()
    for path in (out / "scoring_runs").glob("*.parquet"):
        path.unlink()

    score_pipeline(inputs, model_dir, out, "--split_bytes=15000")

    loads_after = sorted(p.name for name in tables for p in (out / name).glob("*.parquet"))
    assert loads_after == loads_before
    for name in tables:
        keys = ["source_uri", "row_number"] + (["column_name"] if name == "rejected_rows" else [])
        again = table(out, name)
        assert not again.duplicated(keys).any()
        pd.testing.assert_frame_equal(
            again[keys].sort_values(keys, ignore_index=True),
            first[name][keys].sort_values(keys, ignore_index=True),
        )
    runs = table(out, "scoring_runs")
    assert sorted(runs["source_uri"]) == sorted(str(p) for p in inputs.iterdir())
    scored = runs[runs["status"] != "rejected"]
    assert (scored["rows_in"] == scored["rows_scored"] + scored["rows_rejected"]).all()
    assert scored["rows_scored"].sum() == len(first["predictions"])


def test_a_local_run_never_tries_the_prism_runner(
    inputs: Path, model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beam's DirectRunner would first try Prism, which downloads its binary from the internet."""
    from apache_beam.runners.portability import prism_runner

    tried: list[object] = []
    monkeypatch.setattr(prism_runner.PrismRunner, "__init__", lambda self, *a: tried.append(a))
    result = run(
        [
            f"--sources={inputs}/clean.csv",
            f"--model_dir={model_dir}",
            f"--output_dir={tmp_path}",
            "--runner=DirectRunner",
            json_settings(),
        ]
    )

    assert tried == []
    assert [f.status for f in result.files] == ["succeeded"]


def test_a_run_on_two_local_workers_gives_the_same_rows(
    inputs: Path, model_dir: Path, tmp_path: Path
) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    score_pipeline(inputs, model_dir, one)
    score_pipeline(
        inputs, model_dir, two, "--direct_num_workers=2", "--direct_running_mode=multi_processing"
    )
    for name in ("predictions", "rejected_rows"):
        columns = PREDICTION_COLUMNS if name == "predictions" else REJECTION_COLUMNS
        keys = ["source_uri", "row_number"] + ([] if name == "predictions" else ["column_name"])
        pd.testing.assert_frame_equal(
            table(one, name)[["source_uri", *columns]].sort_values(keys, ignore_index=True),
            table(two, name)[["source_uri", *columns]].sort_values(keys, ignore_index=True),
        )


def rows_of(text: bytes, kind: str) -> list[int]:
    """The row numbers the reader gives the whole file, bad rows included."""
    fmt = FileFormat(kind)  # type: ignore[arg-type]
    return sorted(
        n
        for c in iter_chunks(io.BytesIO(text), fmt, 7, "f")
        for n in [*c.row_numbers().tolist(), *{b.row_number for b in c.bad_rows}]
    )


def split_rows(
    text: bytes, kind: str, split_bytes: int
) -> tuple[list[int], list[Split], str | None]:
    """The row numbers the splits of the file give, read as the pipeline reads them, its
    splits, and the note of a file scored as one split."""
    fmt = FileFormat(kind)  # type: ignore[arg-type]
    item = InputFile("/f", "local", 1, len(text))
    counts = [
        count_range(io.BytesIO(text), a, b, fmt) for a, b in text_ranges(len(text), split_bytes)
    ]
    ends = header_end(text) if kind == "csv" else None
    splits, note = number_text_splits(item, fmt, counts, ends)
    header = text[:ends] if ends else b""
    found = []
    for split in splits:
        stop = len(text) if split.kind == "whole" else split.end
        prefix = header if split.start and kind == "csv" else b""
        stream = io.BufferedReader(Range(io.BytesIO(text), split.start, stop, prefix))
        for c in iter_chunks(stream, fmt, 7, "f", split.part):
            found += [*c.row_numbers().tolist(), *{b.row_number for b in c.bad_rows}]
    return sorted(found), splits, note


def random_csv_value(rng: random.Random, i: int) -> str:
    return rng.choice(
        [
            f"{i}",
            "",
            "x" * rng.randint(0, 12),
            '"a,b"',
            '"line\nbreak"',
            '"cr\rlf\r\n"',
            '"say ""hi""\n"',
            '""',
            '"\n\n"',
            '"""\n"""',
        ]
    )


@pytest.mark.parametrize("seed", range(6))
def test_split_row_numbers_are_the_whole_files(seed: int) -> None:
    """Random CSV and JSONL files, blank lines, CR/LF/CRLF, a byte order mark, quoted values
    holding line breaks and quotes, cut anywhere: the rows of the splits, numbered from the
    counts, are the rows of the whole file; a CSV file is one split only when a quote is out of
    place (or its header longer than a split)."""
    rng = random.Random(seed)
    for _ in range(80):
        kind = rng.choice(["csv", "csv", "jsonl"])
        stray = False
        if kind == "csv":
            lines = ['a,"b\nc"'] + [
                rng.choice(
                    [
                        f"{i},x",
                        "",
                        "  ",
                        f"{i},{'y' * rng.randint(0, 20)}",
                        "\t",
                        "1",
                        f"{random_csv_value(rng, i)},{random_csv_value(rng, i)}",
                    ]
                )
                for i in range(rng.randint(0, 30))
            ]
            if rng.random() < 0.2:  # a quote in the middle of a value: text, to the reader
                lines.append("5'11\",x")
                stray = True
            end = rng.choice(["\n", "\r\n", "\r"])
        else:
            lines = [
                rng.choice(
                    [f'{{"a":{i}}}', "", "  ", f'{{"a":"{"y" * rng.randint(0, 20)}"}}', "[]"]
                )
                for i in range(rng.randint(0, 30))
            ]
            end = "\n"
        body = lines[1:] if kind == "csv" else lines
        rng.shuffle(body)
        lines = lines[:1] + body if kind == "csv" else body
        text = (rng.choice(["", "\ufeff"]) + end.join(lines) + rng.choice(["", end])).encode()
        split_bytes = rng.randint(1, 40)
        found, splits, note = split_rows(text, kind, split_bytes)
        assert found == rows_of(text, kind), (text, splits)
        if kind == "jsonl" or (not stray and note is None) or split_bytes >= len(text):
            continue
        assert len(splits) == 1
        assert note is not None
        assert stray or "header" in note, (text, note)


def test_quoted_line_breaks_at_and_around_every_split_point() -> None:
    """A CSV whose quoted values hold line breaks (LF, CRLF, a quote just before or after
    one), cut at every byte: each cut lands on the row that holds it, never one split."""
    rows = [
        "id,text",
        '1,"one\ntwo"',
        "2,plain",
        '"3","\r\n"',
        '4,"a ""quoted""\nword"',
        '5,""',
        '6,"\n"',
        '7,"x\n\ny"',
        "8,last",
    ]
    text = ("\r\n".join(rows) + "\n").encode()
    whole = rows_of(text, "csv")
    assert whole == list(range(1, 9))
    for split_bytes in range(len(b"id,text\r\n"), len(text) + 1):
        found, splits, note = split_rows(text, "csv", split_bytes)
        assert found == whole, split_bytes
        assert note is None
        if split_bytes < len(text) // 2:
            assert all(s.kind == "bytes" for s in splits), split_bytes
    # A split point inside a quoted value: it starts no split.
    found, splits, _ = split_rows(text, "csv", text.index(b"two"))
    assert text.index(b"two") not in {s.start for s in splits}


def test_a_csv_with_a_quote_out_of_place_is_one_split_and_says_where() -> None:
    text = b'a,b\n1,"x\n2"\n3,y\n' * 5 + b"4,5'11\"\n6,z\n" + b"7,w\n" * 5
    found, splits, note = split_rows(text, "csv", 10)
    assert found == rows_of(text, "csv")
    assert [s.kind for s in splits] == ["whole"]
    misplaced = text.index(b"11") + 2
    assert note is not None and f"byte {misplaced}" in note


def test_a_csv_whose_last_quote_is_never_closed_is_one_split() -> None:
    text = b'a,b\n1,x\n2,"y\n3,z\n' + b"4,w\n" * 5
    fmt = FileFormat("csv")
    counts = [count_range(io.BytesIO(text), a, b, fmt) for a, b in text_ranges(len(text), 8)]
    splits, note = number_text_splits(InputFile("/f", "local", 1, len(text)), fmt, counts, 4)
    assert [s.kind for s in splits] == ["whole"]
    assert note is not None and "never closed" in note


@pytest.mark.parametrize(
    ("rows", "size", "split_bytes"), [(0, 0, 10), (10, 100, 1000), (1001, 9000, 700)]
)
def test_a_table_is_split_into_consecutive_ranges_of_row_indexes(
    rows: int, size: int, split_bytes: int
) -> None:
    table = InputFile("bq://p.d.t", "bigquery", 1, size, rows=rows)
    splits = plan_table(table, split_bytes)
    assert [s.kind for s in splits] == ["rows"] * len(splits)
    assert splits[0].start == 0 and splits[-1].end == rows
    assert all(a.end == b.start for a, b in itertools.pairwise(splits))
    assert [s.first_row_number for s in splits] == [s.start + 1 for s in splits]
    assert len(splits) == (1 if size <= split_bytes else -(-rows // (rows * split_bytes // size)))
