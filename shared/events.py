"""The events the functions are triggered by, parsed into records.

Eventarc delivers a storage event as a CloudEvent of type `google.cloud.storage.object.v1.finalized`
whose data is the object's JSON resource; Pub/Sub-triggered functions receive
`google.cloud.pubsub.topic.v1.messagePublished` whose data holds the message. Anything else is an
`EventError` that names what was expected and what was found.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from shared.errors import EventError

STORAGE_FINALIZED: Final = "google.cloud.storage.object.v1.finalized"
PUBSUB_PUBLISHED: Final = "google.cloud.pubsub.topic.v1.messagePublished"

# Files to score are dropped under this prefix; the function's own outputs live elsewhere in the
# bucket (processed/, quarantine/) so they never trigger scoring again.
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


def storage_object(attributes: Mapping[str, Any], data: Any) -> StorageObject:
    """The object of a `finalized` storage CloudEvent."""
    _check_type(attributes, STORAGE_FINALIZED)
    if not isinstance(data, Mapping):
        raise EventError(f"storage event data must be the object JSON, found {type(data).__name__}")
    try:
        generation = int(_require(data, "generation", "storage"))
        size = int(data.get("size") or 0)
    except (TypeError, ValueError) as exc:
        raise EventError(f"storage event has a non-numeric generation or size: {exc}") from exc
    return StorageObject(
        bucket=str(_require(data, "bucket", "storage")),
        name=str(_require(data, "name", "storage")),
        generation=generation,
        size=size,
        content_type=data.get("contentType"),
        event_id=str(attributes.get("id", "")),
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
