"""The scoring pipeline on Beam's in-process DirectRunner, with a version's files and Parquet
outputs in folders (no cloud): the rows it gives are the rows the batch function's core gives,
split however the files are, and a second run adds none."""

from __future__ import annotations

import gzip
import io
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
from cloudscore.pipeline.splits import count_range, number_text_splits, text_ranges
from shared.contract import DataContract, infer_contract
from shared.model import ScoringModel
from shared.model_format import model_files
from shared.registry import NewVersion, version_dir_files
from shared.scoring.readers import FileFormat, iter_chunks
from shared.scoring.readers.csv import header_end
from shared.training import train_model
from tests.unit.test_scoring_core import CONFIG, bad_demo
from tests.unit.training_data import demo_frame, quick_demo_spec

CHUNK_ROWS = 300
PREDICTION_COLUMNS = [
    "record_id",
    "passthrough",
    "predicted_label",
    "score",
    "model_name",
    "model_version",
    "source_generation",
    "row_number",
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
    for name, data in version_dir_files("loan-default", "20260101-000000-abc123", new).items():
        (directory / name).write_bytes(data)
    return directory


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CSV without quotes (split by bytes), CSV with quotes (one split), JSONL with bad lines
    (split by lines), Parquet of many row groups, gzip CSV, and a file missing a column."""
    folder = tmp_path_factory.mktemp("inputs")
    clean = demo_frame(2500, seed=11)
    clean.to_csv(folder / "clean.csv", index=False)
    bad = bad_demo(1200)
    bad.to_csv(folder / "quoted.csv", index=False)
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
        assert mine["run_id"].nunique() == 1
    # The splits the files were scored in: one load per split and table.
    loads = {p.name.split("-p-")[1] for p in (out / "predictions").glob("*.parquet")}
    assert any(name.startswith("g") for name in loads)  # Parquet by row groups
    assert sum(name.startswith("b") for name in loads) > 4  # CSV and JSONL by byte ranges
    quoted = runs.loc[str(inputs / "quoted.csv")]
    assert "scored as one split" in quoted["reason"]
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


@pytest.mark.parametrize("seed", range(4))
def test_split_row_numbers_are_the_whole_files(seed: int) -> None:
    """Random CSV and JSONL files, blank lines, CR/LF/CRLF, a byte order mark, cut anywhere:
    the rows of the splits, numbered from the counts, are the rows of the whole file."""
    rng = random.Random(seed)
    for _ in range(60):
        kind = rng.choice(["csv", "jsonl"])
        if kind == "csv":
            lines = ["a,b"] + [
                rng.choice([f"{i},x", "", "  ", f"{i},{'y' * rng.randint(0, 20)}", "\t", "1"])
                for i in range(rng.randint(0, 30))
            ]
            end = rng.choice(["\n", "\r\n", "\r"])
        else:
            lines = [
                rng.choice(
                    [f'{{"a":{i}}}', "", "  ", f'{{"a":"{"y" * rng.randint(0, 20)}"}}', "[]"]
                )
                for i in range(rng.randint(0, 30))
            ]
            end = "\n"
        text = (rng.choice(["", "\ufeff"]) + end.join(lines) + rng.choice(["", end])).encode()
        fmt = FileFormat(kind)
        whole = sorted(
            n
            for c in iter_chunks(io.BytesIO(text), fmt, 7, "f")
            for n in [*c.row_numbers().tolist(), *{b.row_number for b in c.bad_rows}]
        )
        item = InputFile("/f", "local", 1, len(text))
        counts = [
            count_range(io.BytesIO(text), a, b, fmt)
            for a, b in text_ranges(len(text), rng.randint(1, 40))
        ]
        ends = header_end(text) if kind == "csv" else None
        splits, note = number_text_splits(item, fmt, counts, ends)
        assert note is None or kind == "csv"
        header = text[:ends] if ends else b""
        found = []
        for split in splits:
            stop = len(text) if split.kind == "whole" else split.end
            prefix = header if split.start and kind == "csv" else b""
            stream = io.BufferedReader(Range(io.BytesIO(text), split.start, stop, prefix))
            for c in iter_chunks(stream, fmt, 7, "f", split.part):
                found += [*c.row_numbers().tolist(), *{b.row_number for b in c.bad_rows}]
        assert sorted(found) == whole, (text, splits)


def test_a_csv_with_quotes_is_one_split_and_says_why() -> None:
    text = b'a,b\n1,"x\n2"\n3,y\n' * 5
    fmt = FileFormat("csv")
    counts = [count_range(io.BytesIO(text), a, b, fmt) for a, b in text_ranges(len(text), 10)]
    splits, note = number_text_splits(InputFile("/f", "local", 1, len(text)), fmt, counts, 4)
    assert [s.kind for s in splits] == ["whole"]
    assert note is not None and "quotes" in note
