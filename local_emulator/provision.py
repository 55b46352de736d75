"""Create the stack's resources, idempotently: topics, subscriptions, buckets, dataset, tables.

The Pub/Sub emulator keeps nothing across restarts, so its part runs at every `up`; the buckets
and the dataset persist and are only created when missing.
"""

from __future__ import annotations

import contextlib
import json

from google.api_core import exceptions

from local_emulator import pubsub
from local_emulator.dataflow.template import template_spec
from local_emulator.settings import StackSettings
from shared import clients
from shared.dataflow import TEMPLATE_OBJECT
from shared.errors import LocalStackError, SinkError
from shared.tables import ensure_dataset

# The triggers' subscriptions: the local Eventarc holds a message (extending its lease) while it
# waits out its retries, as Eventarc's own subscription does.
_TRIGGER_ACK_DEADLINE_S = 60


def provision_pubsub(settings: StackSettings) -> None:
    publisher = pubsub.publisher_client(settings.endpoints())
    subscriber = pubsub.subscriber_client(settings.endpoints())
    for topic in (settings.inbox_topic, settings.retrain_topic):
        with contextlib.suppress(exceptions.AlreadyExists):
            publisher.create_topic(name=publisher.topic_path(settings.project, topic))
    for trigger in settings.triggers():
        request = {
            "name": subscriber.subscription_path(settings.project, trigger.subscription),
            "topic": publisher.topic_path(settings.project, trigger.topic),
            "ack_deadline_seconds": _TRIGGER_ACK_DEADLINE_S,
        }
        with contextlib.suppress(exceptions.AlreadyExists):
            subscriber.create_subscription(request=request)


def provision_storage_and_bigquery(settings: StackSettings) -> None:
    storage = clients.storage_client(settings.project, settings.endpoints())
    for bucket in (settings.inbox_bucket, settings.models_bucket, settings.pipeline_bucket):
        with contextlib.suppress(exceptions.Conflict):
            storage.create_bucket(bucket)
    # The pipeline's template, as `cloudscore deploy pipeline` publishes it: its metadata is the
    # checkout's, written at every `up`.
    storage.bucket(settings.pipeline_bucket).blob(TEMPLATE_OBJECT).upload_from_string(
        json.dumps(template_spec(), indent=1), content_type="application/json"
    )
    try:
        # In the functions' region, as infra/bigquery.tf makes it.
        ensure_dataset(
            clients.bigquery_client(settings.project, settings.endpoints()),
            settings.dataset,
            settings.region,
        )
    except SinkError as exc:
        # The emulator cannot alter a table's columns; its data is local and disposable.
        raise LocalStackError(
            "bigquery", f"{exc}. Start afresh with `cloudscore local up --reset`"
        ) from exc
