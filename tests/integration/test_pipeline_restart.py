"""The scoring pipeline killed midway and launched again, against the local cloud's BigQuery and
Cloud Storage: every row lands exactly once and the file's run is recorded once, right."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from cloudscore.demo_data import write_demo_data
from local_emulator.settings import StackSettings
from shared import clients
from shared.scoring.claims import run_key
from tests.integration.batch_support import counts, run_row

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]
ROWS = 4000


def launch(local_stack: StackSettings, uri: str, split_bytes: int) -> subprocess.Popen[bytes]:
    """`python -m cloudscore.pipeline` on the in-process DirectRunner, as a person launches a
    backfill (the project's owner, against the emulators)."""
    settings = {**local_stack.function_config().to_env(), "CLOUDSCORE_BATCH_CHUNK_ROWS": "100"}
    argv = [
        sys.executable,
        "-m",
        "cloudscore.pipeline",
        f"--sources={uri}",
        f"--split_bytes={split_bytes}",
        "--settings=" + json.dumps(settings),
    ]
    env = {**os.environ, **local_stack.emulator_env()}
    return subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: killed whole, by its id
    )


def duplicates(local_stack: StackSettings, uri: str) -> tuple[int, int]:
    """Rows of predictions and of rejected_rows that are there more than once."""
    bq = clients.bigquery_client(local_stack.project, local_stack.endpoints())
    dataset = f"{local_stack.project}.{local_stack.dataset}"
    found = []
    for table, keys in (
        ("predictions", "row_number"),
        ("rejected_rows", "row_number, column_name"),
    ):
        sql = (
            f"SELECT COUNT(*) AS n FROM (SELECT {keys} FROM `{dataset}.{table}` "
            f"WHERE source_uri = '{uri}' GROUP BY {keys} HAVING COUNT(*) > 1)"
        )
        found.append(int(next(iter(bq.query(sql).result()))["n"]))
    return found[0], found[1]


def run_ids(local_stack: StackSettings, uri: str) -> list[str]:
    bq = clients.bigquery_client(local_stack.project, local_stack.endpoints())
    sql = (
        f"SELECT DISTINCT run_id FROM `{local_stack.project}.{local_stack.dataset}.predictions` "
        f"WHERE source_uri = '{uri}'"
    )
    return [row["run_id"] for row in bq.query(sql).result()]


def test_a_pipeline_killed_midway_and_launched_again_lands_each_row_once(
    local_stack: StackSettings, champion: str, tmp_path: Path
) -> None:
    data = write_demo_data(tmp_path / "backfill.csv", rows=ROWS, seed=21, bad_rows=0.05)
    name = f"backfill/{uuid.uuid4().hex[:8]}.csv"
    blob = (
        clients.storage_client(local_stack.project, local_stack.endpoints())
        .bucket(local_stack.inbox_bucket)
        .blob(name)
    )
    blob.upload_from_filename(str(data.out))
    uri = f"gs://{local_stack.inbox_bucket}/{name}"
    size = data.out.stat().st_size
    split_bytes = size // 24 + 1  # 24 splits, 48 load jobs

    first = launch(local_stack, uri, split_bytes)
    try:
        deadline = time.monotonic() + 240
        while counts(local_stack, uri)[0] == 0:
            assert first.poll() is None, first.communicate()[0].decode()[-3000:]
            assert time.monotonic() < deadline, "no split was loaded in time"
            time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    scored_before_kill = counts(local_stack, uri)[0]
    assert 0 < scored_before_kill < ROWS - data.bad_rows, "killed too late: every split loaded"
    assert run_row(local_stack, uri) is None

    # Launched again with another split size: the file is cut as the first launch recorded.
    second = launch(local_stack, uri, split_bytes * 3)
    output = second.communicate(timeout=300)[0].decode()
    assert second.returncode == 0, output[-3000:]

    run = run_row(local_stack, uri)
    assert run is not None and "duplicates" not in run
    assert run["status"] == "partially_rejected"
    assert run["model_version"] == champion
    assert run["rows_in"] == ROWS == run["rows_scored"] + run["rows_rejected"]
    assert run["rows_rejected"] == data.bad_rows
    assert counts(local_stack, uri) == (run["rows_scored"], run["rows_scored"], data.bad_rows)
    assert duplicates(local_stack, uri) == (0, 0)
    assert run_ids(local_stack, uri) == [run["run_id"]]  # both launches scored as one run
    key = run_key(uri, int(blob.generation), local_stack.model_name, champion)
    plan = json.loads(blob.bucket.blob(f"_plans/{key}.json").download_as_bytes())
    assert plan["split_bytes"] == split_bytes

    # A third launch finds the run recorded and adds nothing.
    third = launch(local_stack, uri, split_bytes)
    output = third.communicate(timeout=300)[0].decode()
    assert third.returncode == 0, output[-3000:]
    assert counts(local_stack, uri) == (run["rows_scored"], run["rows_scored"], data.bad_rows)
    assert run_row(local_stack, uri) == run
