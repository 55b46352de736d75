from __future__ import annotations

import base64
from typing import Any

import pytest

from shared.errors import EventError
from shared.events import PUBSUB_PUBLISHED, STORAGE_FINALIZED, pubsub_message, storage_object

OBJECT = {
    "bucket": "inbox",
    "name": "incoming/day 1.csv",
    "generation": "1700000000000001",
    "size": "42",
    "contentType": "text/csv",
}


def attrs(type_: str) -> dict[str, Any]:
    return {
        "type": type_,
        "id": "evt-1",
        "source": "//storage.googleapis.com/projects/_/buckets/inbox",
    }


def test_a_finalized_event_gives_the_object_with_its_generation() -> None:
    obj = storage_object(attrs(STORAGE_FINALIZED), OBJECT)

    assert obj.uri == "gs://inbox/incoming/day 1.csv"
    assert obj.key == "inbox/incoming/day 1.csv#1700000000000001"
    assert obj.size == 42
    assert obj.is_incoming
    assert obj.event_id == "evt-1"


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
    assert (
        storage_object(attrs(STORAGE_FINALIZED), {**OBJECT, "name": name}).is_incoming is incoming
    )


def test_another_event_type_is_refused_with_both_types_named() -> None:
    with pytest.raises(EventError) as raised:
        storage_object(attrs("google.cloud.storage.object.v1.deleted"), OBJECT)

    assert STORAGE_FINALIZED in str(raised.value)
    assert "deleted" in str(raised.value)


def test_missing_generation_is_named() -> None:
    with pytest.raises(EventError, match="'generation'"):
        storage_object(
            attrs(STORAGE_FINALIZED), {k: v for k, v in OBJECT.items() if k != "generation"}
        )


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
