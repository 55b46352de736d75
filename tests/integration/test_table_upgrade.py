"""Tables made by an older cloudscore, brought up to this one's schema in place."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.cloud import bigquery

from local_emulator.settings import StackSettings
from shared import clients
from shared.monitoring.history import MonitoringHistory
from shared.tables import MONITORING_RUNS, ONLINE_PREDICTIONS, PREDICTIONS, ensure_dataset

pytestmark = pytest.mark.stack

# The columns each table has gained since: an older table lacks them all.
ADDED = {
    PREDICTIONS.name: ("data_time", "probabilities"),
    ONLINE_PREDICTIONS.name: ("probabilities",),
    MONITORING_RUNS.name: ("periods",),
}
UPGRADED = (PREDICTIONS, ONLINE_PREDICTIONS, MONITORING_RUNS)


def test_an_older_table_gains_the_new_nullable_columns_and_keeps_its_rows(
    local_stack: StackSettings,
) -> None:
    client = clients.bigquery_client(local_stack.project, local_stack.endpoints())
    dataset = "older_cloudscore"
    client.create_dataset(bigquery.Dataset(f"{client.project}.{dataset}"), exists_ok=True)
    for table in UPGRADED:
        old = [f for f in table.schema() if f.name not in ADDED[table.name]]
        client.create_table(bigquery.Table(f"{client.project}.{dataset}.{table.name}", old))
    started = datetime(2026, 11, 1, 3, tzinfo=UTC)
    old_run = {"run_id": "check-old", "started_at": started.isoformat(), "decision": "healthy"}
    client.load_table_from_json(
        [old_run], f"{client.project}.{dataset}.{MONITORING_RUNS.name}"
    ).result()

    created = ensure_dataset(client, dataset, local_stack.region)

    assert not {table.name for table in UPGRADED} & set(created)
    for table in UPGRADED:
        schema = client.get_table(f"{client.project}.{dataset}.{table.name}").schema
        assert [f.name for f in schema] == list(table.column_names())
        assert schema[-1].mode == "NULLABLE"
    (run,) = MonitoringHistory(client, dataset, location=local_stack.region).runs()
    assert run.run_id == "check-old" and run.periods == []
    # Ensured again: nothing left to add.
    assert ensure_dataset(client, dataset, local_stack.region) == []
