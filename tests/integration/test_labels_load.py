"""`cloudscore labels load` against the local cloud: the rows of a demo labels file land in
`labels` once, however often and in whatever format it is loaded; a bad file loads nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from google.cloud import bigquery

from cloudscore.cli import main
from cloudscore.demo_data import ID_COLUMN, LABEL_COLUMN, write_demo_data
from local_emulator.settings import StackSettings
from shared import clients
from shared.tables import LABELS

pytestmark = pytest.mark.stack

REPO_CONFIG = Path(__file__).resolve().parents[2] / "cloudscore.toml"


@pytest.fixture
def labels_table(
    local_stack: StackSettings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[bigquery.Client, str]]:
    """A dataset of its own with an empty `labels` table, and the CLI pointed at it."""
    for name, value in local_stack.client_env().items():
        monkeypatch.setenv(name, value)
    dataset = f"labels_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("CLOUDSCORE_DATASET", dataset)
    client = clients.bigquery_client(local_stack.project, local_stack.endpoints())
    spec = bigquery.Dataset(f"{local_stack.project}.{dataset}")
    spec.location = "US"
    client.create_dataset(spec)
    table = f"{local_stack.project}.{dataset}.{LABELS.name}"
    client.create_table(bigquery.Table(table, schema=LABELS.schema()))
    yield client, table
    client.delete_dataset(spec, delete_contents=True, not_found_ok=True)


def rows_of(client: bigquery.Client, table: str) -> pd.DataFrame:
    result = client.query(
        f"SELECT record_id, label, labelled_at FROM `{table}` ORDER BY record_id"
    ).result()
    frame = result.to_arrow(create_bqstorage_client=False).to_pandas()
    frame["labelled_at"] = pd.to_datetime(frame["labelled_at"], utc=True)
    return frame.reset_index(drop=True)


def load(*argv: str) -> int:
    return main(["labels", "load", "--config", str(REPO_CONFIG), *argv])


def test_a_demo_labels_file_lands_row_for_row_once(
    labels_table: tuple[bigquery.Client, str],
    local_stack: StackSettings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client, table = labels_table
    csv = tmp_path / "labels.csv"
    write_demo_data(tmp_path / "apps.csv", 400, seed=31, labels_out=csv)
    written = pd.read_csv(csv, dtype=str, keep_default_na=False)

    assert load(str(csv)) == 0
    assert "400 loaded into" in capsys.readouterr().out

    landed = rows_of(client, table)
    assert landed["record_id"].tolist() == sorted(written[ID_COLUMN])
    by_id = written.set_index(ID_COLUMN)
    assert landed["label"].tolist() == by_id.loc[landed["record_id"], LABEL_COLUMN].tolist()
    expected_times = pd.to_datetime(by_id.loc[landed["record_id"], "labelled_at"], utc=True)
    assert landed["labelled_at"].tolist() == expected_times.tolist()

    # Again, and the same labels as Parquet from the bucket: the same rows, so the same job.
    parquet = tmp_path / "labels.parquet"
    write_demo_data(tmp_path / "apps.parquet", 400, seed=31, labels_out=parquet)
    storage = clients.storage_client(local_stack.project, local_stack.endpoints())
    blob = storage.bucket(local_stack.inbox_bucket).blob(f"labels/{uuid.uuid4().hex[:8]}.parquet")
    blob.upload_from_filename(str(parquet))
    uri = f"gs://{local_stack.inbox_bucket}/{blob.name}"

    assert load(str(csv), uri) == 0
    out = capsys.readouterr().out
    assert out.count("already loaded") == 2, out
    assert len(rows_of(client, table)) == 400


def test_a_bad_file_fails_the_command_and_nothing_is_loaded(
    labels_table: tuple[bigquery.Client, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client, table = labels_table
    good = tmp_path / "good.csv"
    write_demo_data(tmp_path / "apps.csv", 50, seed=32, labels_out=good)
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{ID_COLUMN},{LABEL_COLUMN},labelled_at\nAPP-1,1,2026-01-01\nAPP-2,1,someday\n")

    assert load(str(good), str(bad)) == 1

    err = capsys.readouterr().err
    assert "nothing was loaded" in err
    assert f"{bad} row 2, column 'labelled_at': expected an ISO 8601 timestamp" in err
    assert rows_of(client, table).empty
