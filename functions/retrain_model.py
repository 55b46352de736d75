"""Retrainer: triggered by the retrain topic that the scheduler publishes to."""

from __future__ import annotations

import logging

import functions_framework
from cloudevents.http import CloudEvent

from shared.events import pubsub_message
from shared.runtime import instance_config, run_event_handler
from shared.structured_log import log_labels

_log = logging.getLogger(__name__)


@functions_framework.cloud_event
def retrain_model(cloud_event: CloudEvent) -> None:
    instance_config("retrain_model")

    def handle() -> None:
        message = pubsub_message(cloud_event.get_attributes(), cloud_event.get_data())
        with log_labels(message_id=message.message_id):
            _log.info(
                "retrain check requested (%d bytes, %s)", len(message.data), message.attributes
            )

    run_event_handler("retrain_model", handle)
