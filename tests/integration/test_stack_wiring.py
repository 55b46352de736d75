"""The stack's own parts wired together: storage → bridge → batch function, scheduler → Pub/Sub →
retrain function, and the HTTP function on its port."""

from __future__ import annotations

import json
import urllib.request
import uuid
from pathlib import Path

import pytest

from local_emulator import pubsub
from local_emulator.settings import StackSettings
from local_emulator.worker import read_status
from shared import clients
from shared.config import BatchConfig, variables_of
from tests.integration.waiting import wait_for

pytestmark = pytest.mark.stack


def test_each_trigger_pulls_its_topic_and_the_inbox_publishes_only_incoming(
    local_stack: StackSettings, tmp_path: Path
) -> None:
    subscriber = pubsub.subscriber_client(local_stack.endpoints())
    publisher = pubsub.publisher_client(local_stack.endpoints())
    topics = {}
    for trigger in local_stack.triggers():
        subscription = subscriber.get_subscription(
            subscription=subscriber.subscription_path(local_stack.project, trigger.subscription)
        )
        assert not subscription.push_config.push_endpoint  # the local Eventarc pulls it
        topics[trigger.function] = subscription.topic.rsplit("/", 1)[1]
    assert topics == {
        "score_file": local_stack.inbox_topic,
        "retrain_model": local_stack.retrain_topic,
    }
    # The inbox's notification is filtered to incoming/, as infra/storage.tf's: an object
    # written anywhere else publishes nothing.
    name = subscriber.subscription_path(local_stack.project, f"test-inbox-{uuid.uuid4().hex[:8]}")
    subscriber.create_subscription(
        name=name, topic=publisher.topic_path(local_stack.project, local_stack.inbox_topic)
    )
    try:
        bucket = clients.storage_client(local_stack.project, local_stack.endpoints()).bucket(
            local_stack.inbox_bucket
        )
        key = uuid.uuid4().hex[:8]
        bucket.blob(f"_claims/{key}.json").upload_from_string(b"{}")
        bucket.blob(f"processed/{key}/a.csv").upload_from_string(b"a\n1\n")
        bucket.blob(f"incoming/{key}.csv").upload_from_string(b"a\n1\n")
        received = wait_for(
            lambda: (
                subscriber.pull(subscription=name, max_messages=10, timeout=5).received_messages
            ),
            what="the incoming file's notification",
        )
    finally:
        subscriber.delete_subscription(subscription=name)

    assert [m.message.attributes["objectId"] for m in received] == [f"incoming/{key}.csv"]


def test_a_function_process_sees_exactly_the_deployed_variables(local_stack: StackSettings) -> None:
    from local_emulator.stack import read_records

    record = next(r for r in read_records(local_stack) if r.component == "score_file")
    raw = Path(f"/proc/{record.pid}/environ").read_bytes().split(b"\0")
    env = dict(item.decode().split("=", 1) for item in raw if b"=" in item)

    ours = {k: v for k, v in env.items() if k.startswith("CLOUDSCORE_")}
    assert ours == {**local_stack.function_config().to_env(), **BatchConfig.from_env(ours).to_env()}
    assert sorted(ours) == sorted(variables_of("score_file"))
    assert env["FUNCTION_TARGET"] == env["K_SERVICE"] == "score_file"
    assert env["FUNCTION_SIGNATURE_TYPE"] == "cloudevent"
    # Cloud Storage, BigQuery and Dataflow through its own account's permission layer.
    assert env["STORAGE_EMULATOR_HOST"] == local_stack.url("iam_score_file")
    assert env["BIGQUERY_EMULATOR_HOST"] == local_stack.url("iam_score_file")
    assert env["DATAFLOW_EMULATOR_HOST"] == local_stack.url("iam_score_file")
    # Where the pipeline is, as infra/ tells the deployed function.
    assert {k: ours[k] for k in local_stack.pipeline_settings()} == local_stack.pipeline_settings()
    assert env["DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA"] == "true"
    # As many requests at once as the deployed function takes (instances x concurrency).
    assert env["THREADS"] == str(local_stack.capacity["score_file"].slots)
    allowed = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "TZ", "PYTHONUNBUFFERED"}
    platform = {"K_SERVICE", "K_REVISION", "K_CONFIGURATION", "FUNCTION_TARGET", "PORT", "THREADS"}
    platform |= {"DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA"}
    emulators = {"STORAGE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST"}
    emulators |= {"DATAFLOW_EMULATOR_HOST"}
    extra = set(env) - set(ours) - allowed - platform - emulators - {"FUNCTION_SIGNATURE_TYPE"}
    assert not extra, f"variables the cloud would not set: {sorted(extra)}"


def test_the_http_function_answers_on_its_port(local_stack: StackSettings, champion: str) -> None:
    with urllib.request.urlopen(local_stack.url("predict_rows") + "/", timeout=30) as response:
        body = json.loads(response.read())
    assert response.status == 200
    assert body["model"]["name"] == local_stack.model_name
    assert body["model"]["version"] == champion


def test_env_prints_every_variable_a_client_needs(
    local_stack: StackSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    from cloudscore.cli import main

    assert main(["local", "env", "--state-dir", str(local_stack.state_dir)]) == 0

    exported = dict(
        line.removeprefix("export ").split("=", 1)
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("export ")
    )
    assert exported["STORAGE_EMULATOR_HOST"] == local_stack.url("gcs")
    assert exported["PUBSUB_EMULATOR_HOST"] == f"127.0.0.1:{local_stack.ports['pubsub']}"
    assert exported["BIGQUERY_EMULATOR_HOST"] == local_stack.url("bigquery")
    assert exported["CLOUDSCORE_PREDICT_URL"] == local_stack.url("predict_rows")
    for name in ("CLOUDSCORE_PROJECT", "CLOUDSCORE_DATASET", "CLOUDSCORE_INBOX_BUCKET"):
        assert exported[name]


def test_query_prints_the_rows_and_a_bad_query_is_a_clear_error(
    local_stack: StackSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    from cloudscore.cli import main

    state = ["--state-dir", str(local_stack.state_dir)]
    assert main(["local", "query", "SELECT 40 + 2 AS answer", *state]) == 0
    assert capsys.readouterr().out.split() == ["answer", "42"]

    assert main(["local", "query", "SELECT nonsense FROM no_such_table", *state]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cloudscore: error: the query was refused")
    assert "Traceback" not in err


def test_the_scheduler_publishes_when_its_cron_fires(
    local_stack: StackSettings, tmp_path: Path
) -> None:
    import dataclasses
    import threading
    from datetime import UTC, datetime, timedelta

    from local_emulator import scheduler

    subscriber = pubsub.subscriber_client(local_stack.endpoints())
    publisher = pubsub.publisher_client(local_stack.endpoints())
    name = subscriber.subscription_path(local_stack.project, f"test-cron-{uuid.uuid4().hex[:8]}")
    subscriber.create_subscription(
        name=name, topic=publisher.topic_path(local_stack.project, local_stack.retrain_topic)
    )
    # Every minute, on a clock set to 0.3 s before a minute turns: one tick fires at once.
    settings = dataclasses.replace(local_stack, retrain_schedule="* * * * *")
    now = datetime.now(UTC)
    skew = (
        now.replace(second=0, microsecond=0) + timedelta(minutes=1) - now - timedelta(seconds=0.3)
    )
    stop = threading.Event()
    thread = threading.Thread(
        target=scheduler.run,
        args=(settings, stop, lambda: datetime.now(UTC) + skew, tmp_path / "scheduler.json"),
    )
    thread.start()
    try:
        received = wait_for(
            lambda: subscriber.pull(subscription=name, max_messages=5, timeout=5).received_messages,
            what="a scheduled tick",
        )
    finally:
        stop.set()
        thread.join(timeout=10)
        subscriber.delete_subscription(subscription=name)

    assert json.loads(received[0].message.data)["trigger"] == "schedule"
    assert read_status(tmp_path / "scheduler.json")["ticks"] == 1
