"""Batch scorer: triggered by the notification of a file finalized under the inbox's incoming/."""

from __future__ import annotations

import logging

import functions_framework
from cloudevents.http import CloudEvent

from shared.events import storage_notification
from shared.runtime import (
    batch_config,
    instance_config,
    model_cache,
    pipeline_handoff,
    run_event_handler,
)
from shared.structured_log import log_labels

_log = logging.getLogger(__name__)


@functions_framework.cloud_event
def score_file(cloud_event: CloudEvent) -> None:
    config = instance_config("score_file")
    # Read here, not in the handler: a bad setting must fail the delivery, not be acknowledged.
    settings = batch_config()

    def handle() -> None:
        obj = storage_notification(cloud_event.get_attributes(), cloud_event.get_data())
        with log_labels(event_id=obj.event_id, source=obj.key):
            if obj.bucket != config.inbox_bucket or not obj.is_incoming:
                _log.info("ignored %s: not under gs://%s/incoming/", obj.uri, config.inbox_bucket)
                return
            from shared.clients import bigquery_client, storage_client
            from shared.scoring.batch import score_object
            from shared.scoring.bigquery_sink import BigQuerySink

            # The dataset is in the functions' region (infra/bigquery.tf): no read of the dataset
            # itself, which the function's table grants do not allow.
            sink = BigQuerySink(
                bigquery_client(config.project), config.dataset, location=config.region
            )
            score_object(
                obj,
                storage_client(config.project),
                sink,
                model_cache(config),
                settings=settings,
                handoff=pipeline_handoff(config, settings),
            )

    run_event_handler("score_file", handle)
