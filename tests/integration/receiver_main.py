"""A CloudEvent function for tests: records what it receives (see recorder.py)."""

import functions_framework
from cloudevents.http import CloudEvent

from tests.integration import recorder


@functions_framework.cloud_event
def record_event(cloud_event: CloudEvent) -> None:
    recorder.CURRENT.receive(cloud_event.get_attributes(), cloud_event.get_data())
