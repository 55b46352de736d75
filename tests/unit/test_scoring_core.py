"""Scoring chunks and files: accounting, output columns, scores, rejections, the `score` command."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cloudscore import demo_data as dd
from cloudscore.cli import main
from cloudscore.cli.score_cmd import rejected_path
from shared.contract import DataContract, infer_contract, validate
from shared.model import ScoringModel
from shared.model_format import model_files
from shared.project_config import ProjectConfig
from shared.registry import NewVersion, version_dir_files
from shared.scoring.core import HeaderMismatch, RunInfo, ScoredChunk, score_chunk, score_stream
from shared.scoring.readers import Chunk, FileFormat, detect_format, iter_chunks
from shared.tables import PREDICTIONS, REJECTED_ROWS
from shared.training import train_model
from tests.unit.training_data import demo_frame, quick_demo_spec

CONFIG = ProjectConfig(
    model_name="loan-default",
    target=dd.LABEL_COLUMN,
    id_column=dd.ID_COLUMN,
    time_column=dd.TIME_COLUMN,
)
RUN = RunInfo(
    model_name="loan-default",
    model_version="v1",
    source_uri="gs://inbox/incoming/x.csv",
    source_generation=1700000000000001,
    run_id="run-1",
    scored_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
)


@pytest.fixture(scope="module")
def trained() -> tuple[ScoringModel, DataContract]:
    frame = demo_frame(2000, seed=5)
    spec = quick_demo_spec(candidates=("xgboost",), max_trials=1, time_budget_s=5.0)
    return train_model(frame, spec).model, infer_contract(frame, CONFIG)


@pytest.fixture(scope="module")
def model(trained: tuple[ScoringModel, DataContract]) -> ScoringModel:
    return trained[0]


@pytest.fixture(scope="module")
def contract(trained: tuple[ScoringModel, DataContract]) -> DataContract:
    return trained[1]


def bad_demo(rows: int = 500) -> pd.DataFrame:
    return next(dd.iter_demo_frames(rows, seed=9, bad_rows=0.1, chunk_rows=rows))


def as_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def score(chunk: Chunk, contract: DataContract, model: ScoringModel) -> ScoredChunk:
    settings = {f.name: getattr(RUN, f.name) for f in dataclasses.fields(RUN)}
    return score_chunk(chunk, contract, model, **settings)


def scored_file(
    data: bytes, name: str, contract: DataContract, model: ScoringModel, chunk_rows: int = 10_000
) -> list[ScoredChunk]:
    fmt = detect_format(name, None, data[:512])
    stream = score_stream(io.BytesIO(data), fmt, contract, model, RUN, chunk_rows=chunk_rows)
    return [scored for _, scored in stream]


def joined(parts: list[ScoredChunk]) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (
        pd.concat([p.predictions for p in parts], ignore_index=True),
        pd.concat([p.rejections for p in parts], ignore_index=True),
    )


def test_every_row_is_scored_or_rejected_once(contract: DataContract, model: ScoringModel) -> None:
    frame = bad_demo()
    result = score(Chunk(frame, 1, tuple(frame.columns)), contract, model)
    rejected_rows = set(result.rejections["row_number"])
    scored_rows = set(result.predictions["row_number"])
    assert result.rows_in == 500 == result.rows_scored + result.rows_rejected
    assert result.rows_rejected == len(rejected_rows) >= 50  # 10% bad, plus a few edge values
    assert not rejected_rows & scored_rows
    assert rejected_rows | scored_rows == set(range(1, 501))


def test_output_frames_have_exactly_the_table_columns(
    contract: DataContract, model: ScoringModel
) -> None:
    frame = bad_demo(100)
    result = score(Chunk(frame, 1, tuple(frame.columns)), contract, model)
    assert tuple(result.predictions.columns) == PREDICTIONS.column_names()
    assert tuple(result.rejections.columns) == REJECTED_ROWS.column_names()
    first = result.predictions.iloc[0]
    assert first["model_version"] == "v1" and first["run_id"] == "run-1"
    assert first["source_generation"] == RUN.source_generation
    assert first["scored_at"] == pd.Timestamp(RUN.scored_at)
    assert first["passthrough"] is None  # the contract declares no passthrough column
    assert set(result.rejections["reason_code"]) <= {
        "WRONG_TYPE", "MISSING_VALUE", "BELOW_MIN", "ABOVE_MAX", "UNKNOWN_CATEGORY",
        "NOT_FINITE",
    }  # fmt: skip


def test_scores_are_the_models_on_the_valid_rows(
    contract: DataContract, model: ScoringModel
) -> None:
    frame = bad_demo()
    result = score(Chunk(frame, 1, tuple(frame.columns)), contract, model)
    valid = validate(frame, contract).valid
    np.testing.assert_array_equal(result.predictions["score"], model.predict_scores(valid))
    labels = [str(x) for x in model.predict_labels(valid)]
    assert result.predictions["predicted_label"].tolist() == labels
    assert result.predictions["record_id"].tolist() == valid[dd.ID_COLUMN].tolist()
    assert result.predictions["row_number"].tolist() == valid["row_number"].tolist()


@pytest.mark.parametrize(
    ("ids", "texts"),
    [
        (pd.Series(["A-1", "A-2", " a 3", "4"], dtype=object), ["A-1", "A-2", " a 3", "4"]),
        (pd.Series(["A-1", "A-2", " a 3", "4"], dtype="str"), ["A-1", "A-2", " a 3", "4"]),
        (pd.Series([7, 12, -3, 0]), ["7", "12", "-3", "0"]),
        (pd.Series([7.0, 2.5, 1e20, -0.0]), ["7", "2.5", "1e+20", "0"]),
        (pd.Series([7, "b", 2.5, "x"], dtype=object), ["7", "b", "2.5", "x"]),
    ],
)
def test_record_ids_are_the_ids_as_text(
    ids: pd.Series, texts: list[str], contract: DataContract, model: ScoringModel
) -> None:
    frame = next(dd.iter_demo_frames(4, seed=2)).assign(**{dd.ID_COLUMN: ids})
    result = score(Chunk(frame, 1, tuple(frame.columns)), contract, model)
    assert result.predictions["record_id"].tolist() == texts
    labels = result.predictions["predicted_label"].tolist()
    assert labels == [str(x) for x in model.predict_labels(result.features)]


@pytest.mark.parametrize("given", [{"a": 1}, [1, 2], True])
def test_an_object_array_or_boolean_as_the_id_is_a_rejected_row_never_a_repr(
    given: object, contract: DataContract, model: ScoringModel
) -> None:
    frame = next(dd.iter_demo_frames(3, seed=2))
    records = json.loads(frame.to_json(orient="records"))
    records[1][dd.ID_COLUMN] = given
    lines = "".join(json.dumps(r) + "\n" for r in records).encode()
    (chunk,) = iter_chunks(io.BytesIO(lines), FileFormat("jsonl"))
    result = score(chunk, contract, model)
    assert result.predictions["row_number"].tolist() == [1, 3]
    (line,) = result.rejections.itertuples()
    assert (line.row_number, line.column_name, line.reason_code) == (2, dd.ID_COLUMN, "WRONG_TYPE")
    assert line.raw_value == json.dumps(given, separators=(",", ":"))
    assert line.reason == f"expected an id (text or a number), found {line.raw_value}"


@pytest.mark.parametrize("name", ["d.csv", "d.csv.gz", "d.jsonl", "d.parquet"])
def test_chunk_boundaries_do_not_change_the_results(
    name: str, contract: DataContract, model: ScoringModel
) -> None:
    frame = bad_demo(120)
    buffer = io.BytesIO()
    if name.endswith(".parquet"):
        frame.to_parquet(buffer, index=False)
    elif name.startswith("d.csv"):
        buffer.write(as_csv(frame))
    else:
        buffer.write(frame.to_json(orient="records", lines=True).encode())
    data = gzip.compress(buffer.getvalue()) if name.endswith(".gz") else buffer.getvalue()
    small = joined(scored_file(data, name, contract, model, chunk_rows=7))
    whole = joined(scored_file(data, name, contract, model))
    pd.testing.assert_frame_equal(small[0], whole[0])
    pd.testing.assert_frame_equal(small[1], whole[1])
    assert len(small[0]) + small[1]["row_number"].nunique() == 120


def test_malformed_jsonl_lines_are_rejected_and_the_rest_scored(
    contract: DataContract, model: ScoringModel
) -> None:
    lines = next(dd.iter_demo_frames(6, seed=2)).to_json(orient="records", lines=True)
    rows = lines.strip().split("\n")
    rows[1] = "{truncated"
    rows[3] = '"just a string"'
    parts = scored_file(("\n".join(rows) + "\n").encode(), "x.jsonl", contract, model, 4)
    predictions, rejections = joined(parts)
    assert predictions["row_number"].tolist() == [1, 3, 5, 6]
    assert rejections[["row_number", "reason_code"]].values.tolist() == [
        [2, "MALFORMED_LINE"],
        [4, "MALFORMED_LINE"],
    ]
    assert rejections["column_name"].isna().all()
    assert sum(p.rows_in for p in parts) == 6


def test_non_utf8_csv_rows_are_rejected_as_encoding(
    contract: DataContract, model: ScoringModel
) -> None:
    frame = next(dd.iter_demo_frames(5, seed=2))
    data = as_csv(frame).replace(b"APP-2-000000002", b"APP-2-00000\xe90002")
    predictions, rejections = joined(scored_file(data, "x.csv", contract, model))
    assert predictions["row_number"].tolist() == [1, 2, 4, 5]
    found = rejections[["row_number", "column_name", "reason_code", "raw_value"]]
    assert found.values.tolist() == [[3, dd.ID_COLUMN, "ENCODING", "APP-2-00000\\xe90002"]]


def test_a_parquet_column_of_the_wrong_type_is_rejected_row_by_row(
    contract: DataContract, model: ScoringModel
) -> None:
    frame = next(dd.iter_demo_frames(20, seed=2))
    frame["credit_score"] = frame["credit_score"].astype(str)
    frame.loc[[2, 7], "credit_score"] = ["excellent", "7OO"]
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    predictions, rejections = joined(scored_file(buffer.getvalue(), "t.parquet", contract, model))
    assert len(predictions) == 18
    assert rejections[["row_number", "column_name", "reason_code"]].values.tolist() == [
        [3, "credit_score", "WRONG_TYPE"],
        [8, "credit_score", "WRONG_TYPE"],
    ]


def test_a_header_without_a_required_column_rejects_the_file_before_any_chunk(
    contract: DataContract, model: ScoringModel
) -> None:
    frame = next(dd.iter_demo_frames(5, seed=2)).drop(columns=["credit_score", dd.ID_COLUMN])
    stream = score_stream(io.BytesIO(as_csv(frame)), FileFormat("csv"), contract, model, RUN)
    with pytest.raises(HeaderMismatch, match="'application_id', 'credit_score'") as caught:
        next(stream)
    assert caught.value.missing == [dd.ID_COLUMN, "credit_score"]


def test_a_missing_column_names_the_one_of_the_header_that_looks_like_it(
    contract: DataContract, model: ScoringModel
) -> None:
    frame = next(dd.iter_demo_frames(5, seed=2)).rename(columns={"loan_amount": "loan_amuont"})
    stream = score_stream(io.BytesIO(as_csv(frame)), FileFormat("csv"), contract, model, RUN)
    with pytest.raises(HeaderMismatch) as caught:
        next(stream)
    assert caught.value.missing == ["loan_amount"]
    assert str(caught.value).endswith("the header has 'loan_amuont': did you mean 'loan_amount'?")


@pytest.mark.parametrize(("data", "chunks"), [(b"", 0), (b"application_id,age\n", 1)])
def test_empty_and_header_only_files_score_nothing(
    data: bytes, chunks: int, contract: DataContract, model: ScoringModel
) -> None:
    header = ",".join(c.name for c in contract.columns if c.required).encode() + b"\n"
    parts = scored_file(header if chunks else data, "e.csv", contract, model)
    assert len(parts) == chunks
    assert sum(p.rows_in for p in parts) == 0


def test_passthrough_columns_are_one_json_object(model: ScoringModel) -> None:
    frame = demo_frame(300, seed=4).assign(branch=lambda f: [f"B{i % 3}" for i in range(len(f))])
    contract = infer_contract(frame, dataclasses.replace(CONFIG, passthrough=("branch",)))
    chunk = Chunk(frame.head(3), 1, tuple(frame.columns))
    documents = score(chunk, contract, model).predictions["passthrough"].tolist()
    assert [json.loads(d) for d in documents] == [
        {"branch": "B0"},
        {"branch": "B1"},
        {"branch": "B2"},
    ]


@pytest.fixture
def model_dir(tmp_path: Path, contract: DataContract, model: ScoringModel) -> Path:
    """A directory holding a model and its contract, as `score --model-dir` takes."""
    directory = tmp_path / "model"
    directory.mkdir()
    new = NewVersion(model_files(model), contract.to_json(), {}, {}, None, {})
    for name, data in version_dir_files("loan-default", "20260101-000000-abc123", new).items():
        (directory / name).write_bytes(data)
    return directory


def test_the_score_command_writes_predictions_and_rejections(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "apps.csv"
    dd.write_demo_data(source, 300, seed=8, bad_rows=0.1)
    for out in (tmp_path / "out" / "p.parquet", tmp_path / "out" / "p.csv"):
        argv = ["score", str(source), "--out", str(out), "--model-dir", str(model_dir)]
        assert main([*argv, "--chunk-rows", "64"]) == 0
        read = pd.read_parquet if out.suffix == ".parquet" else pd.read_csv
        predictions, rejections = read(out), read(rejected_path(out))
        assert tuple(predictions.columns) == PREDICTIONS.column_names()
        assert tuple(rejections.columns) == REJECTED_ROWS.column_names()
        assert len(predictions) + rejections["row_number"].nunique() == 300
        assert rejections["row_number"].nunique() >= 30
        assert predictions["source_uri"].iloc[0] == source.resolve().as_uri()
        # The model's own name and version, from its manifest, not the folder's name.
        assert set(predictions["model_name"]) == {"loan-default"}
        assert set(predictions["model_version"]) == {"20260101-000000-abc123"}
        assert f"rows in 300, scored {len(predictions)}" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "p.csv", "p.parquet", "p.rejected.csv", "p.rejected.parquet",
    ]  # fmt: skip


def test_the_score_command_leaves_no_output_for_a_file_it_rejects(
    tmp_path: Path, model_dir: Path
) -> None:
    source = tmp_path / "wrong.csv"
    source.write_text("a,b\n1,2\n")
    out = tmp_path / "p.parquet"
    assert main(["score", str(source), "--out", str(out), "--model-dir", str(model_dir)]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "wrong.csv"]


def test_the_score_command_refuses_a_model_dir_whose_file_was_changed(
    tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "apps.csv"
    dd.write_demo_data(source, 10, seed=8)
    card = model_dir / "model.json"
    card.write_bytes(card.read_bytes().replace(b'"threshold": ', b'"threshold": 0.0001 + '))
    out = tmp_path / "p.parquet"

    assert main(["score", str(source), "--out", str(out), "--model-dir", str(model_dir)]) == 1
    assert "model.json differs from its sha256 in manifest.json" in capsys.readouterr().err
    assert not out.exists()


def test_the_score_command_names_migrate_for_a_model_dir_in_the_old_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "model.joblib").write_bytes(b"not read")
    source = tmp_path / "apps.csv"
    dd.write_demo_data(source, 10, seed=8)

    argv = ["score", str(source), "--out", str(tmp_path / "p.csv"), "--model-dir", str(old)]
    assert main(argv) == 2
    assert "cloudscore models migrate" in capsys.readouterr().err
