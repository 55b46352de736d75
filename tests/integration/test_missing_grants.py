"""What each function does when infra/ lacks a grant it needs: a stack enforcing a copy of infra/
with three grants taken out, one per function. Each meets the 403 Google Cloud would answer, and
handles it as it must: the batch function's event is retried, then dead-lettered, with nothing
loaded twice; the HTTP function still answers and its log of the request is refused, never the
answer; the retrain check is recorded as failed, naming the permission."""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudscore.demo_data import LABEL_COLUMN, iter_demo_frames, write_demo_data
from local_emulator import stack
from local_emulator.iam.hcl import INFRA
from local_emulator.iam.usage import Usage, usage_file
from local_emulator.inbox import drop, wait_for_runs
from local_emulator.scheduler import publish_tick
from local_emulator.settings import StackSettings
from shared import clients
from shared.errors import LocalStackError
from tests.conftest import project_file, start_stack
from tests.integration.batch_support import counts
from tests.integration.conftest import promote_a_champion
from tests.integration.waiting import wait_for

pytestmark = pytest.mark.stack

# (account, table or account) whose grant is taken out of the copy of infra/iam.tf: the batch
# function's right to act as the pipeline's workers is the last.
TAKEN_OUT = (
    ("score_file", "scoring_runs"),
    ("predict_rows", "online_predictions"),
    ("retrain_model", "labels"),
    ("score_file", "dataflow_worker"),
)
# Files above this go to the pipeline (the stack's batch function reads it at `up`).
HANDOFF_BYTES = 100_000


def without_grant(iam: str, function: str, table: str) -> str:
    """infra/iam.tf's text without `function`'s grant on `table` in `account_roles`."""
    start = iam.index(f"    {function} = {{")
    line = re.compile(rf"^\s+{table}\s+= \"[^\"]+\"\n", re.MULTILINE)
    end = iam.index("\n    }\n", start)  # the end of that account's entry
    found = line.search(iam, start, end)
    assert found is not None, (function, table)
    return iam[: found.start()] + iam[found.end() :]


@pytest.fixture(scope="module")
def short_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackSettings]:
    folder = tmp_path_factory.mktemp("missing-grants")
    infra = folder / "infra"
    shutil.copytree(INFRA, infra, ignore=shutil.ignore_patterns(".terraform"))
    text = (infra / "iam.tf").read_text()
    for function, table in TAKEN_OUT:
        text = without_grant(text, function, table)
    (infra / "iam.tf").write_text(text)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CLOUDSCORE_BATCH_HANDOFF_BYTES", str(HANDOFF_BYTES))
        settings = start_stack(
            folder / "stack", infra_dir=infra, project_file=project_file(folder, "short-loans")
        )
    try:
        yield settings
    finally:
        stack.down(settings)


@pytest.fixture(scope="module")
def champion(short_stack: StackSettings) -> str:
    return promote_a_champion(short_stack, time_budget_s=4)


def refused(settings: StackSettings) -> dict[str, dict[str, list[str]]]:
    return Usage.read(usage_file(settings.state_dir)).denied


def test_the_batch_functions_event_is_retried_then_dead_lettered_and_nothing_is_loaded_twice(
    short_stack: StackSettings, champion: str, tmp_path: Path
) -> None:
    data = write_demo_data(tmp_path / "apps.csv", rows=200, seed=3, bad_rows=0.05)
    uri, generation = drop(short_stack, data.out)

    with pytest.raises(LocalStackError) as waited:
        wait_for_runs(short_stack, [(uri, generation)], timeout_s=120)

    said = str(waited.value)
    attempts = short_stack.delivery.max_attempts
    assert f"dead-lettered after {attempts} attempts" in said
    table = f"{short_stack.project}:{short_stack.dataset}.scoring_runs"
    assert f"Permission bigquery.tables.updateData denied on table {table}" in said
    # Every attempt scored the file up to its run record: its rows were loaded once.
    assert counts(short_stack, uri) == (200 - data.bad_rows, 200 - data.bad_rows, data.bad_rows)
    assert "bigquery.tables.updateData" in refused(short_stack)["score_file"]


def test_the_http_function_answers_and_its_log_of_the_request_is_refused(
    short_stack: StackSettings, champion: str
) -> None:
    frame = next(iter_demo_frames(2, seed=9, drift=0.0, bad_rows=0.0, chunk_rows=2))
    body = json.loads(frame.drop(columns=[LABEL_COLUMN]).to_json(orient="records"))
    request_id = f"r-{uuid.uuid4().hex[:8]}"
    request = urllib.request.Request(
        short_stack.url("predict_rows") + "/",
        data=json.dumps({"instances": body}).encode(),
        headers={"Content-Type": "application/json", "X-Request-Id": request_id},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answered = json.loads(response.read())

    assert response.status == 200 and len(answered["predictions"]) == 2
    wait_for(
        lambda: "bigquery.tables.updateData" in refused(short_stack).get("predict_rows", {}),
        timeout_s=60,
        what="the prediction log's load to be refused",
    )
    bq = clients.bigquery_client(short_stack.project, short_stack.endpoints())
    rows = bq.query(
        f"SELECT COUNT(*) AS n FROM `{short_stack.project}.{short_stack.dataset}."
        f"online_predictions` WHERE request_id = '{request_id}'"
    ).result()
    assert next(iter(rows))["n"] == 0


def test_the_retrain_check_is_recorded_as_failed_naming_the_permission(
    short_stack: StackSettings, champion: str
) -> None:
    publish_tick(short_stack, "test")
    bq = clients.bigquery_client(short_stack.project, short_stack.endpoints())
    table = f"{short_stack.project}.{short_stack.dataset}.monitoring_runs"

    def failed_runs() -> list[dict[str, object]]:
        rows = bq.query(f"SELECT * FROM `{table}` WHERE decision = 'failed'").result()
        return [dict(row) for row in rows]

    (run,) = wait_for(failed_runs, timeout_s=120, what="the failed check's record")

    labels = f"{short_stack.project}:{short_stack.dataset}.labels"
    assert f"Permission bigquery.tables.getData denied on table {labels}" in str(run["reason"])
    assert run["champion_version"] == champion


def test_a_launch_as_the_workers_without_the_grant_is_refused_and_no_job_runs(
    short_stack: StackSettings, champion: str, tmp_path: Path
) -> None:
    data = write_demo_data(tmp_path / "big.csv", rows=800, seed=4)
    assert data.out.stat().st_size > HANDOFF_BYTES
    uri, generation = drop(short_stack, data.out)

    with pytest.raises(LocalStackError) as waited:
        wait_for_runs(short_stack, [(uri, generation)], timeout_s=120)

    said = str(waited.value)
    worker = short_stack.pipeline_settings()["CLOUDSCORE_PIPELINE_SERVICE_ACCOUNT"]
    assert f"dead-lettered after {short_stack.delivery.max_attempts} attempts" in said
    assert "Permission 'iam.serviceAccounts.actAs' denied" in said and worker in said
    assert refused(short_stack)["score_file"]["iam.serviceAccounts.actAs"] == [
        f"projects/{short_stack.project}/serviceAccounts/{worker}"
    ]
    # Nothing was launched, nothing loaded, and the file waits in the inbox.
    jobs = list((short_stack.state_dir / "data" / "dataflow" / "jobs").glob("*.json"))
    assert jobs == []
    assert counts(short_stack, uri) == (0, 0, 0)
    inbox = clients.storage_client(short_stack.project, short_stack.endpoints()).bucket(
        short_stack.inbox_bucket
    )
    assert inbox.get_blob(uri.split("/", 3)[3]) is not None
