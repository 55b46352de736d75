"""The audit log of the model registry: every alias move, as a row of BigQuery `model_events`,
loaded through the one sink (`shared.scoring.bigquery_sink`)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from shared.registry import AliasMove
from shared.scoring.bigquery_sink import BigQuerySink
from shared.tables import MODEL_EVENTS

if TYPE_CHECKING:
    from google.cloud import bigquery


class AuditLog:
    def __init__(self, client: bigquery.Client, dataset: str, *, location: str) -> None:
        self.sink = BigQuerySink(client, dataset, location=location)
        self.table = self.sink.table_id(MODEL_EVENTS)

    def record(self, move: AliasMove) -> str:
        """Append the move; recording the same move twice adds one row (the job id is its key)."""
        key = f"{move.model_name}|{move.alias}|{move.to_version}|{move.occurred_at}"
        event_id = hashlib.sha256(key.encode()).hexdigest()[:32]
        row = {
            "event_id": event_id,
            "model_name": move.model_name,
            "alias": move.alias,
            "from_version": move.from_version,
            "to_version": move.to_version,
            "actor": move.actor,
            "reason": move.reason,
            "occurred_at": move.occurred_at,
        }
        self.sink.load_rows_once(MODEL_EVENTS, [row], f"model-event-{event_id}")
        return event_id
