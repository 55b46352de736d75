"""A BigQuery table as the pipeline's source, against the local cloud's BigQuery: its rows give
the predictions and rejections the same rows give as a Parquet file, numbered in table order."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from cloudscore.demo_data import write_demo_data
from cloudscore.pipeline import run
from local_emulator.settings import StackSettings
from shared import clients

pytestmark = pytest.mark.stack

ROWS = 1500
PREDICTION_COLUMNS = ["record_id", "predicted_label", "score", "model_version", "row_number"]
REJECTION_COLUMNS = ["row_number", "column_name", "reason_code", "raw_value"]


def score(local_stack: StackSettings, source: str, out: Path, *extra: str) -> str:
    settings = {**local_stack.function_config().to_env(), "CLOUDSCORE_BATCH_CHUNK_ROWS": "200"}
    result = run(
        [f"--sources={source}", f"--output_dir={out}", "--settings=" + json.dumps(settings), *extra]
    )
    assert len(result.files) == 1
    return result.files[0].line()


def table(out: Path, name: str, columns: list[str]) -> pd.DataFrame:
    frames = [pd.read_parquet(p) for p in sorted((out / name).glob("*.parquet"))]
    frame = pd.concat(frames, ignore_index=True)[columns]
    return frame.sort_values(columns[:2], ignore_index=True)


def test_a_table_scores_as_the_same_rows_in_a_parquet_file(
    local_stack: StackSettings,
    champion: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in local_stack.emulator_env().items():
        monkeypatch.setenv(name, value)
    data = write_demo_data(tmp_path / "rows.parquet", rows=ROWS, seed=31, bad_rows=0.05)
    bq = clients.bigquery_client(local_stack.project, local_stack.endpoints())
    table_id = f"{local_stack.project}.{local_stack.dataset}.source_{uuid.uuid4().hex[:8]}"
    from google.cloud import bigquery

    types = {"int64": "INT64", "double": "FLOAT64", "string": "STRING", "bool": "BOOL"}
    arrow = pq.read_schema(data.out)
    schema = [bigquery.SchemaField(f.name, types[str(f.type)]) for f in arrow]
    bq.create_table(bigquery.Table(table_id, schema=schema))
    with data.out.open("rb") as parquet:
        bq.load_table_from_file(
            parquet,
            table_id,
            job_config=bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.PARQUET),
            location=local_stack.region,
        ).result()

    from_file = score(local_stack, str(data.out), tmp_path / "file")
    # Splits of a few hundred rows: each read by its own range of row indexes.
    from_table = score(local_stack, f"bq://{table_id}", tmp_path / "table", "--split_bytes=20000")

    assert f"{ROWS} rows in" in from_table and f"{data.bad_rows} rejected" in from_table
    assert (
        from_file.split(": ", 1)[1].split(" (run")[0]
        == from_table.split(": ", 1)[1].split(" (run")[0]
    )
    pd.testing.assert_frame_equal(
        table(tmp_path / "table", "predictions", PREDICTION_COLUMNS),
        table(tmp_path / "file", "predictions", PREDICTION_COLUMNS),
    )
    pd.testing.assert_frame_equal(
        table(tmp_path / "table", "rejected_rows", REJECTION_COLUMNS),
        table(tmp_path / "file", "rejected_rows", REJECTION_COLUMNS),
    )
    loads = [p.stem for p in (tmp_path / "table" / "predictions").glob("*.parquet")]
    assert len(loads) > 2 and all("-p-r" in name for name in loads)
    runs = pd.read_parquet(tmp_path / "table" / "scoring_runs")
    assert runs["source_uri"].tolist() == [f"bq://{table_id}"]
