"""The bridge's conversion and retry logic, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from local_emulator.bridge import Delivery, deliver_with_retries, to_cloud_event, wanted
from local_emulator.settings import BridgePolicy
from shared.events import STORAGE_FINALIZED

NOTIFICATION = {
    "eventType": "OBJECT_FINALIZE",
    "bucketId": "inbox",
    "objectId": "incoming/a.csv",
    "eventTime": "2026-11-22T10:00:00Z",
    "objectGeneration": "17",
}


def test_the_event_id_is_the_same_for_a_redelivery_and_new_for_a_new_generation() -> None:
    first = to_cloud_event(NOTIFICATION, b"{}")
    again = to_cloud_event(NOTIFICATION, b"{}")
    overwritten = to_cloud_event({**NOTIFICATION, "objectGeneration": "18"}, b"{}")

    assert first is not None and again is not None and overwritten is not None
    assert first.headers["ce-id"] == again.headers["ce-id"]
    assert first.headers["ce-id"] != overwritten.headers["ce-id"]


def test_a_finalize_notification_becomes_the_eventarc_binary_cloud_event() -> None:
    delivery = to_cloud_event(NOTIFICATION, b'{"name": "incoming/a.csv"}')

    assert delivery is not None
    assert delivery.headers["ce-type"] == STORAGE_FINALIZED
    assert delivery.headers["ce-source"] == "//storage.googleapis.com/projects/_/buckets/inbox"
    assert delivery.headers["ce-subject"] == "objects/incoming/a.csv"
    assert delivery.headers["ce-time"] == "2026-11-22T10:00:00Z"
    assert delivery.headers["ce-time"] == "2026-11-22T10:00:00Z"
    assert delivery.body == b'{"name": "incoming/a.csv"}'


def test_other_notifications_are_not_events() -> None:
    assert to_cloud_event({**NOTIFICATION, "eventType": "OBJECT_DELETE"}, b"{}") is None


def test_only_the_inbox_bucket_incoming_prefix_is_wanted() -> None:
    assert wanted(NOTIFICATION, "inbox")
    assert not wanted(NOTIFICATION, "other-bucket")
    assert not wanted({**NOTIFICATION, "objectId": "processed/a.csv"}, "inbox")


def test_backoff_doubles_up_to_its_cap() -> None:
    policy = BridgePolicy(max_attempts=6, initial_backoff_s=1.0, max_backoff_s=5.0)

    assert [policy.backoff(a) for a in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


@contextmanager
def server_answering(statuses: list[int]) -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(statuses[min(len(seen), len(statuses)) - 1])
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


DELIVERY = Delivery(
    "m-1", "objects/incoming/a.csv", {"ce-id": "m-1", "Content-Type": "application/json"}, b"{}"
)


def test_a_5xx_is_retried_with_backoff_until_accepted() -> None:
    sleeps: list[float] = []
    with server_answering([500, 503, 204]) as (url, seen):
        ok, attempts, _ = deliver_with_retries(
            url, DELIVERY, BridgePolicy(max_attempts=5, initial_backoff_s=0.5), sleeps.append
        )

    assert (ok, attempts) == (True, 3)
    assert sleeps == [0.5, 1.0]
    assert [h["ce-id"] for h in seen] == ["m-1"] * 3


def test_delivery_gives_up_after_the_last_attempt_and_says_why() -> None:
    with server_answering([500]) as (url, seen):
        ok, attempts, outcome = deliver_with_retries(
            url, DELIVERY, BridgePolicy(max_attempts=3), lambda _: None
        )

    assert (ok, attempts, len(seen)) == (False, 3, 3)
    assert outcome.startswith("HTTP 500")


def test_no_answer_at_all_counts_as_a_failed_attempt() -> None:
    ok, attempts, outcome = deliver_with_retries(
        "http://127.0.0.1:9/", DELIVERY, BridgePolicy(max_attempts=2), lambda _: None
    )

    assert (ok, attempts) == (False, 2)
    assert "Connection refused" in outcome or "Error" in outcome
