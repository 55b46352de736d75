"""The stack's own parts wired together: storage → bridge → batch function, scheduler → Pub/Sub →
retrain function, and the HTTP function on its port."""

from __future__ import annotations

import json
import urllib.request
import uuid
from pathlib import Path

import pytest

from local_emulator.scheduler import publish_tick
from local_emulator.settings import StackSettings
from local_emulator.worker import read_status
from shared import clients
from shared.config import BatchConfig, variables_of
from shared.events import PUBSUB_PUBLISHED
from tests.integration.receiver import serve_recorder
from tests.integration.waiting import wait_for

pytestmark = pytest.mark.stack


def test_the_retrain_topic_pushes_to_the_retrain_function(local_stack: StackSettings) -> None:
    subscriber = clients.subscriber_client(local_stack.endpoints())
    subscription = subscriber.get_subscription(
        subscription=subscriber.subscription_path(
            local_stack.project, local_stack.retrain_subscription
        )
    )
    assert subscription.push_config.push_endpoint == local_stack.url("retrain_model") + "/"
    assert subscription.topic.endswith(f"/topics/{local_stack.retrain_topic}")


def test_a_tick_reaches_a_pushed_function_as_a_pubsub_cloud_event(
    local_stack: StackSettings,
) -> None:
    subscriber = clients.subscriber_client(local_stack.endpoints())
    publisher = clients.publisher_client(local_stack.endpoints())
    name = subscriber.subscription_path(local_stack.project, f"test-push-{uuid.uuid4().hex[:8]}")
    with serve_recorder() as (url, received):
        subscriber.create_subscription(
            request={
                "name": name,
                "topic": publisher.topic_path(local_stack.project, local_stack.retrain_topic),
                "push_config": {"push_endpoint": url},
            }
        )
        try:
            message_id = publish_tick(local_stack, "manual")
            wait_for(lambda: received.events, what="the pushed tick")
        finally:
            subscriber.delete_subscription(subscription=name)

    attributes, data = received.events[0]
    assert attributes["type"] == PUBSUB_PUBLISHED
    assert data["message"]["messageId"] == message_id
    import base64

    assert json.loads(base64.b64decode(data["message"]["data"]))["trigger"] == "manual"


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
    assert env["STORAGE_EMULATOR_HOST"] == local_stack.url("gcs")
    allowed = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "TZ", "PYTHONUNBUFFERED"}
    platform = {"K_SERVICE", "K_REVISION", "K_CONFIGURATION", "FUNCTION_TARGET", "PORT"}
    emulators = {"STORAGE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST"}
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

    subscriber = clients.subscriber_client(local_stack.endpoints())
    publisher = clients.publisher_client(local_stack.endpoints())
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
