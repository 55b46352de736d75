"""The local Eventarc: the functions' Pub/Sub triggers, delivering as the deployed ones do.

Each trigger pulls its own subscription — the batch function's the inbox's notifications of files
under incoming/, the retrain function's the retrain topic — and POSTs each message to its function
as Eventarc does: a binary-mode `google.cloud.pubsub.topic.v1.messagePublished` CloudEvent whose
data is `{"message": …, "subscription": …}`. As in the cloud:

- a non-2xx answer, or none, is a failed delivery: the message is delivered again after the
  subscription's exponential backoff, and after the last attempt it is dead-lettered (the cloud's
  dead-letter topic; here `dead-letter.jsonl`) and acknowledged
  (https://cloud.google.com/eventarc/docs/retry-events);
- a function accepts at most its max instances x concurrency deliveries at once: one more is
  refused with 429, as Cloud Run refuses a request no instance can take, and counts as an attempt
  (https://cloud.google.com/run/docs/about-concurrency);
- Pub/Sub keeps as many deliveries outstanding as its push window, which grows with each success
  and shrinks with each failure, starting small
  (https://cloud.google.com/pubsub/docs/push#delivery_rate): a burst of events waits for the
  function rather than spending its attempts on refusals;
- a message is acknowledged only once delivered or dead-lettered, so if the bridge itself dies
  the message is delivered again: at least once.

The policy and capacities are infra/'s (`local_emulator.deployment`), saved in the stack's
settings. Run as `python -m local_emulator.bridge --state-dir DIR` (the stack starts it).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from local_emulator import pubsub
from local_emulator.components import worker_status_file
from local_emulator.deployment import Capacity, DeliveryPolicy
from local_emulator.settings import StackSettings, Trigger
from local_emulator.worker import WorkerStatus, component_main
from shared.errors import LocalStackError
from shared.events import PUBSUB_PUBLISHED
from shared.structured_log import log_labels

if TYPE_CHECKING:
    from google.cloud.pubsub_v1.subscriber.message import Message

_log = logging.getLogger("local_emulator.bridge")

# Messages one trigger holds at once (Pub/Sub's push window never grows past it here).
_HELD: Final = 16
_TOO_MANY_REQUESTS: Final = 429


@dataclass(frozen=True)
class Delivery:
    """One CloudEvent to deliver: its HTTP headers and body."""

    event_id: str
    subject: str
    headers: dict[str, str]
    body: bytes


def to_cloud_event(
    trigger: Trigger,
    project: str,
    *,
    message_id: str,
    data: bytes,
    attributes: dict[str, str],
    publish_time: datetime,
) -> Delivery:
    """The CloudEvent an Eventarc Pub/Sub trigger delivers for one message."""
    published = publish_time.astimezone(UTC).isoformat().replace("+00:00", "Z")
    message = {
        "attributes": attributes,
        "data": base64.b64encode(data).decode(),
        "messageId": message_id,
        "message_id": message_id,
        "publishTime": published,
        "publish_time": published,
    }
    subscription = f"projects/{project}/subscriptions/{trigger.subscription}"
    body = {"message": message, "subscription": subscription}
    headers = {
        "ce-specversion": "1.0",
        # Pub/Sub's message id: the same on every redelivery of the message.
        "ce-id": message_id,
        "ce-type": PUBSUB_PUBLISHED,
        "ce-source": f"//pubsub.googleapis.com/projects/{project}/topics/{trigger.topic}",
        "ce-time": published,
        "Content-Type": "application/json",
    }
    subject = attributes.get("objectId") or f"message {message_id}"
    return Delivery(message_id, subject, headers, json.dumps(body).encode())


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


class PushWindow:
    """How many deliveries are outstanding at once: one more on each success, half on each
    failure, never below one nor above `largest` (Pub/Sub's push flow control)."""

    def __init__(self, largest: int, initial: int = 3) -> None:
        self.size = min(initial, largest)
        self.largest = largest
        self.outstanding = 0
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: self.outstanding < self.size)
            self.outstanding += 1
        try:
            yield
        finally:
            with self._changed:
                self.outstanding -= 1
                self._changed.notify_all()

    def succeeded(self) -> None:
        with self._changed:
            self.size = min(self.size + 1, self.largest)
            self._changed.notify_all()

    def failed(self) -> None:
        with self._changed:
            self.size = max(1, self.size // 2)


class FunctionFront:
    """Cloud Run in front of a function: at most `capacity.slots` requests at once, the next
    one refused with 429 before it reaches an instance."""

    def __init__(self, url: str, capacity: Capacity, timeout_s: float) -> None:
        self.url = url
        self.capacity = capacity
        self.timeout_s = timeout_s
        self.busy = 0
        self._lock = threading.Lock()

    def deliver(self, delivery: Delivery) -> tuple[int | None, str]:
        with self._lock:
            if self.busy >= self.capacity.slots:
                return _TOO_MANY_REQUESTS, (
                    f"no instance free: {self.capacity.max_instances} instance(s) x "
                    f"{self.capacity.concurrency} request(s) are busy"
                )
            self.busy += 1
        try:
            return post(self.url, delivery, self.timeout_s)
        finally:
            with self._lock:
                self.busy -= 1


def deliver_with_retries(
    front: FunctionFront,
    delivery: Delivery,
    policy: DeliveryPolicy,
    window: PushWindow,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bool, int, list[str]]:
    """Deliver until a 2xx or the last attempt; (delivered, attempts, each failure's outcome)."""
    failures: list[str] = []
    for attempt in range(1, policy.max_attempts + 1):
        with window.slot():
            code, outcome = front.deliver(delivery)
        if code is not None and 200 <= code < 300:
            window.succeeded()
            return True, attempt, failures
        window.failed()
        outcome = f"HTTP {code}: {outcome}" if code is not None else outcome
        failures.append(outcome)
        _log.warning("delivery of %s failed (attempt %d): %s", delivery.subject, attempt, outcome)
        if attempt < policy.max_attempts:
            sleep(policy.backoff(attempt))
    return False, policy.max_attempts, failures


class Bridge:
    """Delivers one trigger's messages to its function."""

    def __init__(
        self,
        settings: StackSettings,
        trigger: Trigger,
        status: WorkerStatus,
        target: str | None = None,
    ) -> None:
        self.settings = settings
        self.trigger = trigger
        self.status = status
        self.front = FunctionFront(
            target or settings.url(trigger.function) + "/",
            settings.capacity[trigger.function],
            settings.delivery.request_timeout_s,
        )
        self.window = PushWindow(_HELD)
        self._dead_letter_lock = threading.Lock()

    def handle(self, message: Message) -> None:
        delivery = to_cloud_event(
            self.trigger,
            self.settings.project,
            message_id=message.message_id,
            data=bytes(message.data),
            attributes=dict(message.attributes),
            publish_time=message.publish_time,
        )
        with log_labels(event_id=delivery.event_id, trigger=self.trigger.function):
            ok, attempts, failures = deliver_with_retries(
                self.front, delivery, self.settings.delivery, self.window
            )
            refused = sum(f.startswith(f"HTTP {_TOO_MANY_REQUESTS}") for f in failures)
            counts = {"retries": attempts - 1, "refused": refused}
            if ok:
                self.status.add(**_per(self.trigger, delivered=1, **counts))
            else:
                self._dead_letter(delivery, attempts, failures[-1])
                self.status.add(**_per(self.trigger, dead_lettered=1, **counts))
            message.ack()

    def _dead_letter(self, delivery: Delivery, attempts: int, outcome: str) -> None:
        record = {
            "event_id": delivery.event_id,
            "function": self.trigger.function,
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

    def subscribe(self, on_failure: Callable[[BaseException], None]) -> Future[Any]:
        from google.cloud import pubsub_v1
        from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler

        subscriber = pubsub.subscriber_client(self.settings.endpoints())
        path = subscriber.subscription_path(self.settings.project, self.trigger.subscription)
        future = subscriber.subscribe(
            path,
            self.handle,
            # A message is held while it waits out its backoff: its lease is kept for as long
            # as all its attempts can take.
            flow_control=pubsub_v1.types.FlowControl(
                max_messages=_HELD, max_lease_duration=_lease_s(self.settings.delivery)
            ),
            scheduler=ThreadScheduler(
                ThreadPoolExecutor(_HELD, thread_name_prefix=f"deliver-{self.trigger.function}")
            ),
        )

        def on_done(done: Future[Any]) -> None:
            # A pull that ends on its own (subscription deleted, emulator gone) must end the
            # bridge too, so that `status` shows it stopped instead of healthy and idle.
            error = None if done.cancelled() else done.exception()
            if error is not None:
                on_failure(LocalStackError("bridge", f"pulling {path} failed: {error}"))

        future.add_done_callback(on_done)
        return future


def _per(trigger: Trigger, **counts: int) -> dict[str, int]:
    """Counts under the trigger's function name (`score_file.delivered`) and in all."""
    return {**counts, **{f"{trigger.function}.{k}": v for k, v in counts.items()}}


def _lease_s(policy: DeliveryPolicy) -> float:
    waits = sum(policy.backoff(a) for a in range(1, policy.max_attempts))
    return waits + policy.max_attempts * policy.request_timeout_s


def run(settings: StackSettings, stop: threading.Event) -> None:
    status = WorkerStatus(worker_status_file(settings, "bridge"))
    failures: list[BaseException] = []

    def failed(error: BaseException) -> None:
        failures.append(error)
        stop.set()

    futures = [Bridge(settings, t, status).subscribe(failed) for t in settings.triggers()]
    status.ready(triggers=[t.function for t in settings.triggers()])
    stop.wait()
    for future in futures:
        future.cancel()
        with contextlib.suppress(Exception):
            future.result(timeout=30)
    if failures:
        raise failures[0]


def main(argv: list[str] | None = None) -> None:
    component_main("bridge", __doc__.split("\n", 1)[0], run, argv)


if __name__ == "__main__":
    main()
