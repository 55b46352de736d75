"""Google Cloud clients, built lazily and once per process and endpoint.

Building a client at import would make `import functions...` need credentials and the network;
here nothing is built until first use. When an emulator endpoint is known (from the environment
variables the client libraries use, or passed in by the local stack) the client talks to the
emulator with anonymous credentials; otherwise to Google Cloud with the ambient credentials.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from shared.config import (
    BIGQUERY_EMULATOR_HOST,
    DATAFLOW_EMULATOR_HOST,
    PUBSUB_EMULATOR_HOST,
    STORAGE_EMULATOR_HOST,
)

# What the client libraries read from the environment, set on every function by infra/ and the
# local stack: google-cloud-storage (3.17 and later) fetches each bucket's metadata in the
# background for its telemetry (storage.buckets.get), which no function is granted, so every
# instance would be refused once per bucket and each refusal logged as a denied access.
CLIENT_LIBRARY_ENVIRONMENT: Final = {"DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA": "true"}

if TYPE_CHECKING:
    from google.auth.credentials import Credentials
    from google.cloud import bigquery, dataflow_v1beta3, storage


@dataclass(frozen=True)
class Endpoints:
    """Emulator endpoints; None means the real service."""

    storage: str | None = None  # with scheme: http://127.0.0.1:4443
    pubsub: str | None = None  # host:port (only the local cloud's own workers use Pub/Sub)
    bigquery: str | None = None  # with scheme: http://127.0.0.1:9050
    dataflow: str | None = None  # with scheme: the local Dataflow

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Endpoints:
        source = os.environ if env is None else env
        return cls(
            storage=source.get(STORAGE_EMULATOR_HOST) or None,
            pubsub=source.get(PUBSUB_EMULATOR_HOST) or None,
            bigquery=source.get(BIGQUERY_EMULATOR_HOST) or None,
            dataflow=source.get(DATAFLOW_EMULATOR_HOST) or None,
        )


def _anonymous() -> Credentials:
    from google.auth.credentials import AnonymousCredentials

    return AnonymousCredentials()


@functools.cache
def storage_client(project: str, endpoints: Endpoints | None = None) -> storage.Client:
    from google.cloud import storage

    endpoint = (endpoints or Endpoints.from_env()).storage
    if endpoint:
        return storage.Client(
            project=project,
            credentials=_anonymous(),
            client_options={"api_endpoint": endpoint},
        )
    return storage.Client(project=project)


@functools.cache
def bigquery_client(project: str, endpoints: Endpoints | None = None) -> bigquery.Client:
    from google.cloud import bigquery

    endpoint = (endpoints or Endpoints.from_env()).bigquery
    if endpoint:
        return bigquery.Client(
            project=project,
            credentials=_anonymous(),
            client_options={"api_endpoint": endpoint},
        )
    return bigquery.Client(project=project)


@functools.cache
def dataflow_clients(
    endpoints: Endpoints | None = None,
) -> tuple[dataflow_v1beta3.FlexTemplatesServiceClient, dataflow_v1beta3.JobsV1Beta3Client]:
    """The Dataflow API's Flex Template and job clients, over REST (the transport the local
    Dataflow speaks, and one less gRPC channel in a function)."""
    from google.cloud import dataflow_v1beta3

    endpoint = (endpoints or Endpoints.from_env()).dataflow
    options = {"credentials": _anonymous(), "client_options": {"api_endpoint": endpoint}}
    kwargs = options if endpoint else {}
    return (
        dataflow_v1beta3.FlexTemplatesServiceClient(transport="rest", **kwargs),  # type: ignore[arg-type]
        dataflow_v1beta3.JobsV1Beta3Client(transport="rest", **kwargs),  # type: ignore[arg-type]
    )
