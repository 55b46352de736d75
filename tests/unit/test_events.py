from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from shared.errors import EventError
from shared.events import PUBSUB_PUBLISHED, pubsub_message, storage_notification

OBJECT = {
    "bucket": "inbox",
    "name": "incoming/day 1.csv",
    "generation": "1700000000000001",
    "size": "42",
    "contentType": "text/csv",
}


def notification(
    resource: Any = OBJECT, event_type: str = "OBJECT_FINALIZE", type_: str = PUBSUB_PUBLISHED
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The attributes and data of the CloudEvent an Eventarc Pub/Sub trigger delivers for the
    inbox's notification (https://cloud.google.com/storage/docs/pubsub-notifications)."""
    message = {
        "attributes": {
            "eventType": event_type,
            "payloadFormat": "JSON_API_V1",
            "bucketId": "inbox",
            "objectId": resource.get("name", "") if isinstance(resource, dict) else "",
        },
        "data": base64.b64encode(json.dumps(resource).encode()).decode(),
        "messageId": "m-17",
    }
    attributes = {
        "type": type_,
        "id": "m-17",
        "source": "//pubsub.googleapis.com/projects/p/topics/inbox-events",
    }
    return attributes, {"message": message, "subscription": "projects/p/subscriptions/s"}


def test_a_finalize_notification_gives_the_object_with_its_generation() -> None:
    obj = storage_notification(*notification())

    assert obj.uri == "gs://inbox/incoming/day 1.csv"
    assert obj.key == "inbox/incoming/day 1.csv#1700000000000001"
    assert obj.size == 42
    assert obj.content_type == "text/csv"
    assert obj.is_incoming
    assert obj.event_id == "m-17"


@pytest.mark.parametrize(
    ("name", "incoming"),
    [
        ("incoming/a.csv", True),
        ("incoming/", False),
        ("processed/incoming/a.csv", False),
        ("a.csv", False),
    ],
)
def test_only_objects_under_incoming_are_incoming(name: str, incoming: bool) -> None:
    assert storage_notification(*notification({**OBJECT, "name": name})).is_incoming is incoming


def test_a_cloud_event_of_another_type_is_refused_with_both_types_named() -> None:
    with pytest.raises(EventError) as raised:
        storage_notification(*notification(type_="google.cloud.storage.object.v1.finalized"))

    assert PUBSUB_PUBLISHED in str(raised.value)
    assert "storage.object.v1.finalized" in str(raised.value)


def test_a_notification_of_another_kind_is_refused_naming_it() -> None:
    with pytest.raises(EventError, match="OBJECT_DELETE"):
        storage_notification(*notification(event_type="OBJECT_DELETE"))


def test_a_notification_without_the_object_is_refused() -> None:
    with pytest.raises(EventError, match="JSON_API_V1"):
        storage_notification(*notification(resource=["not", "an", "object"]))


def test_missing_generation_is_named() -> None:
    resource = {k: v for k, v in OBJECT.items() if k != "generation"}
    with pytest.raises(EventError, match="'generation'"):
        storage_notification(*notification(resource))


def test_a_pubsub_event_gives_the_decoded_message() -> None:
    data = {
        "message": {
            "data": base64.b64encode(b'{"trigger": "schedule"}').decode(),
            "messageId": "123",
            "attributes": {"k": "v"},
        }
    }

    message = pubsub_message({"type": PUBSUB_PUBLISHED}, data)

    assert message.message_id == "123"
    assert message.json() == {"trigger": "schedule"}
    assert message.attributes == {"k": "v"}


def test_pubsub_data_that_is_not_base64_is_an_event_error() -> None:
    with pytest.raises(EventError, match="not base64"):
        pubsub_message({"type": PUBSUB_PUBLISHED}, {"message": {"data": "%%%", "messageId": "1"}})
