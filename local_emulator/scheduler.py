"""The local Cloud Scheduler: publishes to the retrain topic on the configured cron.

In the cloud a Cloud Scheduler job publishes to the retrain topic and an Eventarc Pub/Sub trigger
delivers each message to the retrain function; locally this worker publishes and a push
subscription (created by `up`) delivers. `cloudscore local tick retrain` publishes at once.

Run as `python -m local_emulator.scheduler --state-dir DIR` (the stack starts it).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from croniter import croniter

from local_emulator import pubsub
from local_emulator.components import worker_status_file
from local_emulator.settings import StackSettings
from local_emulator.worker import WorkerStatus, component_main
from shared.errors import ConfigError

_log = logging.getLogger("local_emulator.scheduler")


def publish_tick(settings: StackSettings, trigger: str) -> str:
    """Publish one retrain request, as the scheduler job does; returns the message id."""
    publisher = pubsub.publisher_client(settings.endpoints())
    topic = publisher.topic_path(settings.project, settings.retrain_topic)
    payload = {"trigger": trigger, "requested_at": datetime.now(UTC).isoformat()}
    message_id: str = publisher.publish(topic, json.dumps(payload).encode()).result(timeout=30)
    return message_id


def next_fire(schedule: str, after: datetime) -> datetime:
    if not croniter.is_valid(schedule):
        raise ConfigError(
            "CLOUDSCORE_RETRAIN_SCHEDULE", f"not a valid cron expression: {schedule!r}"
        )
    fire: datetime = croniter(schedule, after).get_next(datetime)
    return fire


def _utc_now() -> datetime:
    return datetime.now(UTC)


def run(
    settings: StackSettings,
    stop: threading.Event,
    clock: Callable[[], datetime] = _utc_now,
    status_file: Path | None = None,
) -> None:
    status = WorkerStatus(status_file or worker_status_file(settings, "scheduler"))
    fire = next_fire(settings.retrain_schedule, clock())
    status.ready(schedule=settings.retrain_schedule, next_tick_at=fire.isoformat())
    while not stop.is_set():
        if stop.wait(max(0.0, (fire - clock()).total_seconds())):
            break
        message_id = publish_tick(settings, "schedule")
        _log.info("published retrain tick %s", message_id)
        # The next fire time after this one, never this one again (the clock may lag a little).
        fire = next_fire(settings.retrain_schedule, max(clock(), fire))
        status.add(ticks=1)
        status.set(last_tick_at=clock().isoformat(), next_tick_at=fire.isoformat())


def main(argv: list[str] | None = None) -> None:
    component_main("scheduler", __doc__.split("\n", 1)[0], run, argv)


if __name__ == "__main__":
    main()
