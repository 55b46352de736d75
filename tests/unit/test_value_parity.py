"""One value, one verdict: a value gets the same verdict in training, the batch path (CSV, Parquet,
JSONL), the HTTP function and the labels loader, as `shared.values` decides it.

Text (a CSV field, a Parquet string column) is read by the text grammar in every path; JSON (a
JSONL line, an HTTP instance) carries its own types, so a JSON string is text there and never a
number. "n/a" is WRONG_TYPE everywhere: in training too, where it once was a missing value.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.contract import ColumnContract, DataContract, validate
from shared.monitoring.labels import LabelColumns, check_labels
from shared.reasons import Reason
from shared.scoring.readers import FileFormat, iter_chunks
from shared.serving.instance_check import InstanceChecker, ModelInput
from shared.sources import read_file
from shared.training.labels import label_texts
from shared.values import label_text, read_boolean, read_number

CONTRACT = DataContract(
    (
        ColumnContract("id", "id", "string", nullable=False, required=True),
        ColumnContract("x", "feature", "numeric", nullable=True, required=True, min=-1e6, max=1e6),
        ColumnContract("b", "feature", "boolean", nullable=True, required=True),
    )
)
INPUTS = [ModelInput("x", None), ModelInput("b", None)]
# Text as a CSV holds it: numbers, missing-value words of other tools, junk.
TEXTS = [
    "42", " 42 ", "-1.5e3", ".5", "5.", "+7", "1e7", "n/a", "N/A", "NA", "null", "None", "#N/A",
    "nan", "NaN", "-inf", "Infinity", "1e400", "", "  ", "\t", "12k", "-", "1,5", "0x10", "\u0661",
    "yes", "true", "1.0", "\u00a042", "INF", "+Infinity", "-nan", "nan(1)", "1.e5", "1e+5", "1e",
    "+", ".", "1e400x", "\u066b5",
]  # fmt: skip


def verdict(rejections: pd.DataFrame, column: str) -> str | None:
    found = rejections[rejections["column_name"] == column]["reason_code"].tolist()
    return found[0] if found else None


def csv_verdict(path: Path, column: str) -> str | None:
    """As the batch function reads and checks a CSV file."""
    with path.open("rb") as stream:
        (chunk,) = iter_chunks(stream, FileFormat("csv"))
    return verdict(
        validate(chunk.frame, CONTRACT, json_values=chunk.json_values).rejections, column
    )


def training_verdict(path: Path, column: str) -> str | None:
    """As `cloudscore train` reads its data and leaves out the rows that break the contract."""
    table = read_file(path)
    rejections = validate(table.frame, CONTRACT, json_values=table.json_values).rejections
    return verdict(rejections, column)


def parquet_verdict(text: str, column: str) -> str | None:
    """A Parquet file whose column holds text."""
    frame = pd.DataFrame({"id": ["a"], "x": ["0"], "b": ["true"]}).assign(**{column: [text]})
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    buffer.seek(0)
    (chunk,) = iter_chunks(buffer, FileFormat("parquet"))
    return verdict(validate(chunk.frame, CONTRACT).rejections, column)


def grammar_verdict(text: str, column: str) -> str | None:
    """`shared.values` itself, reading text."""
    if column == "b":
        value, reason = read_boolean(text, text=True)
    else:
        value, reason = read_number(text, text=True)
        if value is not None and not -1e6 <= value <= 1e6:
            reason = Reason.ABOVE_MAX if value > 0 else Reason.BELOW_MIN
    return None if reason is None else reason.value


def http_verdict(value: Any, column: str) -> str | None:
    instance = {"id": "a", "x": 0, "b": True, column: value}
    _, problems = InstanceChecker(CONTRACT, INPUTS).check([instance])
    return problems[0].reason_code if problems else None


def jsonl_verdict(value: Any, column: str) -> str | None:
    line = json.dumps({"id": "a", "x": 0, "b": True, column: value}) + "\n"
    (chunk,) = iter_chunks(io.BytesIO(line.encode()), FileFormat("jsonl"))
    return verdict(
        validate(chunk.frame, CONTRACT, json_values=chunk.json_values).rejections, column
    )


def write_csv(tmp_path: Path, column: str, text: str) -> Path:
    frame = pd.DataFrame({"id": ["a"], "x": ["0"], "b": ["true"]}).assign(**{column: [text]})
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("column", ["x", "b"])
@pytest.mark.parametrize("text", TEXTS)
def test_text_gets_one_verdict_in_training_batch_and_the_grammar(
    tmp_path: Path, column: str, text: str
) -> None:
    path = write_csv(tmp_path, column, text)

    expected = grammar_verdict(text, column)

    assert csv_verdict(path, column) == expected
    assert training_verdict(path, column) == expected
    assert parquet_verdict(text, column) == expected


def test_n_a_is_no_missing_value_in_any_path(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "x", "n/a")

    verdicts = {
        "training": training_verdict(path, "x"),
        "batch csv": csv_verdict(path, "x"),
        "batch parquet": parquet_verdict("n/a", "x"),
        "batch jsonl": jsonl_verdict("n/a", "x"),
        "http": http_verdict("n/a", "x"),
    }

    assert verdicts == dict.fromkeys(verdicts, "WRONG_TYPE")


@pytest.mark.parametrize("column", ["x", "b"])
@pytest.mark.parametrize(
    "value", [42, 42.5, -0.0, 1e7, 2e6, True, False, 0, 1, 2, None, "42", "n/a", "", [1], {"a": 1}]
)
def test_a_json_value_gets_one_verdict_in_jsonl_and_http(column: str, value: Any) -> None:
    assert jsonl_verdict(value, column) == http_verdict(value, column)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="0123456789+-.eEnaifNIAty /\t", max_size=8))
def test_any_text_gets_the_grammars_verdict_in_the_batch_path(text: str) -> None:
    frame = pd.DataFrame({"id": ["a", "b"], "x": [text, "1"], "b": [text, "1"]})
    rejections = validate(frame, CONTRACT).rejections
    first = rejections[rejections["row_number"] == 1]
    for column in ("x", "b"):
        assert verdict(first, column) == grammar_verdict(text, column), (column, text)


LABELS = ["1", "1.0", " 1 ", "01", "true", "TRUE", "0", "0.0", "false", "n/a", "yes", "2.50"]


@pytest.mark.parametrize("text", LABELS)
def test_a_label_is_spelled_alike_by_training_and_the_labels_loader(text: str) -> None:
    data = pd.DataFrame({"id": ["a"], "y": [text]}).to_csv(index=False).encode()
    prepared = check_labels(
        io.BytesIO(data),
        "l.csv",
        LabelColumns("id", "y"),
        task="binary_classification",
        positive_label=1,
        loaded_at=pd.Timestamp("2026-01-01", tz="UTC").to_pydatetime(),
    )
    table = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)

    assert prepared.rows["label"].tolist() == [label_text(text)]
    assert label_texts(table, "y").tolist() == [label_text(text)]


@pytest.mark.parametrize(("value", "text"), [(1, "1"), (1.0, "1"), (True, "1"), ("1", "1")])
def test_a_typed_label_is_spelled_as_its_text(value: Any, text: str) -> None:
    assert label_texts(pd.DataFrame({"y": [value]}), "y").tolist() == [text]
