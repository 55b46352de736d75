"""What the batch scoring stack tests share: a champion trained for the stack's model, a way to
drop a file in the inbox, and the row accounting of a file as BigQuery holds it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local_emulator.bridge import Delivery, to_cloud_event
from local_emulator.settings import StackSettings
from shared import clients


def run_row(local_stack: StackSettings, uri: str) -> dict[str, Any] | None:
    bq = clients.bigquery_client(local_stack.project, local_stack.endpoints())
    rows = list(
        bq.query(
            f"SELECT * FROM `{local_stack.project}.{local_stack.dataset}.scoring_runs` "
            f"WHERE source_uri = '{uri}'"
        ).result()
    )
    return dict(rows[0]) if len(rows) == 1 else None if not rows else {"duplicates": len(rows)}


def counts(local_stack: StackSettings, uri: str) -> tuple[int, int, int]:
    """(prediction rows, distinct predicted row numbers, distinct rejected row numbers)."""
    bq = clients.bigquery_client(local_stack.project, local_stack.endpoints())
    dataset = f"{local_stack.project}.{local_stack.dataset}"
    where = f"WHERE source_uri = '{uri}'"
    sql = (
        f"SELECT (SELECT COUNT(*) FROM `{dataset}.predictions` {where}) AS p, "
        f"(SELECT COUNT(DISTINCT row_number) FROM `{dataset}.predictions` {where}) AS pd, "
        f"(SELECT COUNT(DISTINCT row_number) FROM `{dataset}.rejected_rows` {where}) AS r"
    )
    row = next(iter(bq.query(sql).result()))
    return int(row["p"]), int(row["pd"]), int(row["r"])


def drop(local_stack: StackSettings, path: Path) -> tuple[str, int]:
    name = f"incoming/{uuid.uuid4().hex[:8]}-{path.name}"
    blob = (
        clients.storage_client(local_stack.project, local_stack.endpoints())
        .bucket(local_stack.inbox_bucket)
        .blob(name)
    )
    blob.upload_from_filename(str(path))
    return f"gs://{local_stack.inbox_bucket}/{name}", int(blob.generation)


def finalize_event(local_stack: StackSettings, uri: str, generation: int) -> Delivery:
    """The CloudEvent the batch function's trigger delivers for `uri`'s notification."""
    bucket, name = uri.removeprefix("gs://").split("/", 1)
    resource = {"bucket": bucket, "name": name, "generation": str(generation), "size": "1"}
    trigger = next(t for t in local_stack.triggers() if t.function == "score_file")
    return to_cloud_event(
        trigger,
        local_stack.project,
        message_id=f"test-{uuid.uuid4().hex[:12]}",
        data=json.dumps(resource).encode(),
        attributes={"eventType": "OBJECT_FINALIZE", "bucketId": bucket, "objectId": name},
        publish_time=datetime.now(UTC),
    )
