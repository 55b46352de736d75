"""The local Eventarc's CloudEvents, retries, push window and Cloud Run's capacity, against a real
HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from local_emulator.bridge import (
    Delivery,
    FunctionFront,
    PushWindow,
    deliver_with_retries,
    to_cloud_event,
)
from local_emulator.deployment import Capacity, DeliveryPolicy, event_delivery
from local_emulator.settings import Trigger
from shared.events import PUBSUB_PUBLISHED, storage_notification

TRIGGER = Trigger("score_file", "inbox-events", "eventarc-score-file")
OBJECT = {"bucket": "inbox", "name": "incoming/a.csv", "generation": "17", "size": "12"}
NOTIFICATION = {
    "eventType": "OBJECT_FINALIZE",
    "bucketId": "inbox",
    "objectId": "incoming/a.csv",
    "objectGeneration": "17",
    "payloadFormat": "JSON_API_V1",
}
PUBLISHED = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def event(message_id: str = "m-1") -> Delivery:
    return to_cloud_event(
        TRIGGER,
        "p",
        message_id=message_id,
        data=json.dumps(OBJECT).encode(),
        attributes=NOTIFICATION,
        publish_time=PUBLISHED,
    )


def test_a_message_becomes_the_binary_cloud_event_an_eventarc_pubsub_trigger_sends() -> None:
    delivery = event()
    body = json.loads(delivery.body)

    assert delivery.headers["ce-type"] == PUBSUB_PUBLISHED
    assert delivery.headers["ce-source"] == "//pubsub.googleapis.com/projects/p/topics/inbox-events"
    assert delivery.headers["ce-id"] == "m-1"
    assert delivery.headers["ce-time"] == "2026-11-22T10:00:00Z"
    assert body["subscription"] == "projects/p/subscriptions/eventarc-score-file"
    assert body["message"]["attributes"] == NOTIFICATION
    assert json.loads(base64.b64decode(body["message"]["data"])) == OBJECT
    assert delivery.subject == "incoming/a.csv"


def test_the_batch_function_reads_the_object_back_from_the_event() -> None:
    delivery = event()
    attributes = {"type": delivery.headers["ce-type"], "id": delivery.headers["ce-id"]}

    obj = storage_notification(attributes, json.loads(delivery.body))

    assert (obj.bucket, obj.name, obj.generation, obj.size) == ("inbox", "incoming/a.csv", 17, 12)
    assert obj.event_id == "m-1"


def test_the_policy_is_infras_and_backs_off_as_pubsub_does() -> None:
    delivery = event_delivery()

    assert delivery.policy == DeliveryPolicy(max_attempts=10, min_backoff_s=10, max_backoff_s=600)
    assert delivery.capacity["score_file"] == Capacity(max_instances=10, concurrency=1)
    assert delivery.capacity["retrain_model"] == Capacity(max_instances=1, concurrency=1)
    assert "predict_rows" not in delivery.capacity  # no trigger: called over HTTP
    policy = delivery.policy
    assert [policy.backoff(a) for a in range(1, 9)] == [10, 20, 40, 80, 160, 320, 600, 600]
    assert policy.scaled(0.01).backoff(1) == 0.1
    assert policy.scaled(0.01).max_attempts == 10


@contextmanager
def server_answering(
    statuses: list[int], hold_s: float = 0.0
) -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append({k.lower(): v for k, v in self.headers.items()})
            time.sleep(hold_s)
            self.send_response(statuses[min(len(seen), len(statuses)) - 1])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/", seen
    finally:
        server.shutdown()
        thread.join()


POLICY = DeliveryPolicy(max_attempts=5, min_backoff_s=0.5, max_backoff_s=600)
ONE = Capacity(max_instances=1, concurrency=1)


def test_a_5xx_is_retried_with_backoff_until_accepted() -> None:
    sleeps: list[float] = []
    with server_answering([500, 503, 204]) as (url, seen):
        front = FunctionFront(url, ONE, 10)
        ok, attempts, failures = deliver_with_retries(
            front, event(), POLICY, PushWindow(4), sleeps.append
        )

    assert (ok, attempts) == (True, 3)
    assert sleeps == [0.5, 1.0]
    assert [h["ce-id"] for h in seen] == ["m-1"] * 3
    assert [f[:8] for f in failures] == ["HTTP 500", "HTTP 503"]


def test_delivery_gives_up_after_the_last_attempt_and_says_why() -> None:
    with server_answering([500]) as (url, seen):
        front = FunctionFront(url, ONE, 10)
        policy = DeliveryPolicy(max_attempts=3, min_backoff_s=0, max_backoff_s=0)
        ok, attempts, failures = deliver_with_retries(front, event(), policy, PushWindow(4))

    assert (ok, attempts, len(seen)) == (False, 3, 3)
    assert failures[-1].startswith("HTTP 500")


def test_no_answer_at_all_counts_as_a_failed_attempt() -> None:
    front = FunctionFront("http://127.0.0.1:9/", ONE, 10)
    policy = DeliveryPolicy(max_attempts=2, min_backoff_s=0, max_backoff_s=0)
    ok, attempts, failures = deliver_with_retries(front, event(), policy, PushWindow(4))

    assert (ok, attempts) == (False, 2)
    assert "Connection refused" in failures[-1] or "Error" in failures[-1]


def test_a_delivery_beyond_the_functions_instances_is_refused_with_429_and_retried() -> None:
    with server_answering([204], hold_s=0.5) as (url, seen):
        front = FunctionFront(url, Capacity(max_instances=2, concurrency=1), 10)
        outcomes: list[tuple[int | None, str]] = []

        def deliver(n: int) -> None:
            outcomes.append(front.deliver(event(f"m-{n}")))

        threads = [threading.Thread(target=deliver, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
            time.sleep(0.05)
        for thread in threads:
            thread.join()

    assert sorted(code for code, _ in outcomes) == [204, 204, 429]
    assert len(seen) == 2  # the refused one never reached an instance
    assert "2 instance(s)" in next(text for code, text in outcomes if code == 429)


def test_the_push_window_grows_on_success_and_halves_on_failure() -> None:
    window = PushWindow(largest=16, initial=3)
    for _ in range(5):
        window.succeeded()
    assert window.size == 8
    window.failed()
    window.failed()
    assert window.size == 2
    for _ in range(3):
        window.failed()
    assert window.size == 1
    for _ in range(40):
        window.succeeded()
    assert window.size == 16


def test_the_push_window_holds_back_what_it_does_not_allow() -> None:
    window = PushWindow(largest=16, initial=1)
    entered: list[int] = []

    def hold(n: int) -> None:
        with window.slot():
            entered.append(n)
            time.sleep(0.2)

    first = threading.Thread(target=hold, args=(1,))
    second = threading.Thread(target=hold, args=(2,))
    first.start()
    time.sleep(0.05)
    second.start()
    time.sleep(0.05)
    assert entered == [1]  # the second waits for the first: it is not attempted, not refused
    first.join()
    second.join()
    assert entered == [1, 2]
