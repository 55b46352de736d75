"""The BigQuery tables cloudscore writes: one declaration each, used by the code, the local stack
and the deployment checks.

Schemas are fixed across model versions: the id of an input row is kept as text in `record_id`,
the passthrough columns as one JSON object, and a multiclass model's class probabilities as one
JSON object too, so a new model with other columns or other classes never needs a schema
migration. What each task writes in `predicted_label`, `score` and `probabilities` is
`shared.tasks`'.

Why JSON text for the probabilities rather than a REPEATED RECORD: a record's field names are
fixed by the schema but classes are data (one model has 3, the next 40, with any spelling), and
one column that holds any number of them keeps the table the same for every model; the
passthrough columns are stored alike; SQL reads one class as
`CAST(JSON_VALUE(probabilities, '$."gold"') AS FLOAT64)` and all of them with
`JSON_EXTRACT_SCALAR` over `JSON_KEYS` or in the client. (A REPEATED RECORD would also work for
any number of classes, but would need `UNNEST` for every read.)

A column added to a table here is NULLABLE and appended last: BigQuery adds such a column to an
existing table in place, keeping its rows (null in it), which is what `ensure_dataset` does for
a table an older cloudscore made, and what Terraform does when it applies the new schema
(https://cloud.google.com/bigquery/docs/managing-table-schemas#add_columns_to_a_tables_schema_definition).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from shared.errors import SinkError

if TYPE_CHECKING:
    from google.cloud import bigquery


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # BigQuery standard SQL type
    mode: str = "NULLABLE"
    description: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]
    partition_by_day: str | None = None  # a TIMESTAMP column
    cluster_by: tuple[str, ...] = ()

    def schema(self) -> list[bigquery.SchemaField]:
        from google.cloud import bigquery

        return [
            bigquery.SchemaField(c.name, c.type, mode=c.mode, description=c.description)
            for c in self.columns
        ]

    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _req(name: str, type_: str, description: str = "") -> Column:
    return Column(name, type_, "REQUIRED", description)


def _opt(name: str, type_: str, description: str = "") -> Column:
    return Column(name, type_, "NULLABLE", description)


_SOURCE = (
    _req("source_uri", "STRING", "gs://bucket/name of the scored file"),
    _req("source_generation", "INT64", "generation of the object that was scored"),
    _req("row_number", "INT64", "1-based data row of the file (the header is not counted)"),
)

_PROBABILITIES = "multiclass: every class's probability, as a JSON object {label: p}; else null"

PREDICTIONS: Final = Table(
    "predictions",
    "One row per scored input row.",
    (
        _opt("record_id", "STRING", "the input row's id column, as text"),
        _opt("passthrough", "STRING", "the declared passthrough columns, as a JSON object"),
        _opt("predicted_label", "STRING", "the predicted class (null for regression)"),
        _opt(
            "score",
            "FLOAT64",
            "binary: probability of the positive class; multiclass: probability of the "
            "predicted class; regression: the predicted value",
        ),
        _req("model_name", "STRING"),
        _req("model_version", "STRING"),
        *_SOURCE,
        _req("run_id", "STRING"),
        _req("scored_at", "TIMESTAMP"),
        _opt(
            "data_time",
            "TIMESTAMP",
            "the row's time column (model.time_column), UTC: the period monitoring judges it in; "
            "null when the model has none (then scored_at is used)",
        ),
        _opt("probabilities", "STRING", _PROBABILITIES),
    ),
    partition_by_day="scored_at",
    cluster_by=("model_version",),
)

REJECTED_ROWS: Final = Table(
    "rejected_rows",
    "One row per problem found in an input row that was therefore not scored.",
    (
        *_SOURCE,
        _opt("column_name", "STRING", "offending column; empty for a problem of the whole row"),
        _req("reason_code", "STRING"),
        _opt("reason", "STRING", "what was expected and what was found"),
        _opt("raw_value", "STRING"),
        _req("model_version", "STRING"),
        _req("run_id", "STRING"),
        _req("rejected_at", "TIMESTAMP"),
    ),
    partition_by_day="rejected_at",
)

SCORING_RUNS: Final = Table(
    "scoring_runs",
    "One row per file and attempt outcome; rows_in = rows_scored + rows_rejected.",
    (
        _req("run_id", "STRING"),
        _req("source_uri", "STRING"),
        _req("source_generation", "INT64"),
        _opt("model_version", "STRING"),
        _req(
            "status",
            "STRING",
            "succeeded, partially_rejected, rejected or failed; handed_off: the file went to the "
            "pipeline (the reason names its Dataflow job), whose run of it is recorded in a row of "
            "its own",
        ),
        _opt("reason", "STRING"),
        _req("rows_in", "INT64"),
        _req("rows_scored", "INT64"),
        _req("rows_rejected", "INT64"),
        _opt("bytes_in", "INT64"),
        _req("started_at", "TIMESTAMP"),
        _opt("ended_at", "TIMESTAMP"),
        _opt("drift_summary", "STRING", "JSON: per-feature drift of the batch vs the reference"),
    ),
    partition_by_day="started_at",
)

ONLINE_PREDICTIONS: Final = Table(
    "online_predictions",
    "Sampled requests answered by the HTTP function.",
    (
        _req("request_id", "STRING"),
        _req("instance_index", "INT64"),
        _opt("record_id", "STRING"),
        _opt("inputs", "STRING", "the instance, as a JSON object"),
        _opt("predicted_label", "STRING"),
        _opt("score", "FLOAT64"),
        _req("model_name", "STRING"),
        _req("model_version", "STRING"),
        _opt("alias", "STRING", "the alias that chose the version; null when one was pinned"),
        _req("shadow", "BOOL", "true: a challenger's shadow prediction, not the answer given"),
        _opt("latency_ms", "FLOAT64"),
        _req("predicted_at", "TIMESTAMP"),
        _opt("probabilities", "STRING", _PROBABILITIES),
    ),
    partition_by_day="predicted_at",
)

LABELS: Final = Table(
    "labels",
    "Ground truth as it arrives, loaded by users.",
    (
        _req("record_id", "STRING"),
        _req("label", "STRING"),
        _req("labelled_at", "TIMESTAMP"),
    ),
)

MONITORING_RUNS: Final = Table(
    "monitoring_runs",
    "One row per scheduled or manual check of the champion.",
    (
        _req("run_id", "STRING"),
        _req("started_at", "TIMESTAMP"),
        _req("decision", "STRING", "see shared.monitoring.record.Decision"),
        _opt("reason", "STRING", "why, in words"),
        _opt("trigger", "STRING", "schedule, manual, …"),
        _opt("champion_version", "STRING"),
        _opt("metrics", "STRING", "JSON: the champion on the labelled window"),
        _opt("drift", "STRING", "JSON: per-feature drift of the window's inputs"),
        _opt("challenger_version", "STRING"),
        _opt("challenger_metrics", "STRING", "JSON: champion and challenger on one holdout"),
        _opt("promoted", "BOOL"),
        _opt("report_uri", "STRING", "gs:// of the run's HTML report"),
        _opt("ended_at", "TIMESTAMP"),
        _opt("periods", "STRING", "JSON: the per-period table (performance, estimate, drift)"),
    ),
    partition_by_day="started_at",
)

MODEL_EVENTS: Final = Table(
    "model_events",
    "Audit log of every alias move in the registry.",
    (
        _req("event_id", "STRING"),
        _req("model_name", "STRING"),
        _req("alias", "STRING"),
        _opt("from_version", "STRING"),
        _opt("to_version", "STRING"),
        _req("actor", "STRING"),
        _opt("reason", "STRING"),
        _req("occurred_at", "TIMESTAMP"),
    ),
)

ALL_TABLES: Final = (
    PREDICTIONS,
    REJECTED_ROWS,
    SCORING_RUNS,
    ONLINE_PREDICTIONS,
    LABELS,
    MONITORING_RUNS,
    MODEL_EVENTS,
)


def ensure_dataset(client: bigquery.Client, dataset: str, location: str) -> list[str]:
    """Create the dataset and every table that is missing; returns the names created."""
    from google.cloud import bigquery

    ds = bigquery.Dataset(f"{client.project}.{dataset}")
    ds.location = location
    client.create_dataset(ds, exists_ok=True)
    existing = {t.table_id for t in client.list_tables(f"{client.project}.{dataset}")}
    created = []
    for table in ALL_TABLES:
        if table.name in existing:
            _require_columns(client, f"{client.project}.{dataset}.{table.name}", table)
            continue
        spec = bigquery.Table(f"{client.project}.{dataset}.{table.name}", schema=table.schema())
        spec.description = table.description
        if table.partition_by_day:
            spec.time_partitioning = bigquery.TimePartitioning(field=table.partition_by_day)
        if table.cluster_by:
            spec.clustering_fields = list(table.cluster_by)
        client.create_table(spec, exists_ok=True)
        created.append(table.name)
    return created


def _require_columns(client: bigquery.Client, table_id: str, table: Table) -> None:
    """Bring a table made by an older cloudscore up to this schema: its missing NULLABLE
    columns are appended in place (its rows stay, null in them); a missing REQUIRED column
    cannot be added so, and is refused, since writes would fail row by row."""
    existing = client.get_table(table_id)
    found = {field.name for field in existing.schema}
    missing = [column for column in table.columns if column.name not in found]
    required = [column.name for column in missing if column.mode == "REQUIRED"]
    if required:
        raise SinkError(
            f"{table_id} lacks the column(s) {', '.join(required)} of this cloudscore's schema "
            "(it was created by an older one); add them, or recreate the table"
        )
    if missing:
        added = {field.name: field for field in table.schema()}
        existing.schema = [*existing.schema, *(added[column.name] for column in missing)]
        client.update_table(existing, ["schema"])
