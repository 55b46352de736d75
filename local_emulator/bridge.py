"""The local Eventarc: storage notifications in, `finalized` CloudEvents out to the batch function.

fake-gcs-server publishes an OBJECT_FINALIZE notification to Pub/Sub for every object written.
For each one in the inbox bucket under `incoming/`, this bridge POSTs the binary-mode CloudEvent
that Eventarc sends — `ce-*` headers, the object's JSON resource as the body — and treats any
non-2xx answer as Eventarc does: it tries again with exponential backoff. After the policy's last
attempt the event is appended to the dead-letter file (the cloud's dead-letter topic) and
acknowledged. A notification is acknowledged only after that, so if the bridge itself dies the
event is delivered again: at least once, as in the cloud.

Run as `python -m local_emulator.bridge --state-dir DIR` (the stack starts it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local_emulator.components import worker_status_file
from local_emulator.settings import BridgePolicy, StackSettings
from local_emulator.worker import WorkerStatus, run_until_signalled
from shared import clients
from shared.errors import LocalStackError
from shared.events import INCOMING_PREFIX, STORAGE_FINALIZED
from shared.structured_log import configure_logging, log_labels

if TYPE_CHECKING:
    from google.cloud.pubsub_v1.subscriber.message import Message

_log = logging.getLogger("local_emulator.bridge")


@dataclass(frozen=True)
class Delivery:
    """One CloudEvent to deliver: its HTTP headers and body."""

    event_id: str
    subject: str
    headers: dict[str, str]
    body: bytes


def to_cloud_event(attributes: dict[str, str], data: bytes) -> Delivery | None:
    """The Eventarc CloudEvent for a storage notification, or None if it is not for us."""
    if attributes.get("eventType") != "OBJECT_FINALIZE":
        return None
    bucket, name = attributes.get("bucketId", ""), attributes.get("objectId", "")
    generation = attributes.get("objectGeneration", "")
    event_time = attributes.get("eventTime") or datetime.now(UTC).isoformat()
    # Unique per object generation and the same on every redelivery, as Eventarc's id is. (The
    # emulator's message ids restart at 1 with each start, so they cannot serve.)
    event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"gs://{bucket}/{name}#{generation}"))
    headers = {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-type": STORAGE_FINALIZED,
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "ce-subject": f"objects/{name}",
        "ce-time": event_time,
        "Content-Type": "application/json",
    }
    return Delivery(event_id, f"objects/{name}", headers, data)


def wanted(attributes: dict[str, str], inbox_bucket: str) -> bool:
    name = attributes.get("objectId", "")
    return attributes.get("bucketId") == inbox_bucket and name.startswith(INCOMING_PREFIX)


def post(url: str, delivery: Delivery, timeout_s: float) -> tuple[int | None, str]:
    """POST once; returns (HTTP status or None when no answer, a short description)."""
    request = urllib.request.Request(
        url, data=delivery.body, headers=delivery.headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, "ok"
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(300).decode("utf-8", "replace")
    except (OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"


def deliver_with_retries(
    url: str,
    delivery: Delivery,
    policy: BridgePolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bool, int, str]:
    """Deliver until a 2xx or the last attempt; returns (delivered, attempts, last outcome)."""
    outcome = ""
    for attempt in range(1, policy.max_attempts + 1):
        code, outcome = post(url, delivery, policy.request_timeout_s)
        if code is not None and 200 <= code < 300:
            return True, attempt, outcome
        outcome = f"HTTP {code}: {outcome}" if code is not None else outcome
        _log.warning("delivery of %s failed (attempt %d): %s", delivery.subject, attempt, outcome)
        if attempt < policy.max_attempts:
            sleep(policy.backoff(attempt))
    return False, policy.max_attempts, outcome


class Bridge:
    """Delivers the notifications of one subscription to one function URL.

    The stack runs one for the batch function; tests run others against their own receivers.
    """

    def __init__(
        self,
        settings: StackSettings,
        target: str | None = None,
        subscription: str | None = None,
        status_file: Path | None = None,
    ) -> None:
        self.settings = settings
        self.target = target or settings.url("score_file") + "/"
        self.subscription = subscription or settings.bridge_subscription
        self.status = WorkerStatus(status_file or worker_status_file(settings, "bridge"))
        self._dead_letter_lock = threading.Lock()

    def handle(self, message: Message) -> None:
        attributes = dict(message.attributes)
        delivery = to_cloud_event(attributes, bytes(message.data))
        if delivery is None or not wanted(attributes, self.settings.inbox_bucket):
            message.ack()
            return
        with log_labels(event_id=delivery.event_id):
            ok, attempts, outcome = deliver_with_retries(
                self.target, delivery, self.settings.bridge
            )
            if ok:
                self.status.add(delivered=1, retries=attempts - 1)
            else:
                self._dead_letter(delivery, attempts, outcome)
                self.status.add(dead_lettered=1, retries=attempts - 1)
            message.ack()

    def _dead_letter(self, delivery: Delivery, attempts: int, outcome: str) -> None:
        record = {
            "event_id": delivery.event_id,
            "subject": delivery.subject,
            "attempts": attempts,
            "last_error": outcome,
            "dead_lettered_at": datetime.now(UTC).isoformat(),
            "headers": delivery.headers,
            "data": json.loads(delivery.body or b"null"),
        }
        with self._dead_letter_lock, self.settings.dead_letter_file.open("a") as out:
            out.write(json.dumps(record) + "\n")
        _log.error("dead-lettered %s after %d attempts: %s", delivery.subject, attempts, outcome)

    def run(self, stop: threading.Event) -> None:
        from google.cloud import pubsub_v1
        from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler

        subscriber = clients.subscriber_client(self.settings.endpoints())
        path = subscriber.subscription_path(self.settings.project, self.subscription)
        # Eventarc delivers concurrently (many function instances); so does the bridge.
        future = subscriber.subscribe(
            path,
            self.handle,
            flow_control=pubsub_v1.types.FlowControl(max_messages=16),
            scheduler=ThreadScheduler(ThreadPoolExecutor(16, thread_name_prefix="deliver")),
        )
        failures: list[BaseException] = []

        def on_done(done: Future[Any]) -> None:
            # A pull that ends on its own (subscription deleted, emulator gone) must end the
            # bridge too, so that `status` shows it stopped instead of healthy and idle.
            error = None if done.cancelled() else done.exception()
            if error is not None:
                failures.append(error)
                stop.set()

        future.add_done_callback(on_done)
        self.status.ready()
        stop.wait()
        future.cancel()
        with contextlib.suppress(Exception):
            future.result(timeout=30)
        if failures:
            raise LocalStackError("bridge", f"pulling {path} failed: {failures[0]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--state-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    configure_logging("bridge")
    settings = StackSettings.load(args.state_dir)
    try:
        run_until_signalled(Bridge(settings).run)
    except LocalStackError as exc:
        _log.error("%s", exc)
        raise SystemExit(1) from exc


if __name__ == "__main__":
    main()
