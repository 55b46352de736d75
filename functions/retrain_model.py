"""Retrainer: triggered by the retrain topic that the scheduler publishes to.

Each tick checks the champion and, when the policy says so, retrains and maybe promotes
(`shared.monitoring.check`). A tick delivered twice is checked once.
"""

from __future__ import annotations

import logging

import functions_framework
from cloudevents.http import CloudEvent

from shared.events import pubsub_message
from shared.runtime import instance_config, monitoring_cloud, run_event_handler
from shared.structured_log import log_labels

_log = logging.getLogger(__name__)


@functions_framework.cloud_event
def retrain_model(cloud_event: CloudEvent) -> None:
    instance_config("retrain_model")

    def handle() -> None:
        from shared.monitoring.check import run_check, tick_request

        message = pubsub_message(cloud_event.get_attributes(), cloud_event.get_data())
        with log_labels(message_id=message.message_id):
            run = run_check(monitoring_cloud(), tick_request(message.message_id, message.data))
            if run is not None:
                _log.info(
                    "check %s: %s — %s", run.run_id, run.decision.value, run.reason,
                    extra={"report_uri": run.report_uri},
                )  # fmt: skip

    run_event_handler("retrain_model", handle)
