"""The real Google clients against the stack's emulators."""

from __future__ import annotations

import uuid

import pytest
from google.api_core import exceptions

from local_emulator import pubsub
from local_emulator.settings import StackSettings
from shared import clients

pytestmark = pytest.mark.stack


def test_storage_object_written_and_read_back(local_stack: StackSettings) -> None:
    bucket = clients.storage_client(local_stack.project, local_stack.endpoints()).bucket(
        local_stack.models_bucket
    )
    payload = uuid.uuid4().bytes * 1000
    blob = bucket.blob(f"round-trip/{uuid.uuid4()}.bin")
    blob.upload_from_string(payload)

    assert bucket.blob(blob.name).download_as_bytes() == payload


def test_storage_generation_precondition_refuses_a_second_create(
    local_stack: StackSettings,
) -> None:
    bucket = clients.storage_client(local_stack.project, local_stack.endpoints()).bucket(
        local_stack.models_bucket
    )
    name = f"round-trip/{uuid.uuid4()}.json"
    bucket.blob(name).upload_from_string(b"first", if_generation_match=0)

    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob(name).upload_from_string(b"second", if_generation_match=0)
    assert bucket.blob(name).download_as_bytes() == b"first"


def test_bigquery_rows_loaded_and_queried(local_stack: StackSettings) -> None:
    from google.cloud import bigquery

    client = clients.bigquery_client(local_stack.project, local_stack.endpoints())
    table = f"{local_stack.project}.{local_stack.dataset}.labels"
    marker = f"rt-{uuid.uuid4()}"
    rows = [
        {"record_id": f"{marker}-{i}", "label": str(i % 2), "labelled_at": "2026-01-01T00:00:00Z"}
        for i in range(10)
    ]
    job = client.load_table_from_json(
        rows, table, job_config=bigquery.LoadJobConfig(write_disposition="WRITE_APPEND")
    )
    job.result()

    result = client.query(
        f"SELECT label, COUNT(*) AS n FROM `{table}` WHERE STARTS_WITH(record_id, @m) "
        "GROUP BY label ORDER BY label",
        job_config=bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter("m", "STRING", marker)]
        ),
    ).result()
    assert [(r["label"], r["n"]) for r in result] == [("0", 5), ("1", 5)]


def test_every_table_exists_with_its_declared_columns(local_stack: StackSettings) -> None:
    from shared.tables import ALL_TABLES

    client = clients.bigquery_client(local_stack.project, local_stack.endpoints())
    for table in ALL_TABLES:
        found = client.get_table(f"{local_stack.project}.{local_stack.dataset}.{table.name}")
        assert tuple(f.name for f in found.schema) == table.column_names()


def test_pubsub_message_published_and_pulled(local_stack: StackSettings) -> None:
    publisher = pubsub.publisher_client(local_stack.endpoints())
    subscriber = pubsub.subscriber_client(local_stack.endpoints())
    suffix = uuid.uuid4().hex[:8]
    topic = publisher.topic_path(local_stack.project, f"round-trip-{suffix}")
    subscription = subscriber.subscription_path(local_stack.project, f"round-trip-{suffix}")
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=subscription, topic=topic)

    publisher.publish(topic, b"hello", origin="test").result(timeout=10)

    response = subscriber.pull(subscription=subscription, max_messages=5, timeout=10)
    received = [(m.message.data, dict(m.message.attributes)) for m in response.received_messages]
    assert received == [(b"hello", {"origin": "test"})]


def test_a_load_job_id_used_twice_adds_its_rows_once(local_stack: StackSettings) -> None:
    # What makes a retried load add no duplicate rows: BigQuery refuses a second job with the
    # same id (the local stack's BigQuery is patched to behave so).
    from concurrent.futures import ThreadPoolExecutor

    from google.cloud import bigquery

    client = clients.bigquery_client(local_stack.project, local_stack.endpoints())
    table = f"{local_stack.project}.{local_stack.dataset}.labels"
    job_id = f"test-once-{uuid.uuid4().hex}"
    rows = [{"record_id": job_id, "label": "1", "labelled_at": "2026-01-01T00:00:00Z"}]
    config = bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON")

    def load() -> str:
        try:
            client.load_table_from_json(rows, table, job_config=config, job_id=job_id).result()
        except exceptions.Conflict:
            return "conflict"
        return "loaded"

    with ThreadPoolExecutor(3) as pool:
        outcomes = sorted(pool.map(lambda _: load(), range(3)))

    assert outcomes == ["conflict", "conflict", "loaded"]
    count = client.query(
        f"SELECT COUNT(*) AS n FROM `{table}` WHERE record_id = '{job_id}'"
    ).result()
    assert next(iter(count))["n"] == 1
