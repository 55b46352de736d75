"""Pub/Sub clients of the local cloud's own workers (the bridge, the scheduler, provisioning).

No function calls Pub/Sub: the deployment's messages are published by Google's agents (Cloud
Storage's notifications, Cloud Scheduler, Pub/Sub's dead-lettering) and delivered by Eventarc.
So these live here, and google-cloud-pubsub is a dependency of the local cloud only.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from shared.clients import Endpoints

if TYPE_CHECKING:
    import grpc
    from google.cloud import pubsub_v1


def _emulator_channel(endpoint: str | None) -> grpc.Channel | None:
    if not endpoint:
        return None
    import grpc

    # What the library itself does for PUBSUB_EMULATOR_HOST: plaintext gRPC, no credentials.
    return grpc.insecure_channel(endpoint)


@functools.cache
def publisher_client(endpoints: Endpoints | None = None) -> pubsub_v1.PublisherClient:
    from google.cloud import pubsub_v1
    from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport

    channel = _emulator_channel((endpoints or Endpoints.from_env()).pubsub)
    if channel is None:
        return pubsub_v1.PublisherClient()
    return pubsub_v1.PublisherClient(transport=PublisherGrpcTransport(channel=channel))


@functools.cache
def subscriber_client(endpoints: Endpoints | None = None) -> pubsub_v1.SubscriberClient:
    from google.cloud import pubsub_v1
    from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

    channel = _emulator_channel((endpoints or Endpoints.from_env()).pubsub)
    if channel is None:
        return pubsub_v1.SubscriberClient()
    return pubsub_v1.SubscriberClient(transport=SubscriberGrpcTransport(channel=channel))
