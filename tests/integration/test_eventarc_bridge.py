"""The local Eventarc bridge: storage notifications in, binary-mode CloudEvents out, with retries
and a dead-letter record. Each test runs its own bridge on its own subscription against a
recording function, so it sees exactly the events it caused."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from local_emulator import stack
from local_emulator.bridge import Bridge
from local_emulator.settings import BridgePolicy, StackSettings
from shared import clients
from shared.events import STORAGE_FINALIZED
from tests.integration.receiver import serve_recorder
from tests.integration.waiting import wait_for

pytestmark = pytest.mark.stack


@contextmanager
def running_bridge(settings: StackSettings, target: str, status_file: Path) -> Iterator[Bridge]:
    subscriber = clients.subscriber_client(settings.endpoints())
    publisher = clients.publisher_client(settings.endpoints())
    name = f"test-bridge-{uuid.uuid4().hex[:8]}"
    subscriber.create_subscription(
        name=subscriber.subscription_path(settings.project, name),
        topic=publisher.topic_path(settings.project, settings.notifications_topic),
    )
    bridge = Bridge(settings, target=target, subscription=name, status_file=status_file)
    stop = threading.Event()
    thread = threading.Thread(target=bridge.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(bridge.status.path.exists, what="the bridge to start")
        yield bridge
    finally:
        stop.set()
        thread.join(timeout=30)
        subscriber.delete_subscription(
            subscription=subscriber.subscription_path(settings.project, name)
        )


def upload(settings: StackSettings, name: str, payload: bytes = b"id,x\n1,2\n") -> int:
    blob = (
        clients.storage_client(settings.project, settings.endpoints())
        .bucket(settings.inbox_bucket)
        .blob(name)
    )
    blob.upload_from_string(payload)
    generation: int = blob.generation
    return generation


def test_a_file_under_incoming_arrives_as_the_eventarc_cloud_event(
    local_stack: StackSettings, tmp_path: Path
) -> None:
    name = f"incoming/{uuid.uuid4()}.csv"
    outside = f"processed/{uuid.uuid4()}.csv"
    with serve_recorder() as (url, received), running_bridge(local_stack, url, tmp_path / "s.json"):
        generation = upload(local_stack, name)
        upload(local_stack, outside)
        wait_for(lambda: any(d["name"] == name for _, d in received.events), what="the event")
        # Give the outside file's notification time to be (wrongly) delivered.
        upload(local_stack, f"incoming/{uuid.uuid4()}.csv")
        wait_for(lambda: len(received.events) >= 2, what="a second event")

    names = [data["name"] for _, data in received.events]
    assert outside not in names
    attributes, data = next((a, d) for a, d in received.events if d["name"] == name)
    assert attributes["type"] == STORAGE_FINALIZED
    assert (
        attributes["source"]
        == f"//storage.googleapis.com/projects/_/buckets/{local_stack.inbox_bucket}"
    )
    assert attributes["subject"] == f"objects/{name}"
    assert attributes["specversion"] == "1.0"
    assert attributes["id"] and attributes["time"]
    assert data["bucket"] == local_stack.inbox_bucket
    assert int(data["generation"]) == generation
    assert int(data["size"]) == len(b"id,x\n1,2\n")


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
    assert [d["name"] for _, d in received.events] == [name]
    assert status["delivered"] == 1
    assert status["retries"] == 2


def test_an_event_that_always_fails_ends_in_the_dead_letter_record_shown_by_status(
    local_stack: StackSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = dataclasses.replace(
        local_stack, bridge=BridgePolicy(max_attempts=3, initial_backoff_s=0.05)
    )
    before = len(stack.dead_letters(settings))
    name = f"incoming/{uuid.uuid4()}.csv"
    with (
        serve_recorder(fail_first=10**6) as (url, received),
        running_bridge(settings, url, tmp_path / "s.json"),
    ):
        upload(settings, name)
        wait_for(lambda: len(stack.dead_letters(settings)) > before, what="the dead letter")

    assert received.calls == 3
    assert received.events == []
    letters = stack.dead_letters(settings)
    assert len(letters) == before + 1
    record = letters[-1]
    assert record["subject"] == f"objects/{name}"
    assert record["attempts"] == 3
    assert "HTTP 500" in record["last_error"]
    assert record["data"]["name"] == name

    from cloudscore.cli import main

    assert main(["local", "status", "--state-dir", str(settings.state_dir)]) == 0
    out = capsys.readouterr().out
    assert f"dead-lettered: {before + 1} " in out
    assert re.search(r"^bridge\s+-\s+\d+\s+healthy$", out, re.MULTILINE)
