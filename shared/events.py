"""The events the functions are triggered by, parsed into records.

Both functions are triggered through Pub/Sub (Eventarc Pub/Sub triggers): they receive
`google.cloud.pubsub.topic.v1.messagePublished` CloudEvents whose data holds the message. The
batch function's messages are the inbox's Cloud Storage notifications, filtered to incoming/
(infra/storage.tf): each an OBJECT_FINALIZE with the object's JSON resource as its data
(https://cloud.google.com/storage/docs/pubsub-notifications). Anything else is an `EventError`
that names what was expected and what was found.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from shared.errors import EventError

PUBSUB_PUBLISHED: Final = "google.cloud.pubsub.topic.v1.messagePublished"

# Files to score are dropped under this prefix, and the inbox's notification is filtered to it;
# the function's own writes live elsewhere in the bucket (_claims/, processed/, quarantine/) so
# they never trigger scoring.
INCOMING_PREFIX: Final = "incoming/"


@dataclass(frozen=True)
class StorageObject:
    bucket: str
    name: str
    generation: int
    size: int
    content_type: str | None
    event_id: str

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}"

    @property
    def key(self) -> str:
        """What makes a file unique: an overwrite is a new generation, and so a new file."""
        return f"{self.bucket}/{self.name}#{self.generation}"

    @property
    def is_incoming(self) -> bool:
        return self.name.startswith(INCOMING_PREFIX) and not self.name.endswith("/")


@dataclass(frozen=True)
class PubsubMessage:
    message_id: str
    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        try:
            return json.loads(self.data or b"{}")
        except ValueError as exc:
            raise EventError(f"message {self.message_id}: data is not JSON: {exc}") from exc


def _check_type(attributes: Mapping[str, Any], expected: str) -> None:
    found = attributes.get("type")
    if found != expected:
        raise EventError(f"expected a CloudEvent of type {expected}, received {found!r}")


def _require(data: Mapping[str, Any], key: str, what: str) -> Any:
    value = data.get(key)
    if value in (None, ""):
        raise EventError(f"{what} event data has no {key!r}; found keys {sorted(data)}")
    return value


def storage_notification(attributes: Mapping[str, Any], data: Any) -> StorageObject:
    """The object of a Cloud Storage OBJECT_FINALIZE notification delivered by Pub/Sub."""
    message = pubsub_message(attributes, data)
    found = message.attributes.get("eventType")
    if found != "OBJECT_FINALIZE":
        raise EventError(
            f"message {message.message_id}: expected a Cloud Storage OBJECT_FINALIZE "
            f"notification, found eventType {found!r}"
        )
    resource = message.json()
    if not isinstance(resource, Mapping):
        raise EventError(
            f"message {message.message_id}: the notification's data must be the object JSON "
            f"(payload format JSON_API_V1), found {type(resource).__name__}"
        )
    try:
        generation = int(_require(resource, "generation", "storage"))
        size = int(resource.get("size") or 0)
    except (TypeError, ValueError) as exc:
        raise EventError(f"storage event has a non-numeric generation or size: {exc}") from exc
    return StorageObject(
        bucket=str(_require(resource, "bucket", "storage")),
        name=str(_require(resource, "name", "storage")),
        generation=generation,
        size=size,
        content_type=resource.get("contentType"),
        event_id=message.message_id,
    )


def pubsub_message(attributes: Mapping[str, Any], data: Any) -> PubsubMessage:
    """The message of a `messagePublished` CloudEvent (data: {"message": {...}})."""
    _check_type(attributes, PUBSUB_PUBLISHED)
    message = data.get("message") if isinstance(data, Mapping) else None
    if not isinstance(message, Mapping):
        raise EventError("Pub/Sub event data has no 'message' object")
    try:
        payload = base64.b64decode(message.get("data") or "", validate=True)
    except ValueError as exc:
        raise EventError(f"Pub/Sub message data is not base64: {exc}") from exc
    return PubsubMessage(
        message_id=str(message.get("messageId") or message.get("message_id") or ""),
        data=payload,
        attributes={str(k): str(v) for k, v in (message.get("attributes") or {}).items()},
    )
