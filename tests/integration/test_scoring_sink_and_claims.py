"""Exactly-once building blocks of batch scoring, against the local cloud: load jobs keyed by
what they hold, and the claim that fixes a file's run and model version."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime

import pandas as pd
import pytest
from google.cloud import bigquery

from local_emulator.settings import StackSettings
from shared import clients
from shared.events import StorageObject
from shared.scoring.bigquery_sink import BigQuerySink, job_id
from shared.scoring.claims import claim_file
from shared.tables import PREDICTIONS

pytestmark = pytest.mark.stack


def predictions(run_id: str, rows: int) -> pd.DataFrame:
    now = datetime.now(UTC)
    return pd.DataFrame(
        {
            "record_id": [f"id-{i}" for i in range(rows)],
            "passthrough": [None] * rows,
            "predicted_label": ["1" if i % 3 == 0 else "0" for i in range(rows)],
            "score": [i / rows for i in range(rows)],
            "model_name": "m",
            "model_version": "v1",
            "source_uri": "gs://inbox/incoming/a.csv",
            "source_generation": 7,
            "row_number": list(range(1, rows + 1)),
            "run_id": run_id,
            "scored_at": now,
            # The first row's own time; the others have none (a model without a time column).
            "data_time": [datetime(2018, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)] + [None] * (rows - 1),
            # A multiclass model's class probabilities (JSON text); a binary model's none.
            "probabilities": ['{"a": 0.25, "b": 0.75}'] + [None] * (rows - 1),
        }
    )


def count(owner: bigquery.Client, sink: BigQuerySink, run_id: str) -> int:
    rows = owner.query(
        f"SELECT COUNT(*) AS n FROM `{sink.table_id(PREDICTIONS)}` WHERE run_id = '{run_id}'"
    ).result()
    return int(next(iter(rows))["n"])


@pytest.fixture
def sink(local_stack: StackSettings) -> BigQuerySink:
    """The batch function's sink, as its own account."""
    client = clients.bigquery_client(local_stack.project, local_stack.endpoints("score_file"))
    return BigQuerySink(client, local_stack.dataset, location=local_stack.region)


@pytest.fixture
def owner(local_stack: StackSettings) -> bigquery.Client:
    """What landed is read as the project's owner: the batch function only writes rows into its
    tables, and may not read them back."""
    return clients.bigquery_client(local_stack.project, local_stack.endpoints())


def test_a_chunk_loaded_twice_under_its_job_id_lands_once(
    sink: BigQuerySink, owner: bigquery.Client
) -> None:
    run_id = str(uuid.uuid4())
    frame = predictions(run_id, 50)
    load = job_id("test", run_id, "chunk", 0)

    assert sink.load_once(PREDICTIONS, frame, load) is True
    assert sink.load_once(PREDICTIONS, frame, load) is False

    assert count(owner, sink, run_id) == 50


def test_concurrent_loads_of_one_chunk_land_once(
    sink: BigQuerySink, owner: bigquery.Client
) -> None:
    run_id = str(uuid.uuid4())
    frame = predictions(run_id, 20)
    load = job_id("test", run_id, "chunk", 0)
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(sink.load_once(PREDICTIONS, frame, load)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False, False, True]
    assert count(owner, sink, run_id) == 20


def test_loaded_rows_keep_their_types(sink: BigQuerySink, owner: bigquery.Client) -> None:
    run_id = str(uuid.uuid4())
    sink.load_once(PREDICTIONS, predictions(run_id, 3), job_id("types", run_id))

    rows = list(
        owner.query(
            "SELECT row_number, score, source_generation, scored_at, data_time, probabilities "
            f"FROM `{sink.table_id(PREDICTIONS)}` WHERE run_id = '{run_id}' ORDER BY row_number"
        ).result()
    )
    assert [r["row_number"] for r in rows] == [1, 2, 3]
    assert rows[1]["score"] == pytest.approx(1 / 3)
    assert rows[0]["source_generation"] == 7
    assert rows[0]["scored_at"].tzinfo is not None
    assert rows[0]["data_time"] == datetime(2018, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    assert rows[1]["data_time"] is None
    assert json.loads(rows[0]["probabilities"]) == {"a": 0.25, "b": 0.75}
    assert rows[1]["probabilities"] is None


def test_the_first_claim_fixes_the_version_for_every_later_attempt(
    local_stack: StackSettings,
) -> None:
    storage = clients.storage_client(local_stack.project, local_stack.endpoints("score_file"))
    obj = StorageObject(
        local_stack.inbox_bucket, f"incoming/{uuid.uuid4()}.csv", 42, 10, "text/csv", "e1"
    )

    first, created = claim_file(storage, obj, "m", "v1", 100)
    again, created_again = claim_file(storage, obj, "m", "v2", 100)  # the champion moved meanwhile

    assert created and not created_again
    assert (again.model_version, again.run_id) == ("v1", first.run_id)
    newer = StorageObject(obj.bucket, obj.name, 43, 10, "text/csv", "e2")  # an overwrite
    assert claim_file(storage, newer, "m", "v2", 100)[0].model_version == "v2"


def test_of_concurrent_claims_exactly_one_creates(local_stack: StackSettings) -> None:
    storage = clients.storage_client(local_stack.project, local_stack.endpoints("score_file"))
    obj = StorageObject(local_stack.inbox_bucket, f"incoming/{uuid.uuid4()}.csv", 1, 1, None, "e")
    outcomes: list[tuple[str, bool]] = []
    barrier = threading.Barrier(4)

    def claim(version: str) -> None:
        barrier.wait()
        found, created = claim_file(storage, obj, "m", version, 100)
        outcomes.append((found.run_id, created))

    threads = [threading.Thread(target=claim, args=(f"v{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(created for _, created in outcomes) == 1
    assert len({run_id for run_id, _ in outcomes}) == 1


def test_a_failed_load_is_retried_under_the_next_id_and_lands_once(
    local_stack: StackSettings,
) -> None:
    from shared.errors import SinkError
    from shared.tables import Table

    # As the project's owner: a table that does not exist yet is one only the owner may make
    # (to the function's own account a load into it is refused: no grant names that table).
    client = clients.bigquery_client(local_stack.project, local_stack.endpoints())
    sink = BigQuerySink(client, local_stack.dataset, location=local_stack.region)
    run_id = str(uuid.uuid4())
    late = Table(
        f"late_{uuid.uuid4().hex[:8]}", "created after the first load", PREDICTIONS.columns
    )
    frame = predictions(run_id, 30)
    load = job_id("late", run_id)

    # The first job fails for good (no such table): nothing is loaded and it says why.
    with pytest.raises(SinkError, match=late.name):
        sink.load_once(late, frame, load)
    assert sink.is_done(load) is False
    sink.client.create_table(bigquery.Table(sink.table_id(late), schema=late.schema()))

    # Its id is spent, so the retry loads under the next one, once.
    assert sink.load_once(late, frame, load) is True
    assert sink.load_once(late, frame, load) is False
    assert sink.is_done(load) is True
    rows = sink.client.query(f"SELECT COUNT(*) AS n FROM `{sink.table_id(late)}`").result()
    assert int(next(iter(rows))["n"]) == 30
    assert sink.client.get_job(f"{load}-2").state == "DONE"
