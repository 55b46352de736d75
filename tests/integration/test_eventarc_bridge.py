"""The local Eventarc: the inbox's notifications in, the binary-mode Pub/Sub CloudEvents of an
Eventarc trigger out, with infra/'s retries and a dead-letter record. Each test runs its own
bridge on its own subscription against a recording function, so it sees exactly the events it
caused."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from local_emulator import pubsub, stack
from local_emulator.bridge import Bridge
from local_emulator.settings import StackSettings, Trigger
from local_emulator.worker import WorkerStatus
from shared import clients
from shared.events import PUBSUB_PUBLISHED
from tests.integration.receiver import serve_recorder
from tests.integration.waiting import wait_for

pytestmark = pytest.mark.stack


@contextmanager
def running_bridge(settings: StackSettings, target: str, status_file: Path) -> Iterator[Bridge]:
    """A bridge of its own for the batch function's trigger, on a subscription of its own to the
    inbox's notifications, delivering to `target`."""
    subscriber = pubsub.subscriber_client(settings.endpoints())
    publisher = pubsub.publisher_client(settings.endpoints())
    name = f"test-bridge-{uuid.uuid4().hex[:8]}"
    subscriber.create_subscription(
        name=subscriber.subscription_path(settings.project, name),
        topic=publisher.topic_path(settings.project, settings.inbox_topic),
    )
    trigger = Trigger("score_file", settings.inbox_topic, name)
    bridge = Bridge(settings, trigger, WorkerStatus(status_file), target=target)
    failures: list[BaseException] = []
    future = bridge.subscribe(failures.append)
    try:
        yield bridge
    finally:
        future.cancel()
        with contextlib.suppress(Exception):
            future.result(timeout=30)
        subscriber.delete_subscription(
            subscription=subscriber.subscription_path(settings.project, name)
        )
    assert not failures


def upload(settings: StackSettings, name: str, payload: bytes = b"id,x\n1,2\n") -> int:
    blob = (
        clients.storage_client(settings.project, settings.endpoints())
        .bucket(settings.inbox_bucket)
        .blob(name)
    )
    blob.upload_from_string(payload)
    generation: int = blob.generation
    return generation


def object_of(data: dict[str, Any]) -> dict[str, Any]:
    """The object a delivered notification is about."""
    resource: dict[str, Any] = json.loads(base64.b64decode(data["message"]["data"]))
    return resource


def test_a_file_under_incoming_arrives_as_the_eventarc_pubsub_cloud_event(
    local_stack: StackSettings, tmp_path: Path
) -> None:
    name = f"incoming/{uuid.uuid4()}.csv"
    outside = f"processed/{uuid.uuid4()}.csv"
    with serve_recorder() as (url, received), running_bridge(local_stack, url, tmp_path / "s.json"):
        generation = upload(local_stack, name)
        upload(local_stack, outside)
        wait_for(
            lambda: any(object_of(d)["name"] == name for _, d in received.events),
            what="the event",
        )
        # Give the outside file's notification time to be (wrongly) delivered.
        upload(local_stack, f"incoming/{uuid.uuid4()}.csv")
        wait_for(lambda: len(received.events) >= 2, what="a second event")

    names = [object_of(data)["name"] for _, data in received.events]
    assert outside not in names
    attributes, data = next((a, d) for a, d in received.events if object_of(d)["name"] == name)
    assert attributes["type"] == PUBSUB_PUBLISHED
    assert attributes["source"] == (
        f"//pubsub.googleapis.com/projects/{local_stack.project}/topics/{local_stack.inbox_topic}"
    )
    assert attributes["specversion"] == "1.0"
    assert attributes["id"] == data["message"]["messageId"]
    assert attributes["time"]
    assert data["message"]["attributes"]["eventType"] == "OBJECT_FINALIZE"
    resource = object_of(data)
    assert resource["bucket"] == local_stack.inbox_bucket
    assert int(resource["generation"]) == generation
    assert int(resource["size"]) == len(b"id,x\n1,2\n")


def test_a_refused_event_is_delivered_again(local_stack: StackSettings, tmp_path: Path) -> None:
    name = f"incoming/{uuid.uuid4()}.csv"
    with (
        serve_recorder(fail_first=2) as (url, received),
        running_bridge(local_stack, url, tmp_path / "s.json") as bridge,
    ):
        upload(local_stack, name)
        wait_for(lambda: received.events, what="the event after two refusals")
        status = json.loads(bridge.status.path.read_text())

    assert received.calls == 3
    assert [object_of(d)["name"] for _, d in received.events] == [name]
    assert status["delivered"] == status["score_file.delivered"] == 1
    assert status["retries"] == 2


def test_an_event_that_always_fails_ends_in_the_dead_letter_record_shown_by_status(
    local_stack: StackSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = local_stack  # infra/'s attempts (10), on the tests' faster clock
    attempts = settings.delivery.max_attempts
    before = len(stack.dead_letters(settings))
    name = f"incoming/{uuid.uuid4()}.csv"
    with (
        serve_recorder(fail_first=10**6) as (url, received),
        running_bridge(settings, url, tmp_path / "s.json"),
    ):
        upload(settings, name)
        # Ten attempts, 0.1 s doubling up to 6 s apart: about 25 s.
        wait_for(
            lambda: len(stack.dead_letters(settings)) > before,
            timeout_s=90,
            what="the dead letter",
        )

    assert received.calls == attempts == 10
    assert received.events == []
    letters = stack.dead_letters(settings)
    assert len(letters) == before + 1
    record = letters[-1]
    assert record["subject"] == name
    assert record["function"] == "score_file"
    assert record["attempts"] == attempts
    assert "HTTP 500" in record["last_error"]
    assert object_of(record["data"])["name"] == name

    from cloudscore.cli import main

    assert main(["local", "status", "--state-dir", str(settings.state_dir)]) == 0
    out = capsys.readouterr().out
    assert f"dead-lettered: {before + 1} " in out
    assert re.search(r"^bridge\s+-\s+\d+\s+healthy$", out, re.MULTILINE)
