"""The pipeline through the local cloud: a file above the hand-off size dropped in the inbox is
scored by the pipeline (the local Dataflow, Beam's DirectRunner), once, even when its event is
delivered three times; `cloudscore backfill` on 20 files gives exactly the rows the batch
function gives for the same files, and a second backfill adds nothing."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cloudscore.demo_data import write_demo_data
from local_emulator import stack
from local_emulator.bridge import post, to_cloud_event
from local_emulator.dataflow.jobs import ACTIVE
from local_emulator.inbox import drop, wait_for_runs
from local_emulator.settings import StackSettings
from shared import clients
from shared.dataflow import file_job_name
from shared.scoring.claims import Claim
from tests.conftest import project_file, start_stack
from tests.integration.conftest import promote_a_champion

pytestmark = pytest.mark.stack
pytest.importorskip("apache_beam", reason="the pipeline needs the 'beam' extra")
pytest.importorskip("cloudscore.pipeline", reason="the pipeline is not in this checkout")

# Files above this go to the pipeline (the stack's batch function reads it at `up`).
HANDOFF_BYTES = 150_000


@pytest.fixture(scope="module")
def pipeline_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackSettings]:
    folder = tmp_path_factory.mktemp("pipeline")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CLOUDSCORE_BATCH_HANDOFF_BYTES", str(HANDOFF_BYTES))
        settings = start_stack(
            folder / "stack", project_file=project_file(folder, "pipeline-loans")
        )
    try:
        promote_a_champion(settings, time_budget_s=4)
        yield settings
    finally:
        stack.down(settings)


def _query(settings: StackSettings, sql: str) -> list[dict[str, Any]]:
    bq = clients.bigquery_client(settings.project, settings.endpoints())
    dataset = f"`{settings.project}.{settings.dataset}"
    return [dict(row) for row in bq.query(sql.replace("`DS", dataset)).result()]


def _redeliver(settings: StackSettings, uri: str, generation: int, size: int) -> int | None:
    """The file's notification delivered to the batch function once more, as Eventarc would
    deliver it again."""
    bucket, name = uri.removeprefix("gs://").split("/", 1)
    resource = {"bucket": bucket, "name": name, "generation": str(generation), "size": str(size)}
    trigger = next(t for t in settings.triggers() if t.function == "score_file")
    delivery = to_cloud_event(
        trigger,
        settings.project,
        message_id=f"again-{uuid.uuid4().hex[:12]}",
        data=json.dumps(resource).encode(),
        attributes={"eventType": "OBJECT_FINALIZE", "bucketId": bucket, "objectId": name},
        publish_time=datetime.now(UTC),
    )
    code, _ = post(settings.url("score_file"), delivery, timeout_s=120)
    return code


def _jobs_named(settings: StackSettings, name: str, *, until_finished_s: float) -> list[Any]:
    """The local Dataflow's records of the jobs named `name`, once none is running (or the time
    is up)."""
    jobs_dir = settings.state_dir / "data" / "dataflow" / "jobs"
    deadline = time.monotonic() + until_finished_s
    while True:
        records = [json.loads(p.read_text()) for p in sorted(jobs_dir.glob("*.json"))]
        named = [r for r in records if r["name"] == name]
        active = [r for r in named if r["state"] in ACTIVE]
        if not active or time.monotonic() > deadline:
            return named
        time.sleep(1)


def test_a_file_above_the_handoff_size_is_scored_by_the_pipeline_once_despite_three_deliveries(
    pipeline_stack: StackSettings, tmp_path: Path
) -> None:
    settings = pipeline_stack
    data = write_demo_data(tmp_path / "big.csv", rows=1500, seed=5, bad_rows=0.02)
    size = data.out.stat().st_size
    assert size > HANDOFF_BYTES
    uri, generation = drop(settings, data.out)
    # Two more deliveries of the same event, while the first is handled or just after.
    with ThreadPoolExecutor(2) as pool:
        codes = list(pool.map(lambda _: _redeliver(settings, uri, generation, size), range(2)))

    (run,) = wait_for_runs(settings, [(uri, generation)], timeout_s=300)

    assert all(c is not None and 200 <= c < 300 for c in codes), codes
    assert (run["status"], run["rows_in"]) == ("partially_rejected", 1500)
    assert run["rows_scored"] + run["rows_rejected"] == run["rows_in"]
    assert run["rows_rejected"] == data.bad_rows
    runs = _query(settings, f"SELECT * FROM `DS.scoring_runs` WHERE source_uri = '{uri}'")
    handed = [r for r in runs if r["status"] == "handed_off"]
    # One hand-off record, one final record, of one run.
    assert len(runs) == 2 and len(handed) == 1
    assert handed[0]["run_id"] == run["run_id"]
    job_id = str(handed[0]["reason"]).split("Dataflow job ", 1)[1].split(" ", 1)[0]
    (count,) = _query(
        settings,
        f"SELECT COUNT(*) AS n, COUNT(DISTINCT row_number) AS d FROM `DS.predictions` "
        f"WHERE source_uri = '{uri}'",
    )
    assert count == {"n": 1500 - data.bad_rows, "d": 1500 - data.bad_rows}
    # One job of the file's name, whatever the deliveries: the local Dataflow's own records.
    # The run's row is written before the file is moved and the job ends: wait for its end.
    claim = Claim(uri, generation, settings.model_name, run["model_version"], "", "", 0)
    named = _jobs_named(settings, file_job_name(claim.key), until_finished_s=120)
    assert [(j["id"], j["state"]) for j in named] == [(job_id, "JOB_STATE_DONE")]
    # The pipeline moved the file as the batch function does.
    inbox = clients.storage_client(settings.project, settings.endpoints()).bucket(
        settings.inbox_bucket
    )
    name = uri.split("/", 3)[3]
    assert inbox.get_blob(name) is None
    assert inbox.get_blob(f"processed/{generation}/{name.removeprefix('incoming/')}") is not None
    # Delivered once more after the pipeline recorded the run: acknowledged, nothing launched.
    assert _acknowledged(_redeliver(settings, uri, generation, size))
    assert len(_runs_of(settings, uri)) == 2
    again = _jobs_named(settings, file_job_name(claim.key), until_finished_s=0)
    assert [j["id"] for j in again] == [job_id]


def _job_of(settings: StackSettings, source: str, within_s: float) -> dict[str, Any]:
    """The local Dataflow's record of the first job launched on `source`, as soon as there is
    one (its file is written before the job's process starts)."""
    jobs_dir = settings.state_dir / "data" / "dataflow" / "jobs"
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        for path in sorted(jobs_dir.glob("*.json")):
            with contextlib.suppress(OSError, ValueError):
                record = json.loads(path.read_text())
                if record["options"].get("sources") == source:
                    return dict(record)
        time.sleep(0.02)
    raise AssertionError(f"no Dataflow job was launched on {source} within {within_s} s")


def _acknowledged(code: int | None) -> bool:
    """Whether the function answered a delivery as done (Eventarc does not deliver it again)."""
    return code is not None and 200 <= code < 300


def _runs_of(settings: StackSettings, uri: str) -> list[dict[str, Any]]:
    return _query(settings, f"SELECT * FROM `DS.scoring_runs` WHERE source_uri = '{uri}'")


@pytest.mark.parametrize("how", ["deleted", "overwritten"])
def test_a_handed_off_file_gone_before_its_job_reads_it_is_a_failed_run_and_redelivery_ends(
    pipeline_stack: StackSettings, tmp_path: Path, how: str
) -> None:
    settings = pipeline_stack
    data = write_demo_data(tmp_path / f"{how}.csv", rows=1500, seed=6)
    size = data.out.stat().st_size
    assert size > HANDOFF_BYTES
    uri, generation = drop(settings, data.out, name=f"{uuid.uuid4().hex[:6]}-{how}.csv")
    name = uri.split("/", 3)[3]
    inbox = clients.storage_client(settings.project, settings.endpoints()).bucket(
        settings.inbox_bucket
    )
    # Gone as soon as its job is launched: long before the job (a process that imports Beam
    # first) reads it.
    job = _job_of(settings, f"{uri}#{generation}", within_s=120)
    if how == "deleted":
        inbox.delete_blob(name, if_generation_match=generation)
        newer = None
    else:
        small = write_demo_data(tmp_path / "newer.csv", rows=40, seed=7)
        newer = drop(settings, small.out, name=name.removeprefix("incoming/"))

    (run,) = wait_for_runs(settings, [(uri, generation)], timeout_s=300)

    assert run["status"] == "failed"
    assert (run["rows_in"], run["rows_scored"], run["rows_rejected"]) == (0, 0, 0)
    reason = str(run["reason"])
    assert reason == (
        f"{uri} generation {generation} was deleted or overwritten before it could be read in "
        "full (a newer generation is a file of its own, scored by its own event); no row was "
        "loaded"
    )
    if newer is not None:
        (newer_run,) = wait_for_runs(settings, [newer], timeout_s=120)
        assert (newer_run["status"], newer_run["rows_in"]) == ("succeeded", 40)
    assert _query(
        settings,
        f"SELECT COUNT(*) AS n FROM `DS.predictions` WHERE source_uri = '{uri}' "
        f"AND source_generation = {generation}",
    ) == [{"n": 0}]
    # The job did its work: it recorded the run.
    (ended,) = _jobs_named(settings, job["name"], until_finished_s=120)
    assert (ended["id"], ended["state"]) == (job["id"], "JOB_STATE_DONE")
    # The event delivered again is acknowledged: no job launched again, no row added.
    assert _acknowledged(_redeliver(settings, uri, generation, size))
    own = [r for r in _runs_of(settings, uri) if int(r["source_generation"]) == generation]
    assert sorted(r["status"] for r in own) == ["failed", "handed_off"]
    assert [j["id"] for j in _jobs_named(settings, job["name"], until_finished_s=0)] == [job["id"]]


def test_a_handed_off_file_gone_before_the_function_launches_its_job_launches_none(
    pipeline_stack: StackSettings,
) -> None:
    settings = pipeline_stack
    # The event of a generation deleted before its delivery is handled.
    uri = f"gs://{settings.inbox_bucket}/incoming/{uuid.uuid4().hex[:6]}-gone-early.csv"
    generation, size = 1_700_000_000_000_001, HANDOFF_BYTES * 2

    assert _acknowledged(_redeliver(settings, uri, generation, size))

    (run,) = _runs_of(settings, uri)
    assert (run["status"], run["rows_in"]) == ("failed", 0)
    reason = str(run["reason"])
    assert reason.startswith(f"{uri} generation {generation} was deleted or overwritten "), reason
    assert reason.endswith("; no row was loaded"), reason
    jobs_dir = settings.state_dir / "data" / "dataflow" / "jobs"
    sources = [json.loads(p.read_text())["options"]["sources"] for p in jobs_dir.glob("*.json")]
    assert not [s for s in sources if s.startswith(uri)]
    assert _acknowledged(_redeliver(settings, uri, generation, size))
    assert len(_runs_of(settings, uri)) == 1


# --- backfill ------------------------------------------------------------------------------------

FORMATS = (".csv", ".parquet", ".jsonl", ".csv.gz")


def _files(folder: Path) -> list[Path]:
    """20 small files in every format the batch function reads; one with bad rows."""
    made = []
    for i in range(20):
        out = folder / f"apps-{i:02d}{FORMATS[i % len(FORMATS)]}"
        write_demo_data(out, rows=60 + i, seed=100 + i, bad_rows=0.2 if i == 7 else 0.0)
        made.append(out)
    return made


_PREDICTION_COLUMNS = "row_number, record_id, model_version, score, predicted_label"
_REJECTION_COLUMNS = "row_number, column_name, reason_code, reason, raw_value"


def _rows_by_file(settings: StackSettings, prefix: str) -> dict[str, Any]:
    """Per file name (after `prefix`): its predictions, rejected rows and run counts."""
    found: dict[str, Any] = {}
    where = f"WHERE STARTS_WITH(source_uri, 'gs://{settings.inbox_bucket}/{prefix}')"
    for table, columns in (
        ("predictions", _PREDICTION_COLUMNS),
        ("rejected_rows", _REJECTION_COLUMNS),
    ):
        for row in _query(settings, f"SELECT source_uri, {columns} FROM `DS.{table}` {where}"):
            name = row.pop("source_uri").rsplit("/", 1)[1].split("-", 1)[1]
            found.setdefault(name, {}).setdefault(table, []).append(row)
    for row in _query(
        settings,
        f"SELECT source_uri, status, rows_in, rows_scored, rows_rejected FROM "
        f"`DS.scoring_runs` {where} AND status != 'handed_off'",
    ):
        name = row.pop("source_uri").rsplit("/", 1)[1].split("-", 1)[1]
        found.setdefault(name, {}).setdefault("runs", []).append(row)
    for rows in found.values():
        for key in rows:
            rows[key].sort(key=lambda r: json.dumps(r, sort_keys=True, default=str))
    return found


def _backfill(settings: StackSettings, *sources: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDSCORE_")}
    env["CLOUDSCORE_LOCAL_DIR"] = str(settings.state_dir)
    cli = shutil.which("cloudscore", path=str(Path(sys.executable).parent))
    assert cli is not None
    return subprocess.run(
        [cli, "backfill", *sources, "--timeout", "600"],
        capture_output=True,
        text=True,
        env=env,
        timeout=700,
        check=False,
    )


def test_backfill_of_20_files_gives_what_the_batch_function_gives_and_a_second_adds_nothing(
    pipeline_stack: StackSettings, tmp_path: Path
) -> None:
    settings = pipeline_stack
    files = _files(tmp_path)
    tag = uuid.uuid4().hex[:6]
    storage = clients.storage_client(settings.project, settings.endpoints())
    inbox = storage.bucket(settings.inbox_bucket)
    # The batch function scores each file dropped in the inbox…
    dropped = [drop(settings, path, name=f"{tag}-{path.name}") for path in files]
    wait_for_runs(settings, dropped, timeout_s=300)
    # …and the backfill scores the same files kept elsewhere in the bucket.
    for path in files:
        inbox.blob(f"backfill-{tag}/{tag}-{path.name}").upload_from_filename(str(path))

    first = _backfill(settings, f"gs://{settings.inbox_bucket}/backfill-{tag}/*")
    by_function = _rows_by_file(settings, f"incoming/{tag}-")
    by_pipeline = _rows_by_file(settings, f"backfill-{tag}/")
    second = _backfill(settings, f"gs://{settings.inbox_bucket}/backfill-{tag}/*")
    again = _rows_by_file(settings, f"backfill-{tag}/")

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    # The second is a job of its own, which finds every file scored already.
    assert "launched Dataflow job" in second.stderr, second.stderr
    assert len(by_pipeline) == 20
    for name, rows in by_pipeline.items():
        (run,) = rows["runs"]
        assert run["rows_in"] == run["rows_scored"] + run["rows_rejected"], name
        assert run["rows_scored"] == len(rows.get("predictions", [])), name
        rejected = {r["row_number"] for r in rows.get("rejected_rows", [])}
        assert run["rows_rejected"] == len(rejected), name
    bad = next(rows for name, rows in by_pipeline.items() if "apps-07" in name)
    assert bad["runs"][0]["rows_rejected"] > 0
    assert by_pipeline == by_function
    assert again == by_pipeline
