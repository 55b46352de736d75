"""A file dropped in the inbox ends up, row for row, in BigQuery: through the real bridge and the
real batch function of the local cloud, with a champion trained for the stack's model."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cloudscore.demo_data import LABEL_COLUMN, iter_demo_frames, write_demo_data
from local_emulator.bridge import post
from local_emulator.settings import StackSettings
from shared import clients
from tests.integration.batch_support import counts, drop, finalize_event, run_row
from tests.integration.waiting import wait_for

pytestmark = pytest.mark.stack


def test_every_row_of_a_dropped_file_lands_once_in_predictions_or_rejected_rows(
    local_stack: StackSettings, champion: str, tmp_path: Path
) -> None:
    data = write_demo_data(tmp_path / "apps.csv", rows=1000, seed=5, bad_rows=0.1)
    uri, generation = drop(local_stack, data.out)

    run = wait_for(lambda: run_row(local_stack, uri), timeout_s=60, what="the scoring run")

    assert run["model_version"] == champion
    assert run["source_generation"] == generation
    assert run["rows_in"] == 1000 == run["rows_scored"] + run["rows_rejected"]
    assert run["rows_rejected"] == data.bad_rows
    assert run["status"] == "partially_rejected"
    assert counts(local_stack, uri) == (run["rows_scored"], run["rows_scored"], data.bad_rows)
    bucket = clients.storage_client(local_stack.project, local_stack.endpoints()).bucket(
        local_stack.inbox_bucket
    )
    name = uri.removeprefix(f"gs://{local_stack.inbox_bucket}/")
    moved = f"processed/{generation}/{name.removeprefix('incoming/')}"
    assert bucket.get_blob(moved) is not None
    # The original goes last, after the run is recorded.
    wait_for(lambda: bucket.get_blob(name) is None, what="the original's removal")


def test_the_same_event_delivered_three_times_adds_no_row(
    local_stack: StackSettings, champion: str, tmp_path: Path
) -> None:
    data = write_demo_data(tmp_path / "apps.parquet", rows=500, seed=6, bad_rows=0.05)
    uri, generation = drop(local_stack, data.out)
    wait_for(lambda: run_row(local_stack, uri), timeout_s=60, what="the first scoring run")
    delivery = finalize_event(local_stack, uri, generation)

    with ThreadPoolExecutor(3) as pool:
        statuses = list(
            pool.map(lambda _: post(local_stack.url("score_file") + "/", delivery, 60)[0], range(3))
        )

    assert statuses == [200, 200, 200]
    run = run_row(local_stack, uri)
    assert run is not None and "duplicates" not in run
    assert counts(local_stack, uri) == (
        run["rows_scored"],
        run["rows_scored"],
        run["rows_rejected"],
    )
    assert run["rows_in"] == 500


def test_a_file_without_a_required_column_is_quarantined_whole(
    local_stack: StackSettings, champion: str, tmp_path: Path
) -> None:
    path = tmp_path / "partial.csv"
    frame = next(iter_demo_frames(50, seed=7, drift=0.0, bad_rows=0.0, chunk_rows=50))
    frame.drop(columns=["credit_score", LABEL_COLUMN]).to_csv(path, index=False)
    uri, generation = drop(local_stack, path)

    run = wait_for(lambda: run_row(local_stack, uri), timeout_s=60, what="the scoring run")

    assert run["status"] == "rejected"
    assert "credit_score" in run["reason"]
    assert counts(local_stack, uri) == (0, 0, 0)
    name = uri.split("/", 3)[3].removeprefix("incoming/")
    bucket = clients.storage_client(local_stack.project, local_stack.endpoints()).bucket(
        local_stack.inbox_bucket
    )
    assert bucket.get_blob(f"quarantine/{generation}/{name}") is not None


def test_local_drop_prints_the_run_of_each_file_and_fails_for_a_rejected_one(
    local_stack: StackSettings, champion: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cloudscore.cli import main

    good = write_demo_data(tmp_path / f"{uuid.uuid4().hex[:6]}.csv", rows=300, seed=21)
    state = ["--state-dir", str(local_stack.state_dir)]

    assert main(["local", "drop", str(good.out), *state]) == 0
    out = capsys.readouterr().out
    uri = f"gs://{local_stack.inbox_bucket}/incoming/{good.out.name}"
    assert out.startswith(uri)
    assert f"300 in = {300 - good.bad_rows} scored + {good.bad_rows} rejected" in out
    assert f"model version  {champion}" in out
    assert counts(local_stack, uri) == (300 - good.bad_rows, 300 - good.bad_rows, good.bad_rows)

    empty = tmp_path / f"{uuid.uuid4().hex[:6]}.csv"
    empty.write_bytes(b"")
    assert main(["local", "drop", str(empty), *state]) == 1
    assert "status         rejected: " in capsys.readouterr().out

    assert main(["local", "drop", str(tmp_path / "nope.csv"), *state]) == 2
    assert "no such file" in capsys.readouterr().err
