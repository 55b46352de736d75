"""The audit log of the model registry: every alias move, as a row of BigQuery `model_events`."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from google.api_core import exceptions as api_exceptions

from shared.registry import AliasMove
from shared.retryable import transient_errors
from shared.tables import MODEL_EVENTS

if TYPE_CHECKING:
    from google.cloud import bigquery


class AuditLog:
    def __init__(self, client: bigquery.Client, dataset: str) -> None:
        self.client = client
        self.table = f"{client.project}.{dataset}.{MODEL_EVENTS.name}"

    def record(self, move: AliasMove) -> str:
        """Append the move; recording the same move twice adds one row (the job id is its key)."""
        from google.cloud import bigquery

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
        config = bigquery.LoadJobConfig(
            schema=MODEL_EVENTS.schema(),
            source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
            write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
        )
        with transient_errors(f"recording {move.alias} move in {self.table}"):
            try:
                job = self.client.load_table_from_json(
                    [row], self.table, job_config=config, job_id=f"model-event-{event_id}"
                )
                job.result()
            except api_exceptions.Conflict:
                pass  # this very move was recorded by an earlier attempt
        return event_id
