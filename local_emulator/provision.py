"""Create the stack's resources, idempotently: topics, subscriptions, buckets, dataset, tables.

The Pub/Sub emulator keeps nothing across restarts, so its part runs at every `up`; the buckets
and the dataset persist and are only created when missing.
"""

from __future__ import annotations

import contextlib

from google.api_core import exceptions

from local_emulator.settings import StackSettings
from shared import clients
from shared.errors import LocalStackError, SinkError
from shared.tables import ensure_dataset

# Eventarc and push subscriptions wait this long for a function before redelivering.
_PUSH_ACK_DEADLINE_S = 600
_BRIDGE_ACK_DEADLINE_S = 60


def provision_pubsub(settings: StackSettings) -> None:
    publisher = clients.publisher_client(settings.endpoints())
    subscriber = clients.subscriber_client(settings.endpoints())
    for topic in (settings.notifications_topic, settings.retrain_topic):
        with contextlib.suppress(exceptions.AlreadyExists):
            publisher.create_topic(name=publisher.topic_path(settings.project, topic))
    subscriptions = [
        {
            "name": subscriber.subscription_path(settings.project, settings.bridge_subscription),
            "topic": publisher.topic_path(settings.project, settings.notifications_topic),
            "ack_deadline_seconds": _BRIDGE_ACK_DEADLINE_S,
        },
        {
            # As an Eventarc Pub/Sub trigger does: push each message to the retrain function.
            "name": subscriber.subscription_path(settings.project, settings.retrain_subscription),
            "topic": publisher.topic_path(settings.project, settings.retrain_topic),
            "ack_deadline_seconds": _PUSH_ACK_DEADLINE_S,
            "push_config": {"push_endpoint": settings.url("retrain_model") + "/"},
        },
    ]
    for request in subscriptions:
        with contextlib.suppress(exceptions.AlreadyExists):
            subscriber.create_subscription(request=request)


def provision_storage_and_bigquery(settings: StackSettings) -> None:
    storage = clients.storage_client(settings.project, settings.endpoints())
    for bucket in (settings.inbox_bucket, settings.models_bucket):
        with contextlib.suppress(exceptions.Conflict):
            storage.create_bucket(bucket)
    try:
        ensure_dataset(
            clients.bigquery_client(settings.project, settings.endpoints()), settings.dataset, "US"
        )
    except SinkError as exc:
        # The emulator cannot alter a table's columns; its data is local and disposable.
        raise LocalStackError(
            "bigquery", f"{exc}. Start afresh with `cloudscore local up --reset`"
        ) from exc
