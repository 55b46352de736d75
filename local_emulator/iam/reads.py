"""What a training source (`training.source` in cloudscore.toml, read by the retrain function)
reads, as IAM sees it: the tables its query or table name reads and the bucket of its file.
Terraform grants the retrain account read on these (`var.training_source_reads`, passed by
`cloudscore deploy`); the local cloud grants the same."""

from __future__ import annotations

from dataclasses import dataclass

from local_emulator.iam.sql import TableRef, effects
from shared.errors import UsageError


@dataclass(frozen=True)
class SourceReads:
    tables: tuple[TableRef, ...] = ()
    buckets: tuple[str, ...] = ()

    def as_terraform(self) -> dict[str, list[str]]:
        """The value of infra's `training_source_reads` variable."""
        return {"tables": [str(t) for t in self.tables], "buckets": list(self.buckets)}


def source_reads(source: str | None, *, project: str) -> SourceReads:
    """The tables and buckets `source` reads; nothing for a local file (which a function cannot
    read) or no source. Unqualified tables are in `project`, as BigQuery resolves them."""
    if not source:
        return SourceReads()
    if source.startswith("gs://"):
        bucket = source.removeprefix("gs://").partition("/")[0]
        return SourceReads(buckets=(bucket,))
    if not source.startswith("bq://"):
        return SourceReads()
    spec = source.removeprefix("bq://").strip()
    if any(ch.isspace() for ch in spec):
        found = effects(spec, project=project)
        if found.writes or found.creates or found.drops or found.alters:
            raise UsageError(f"training.source {source!r}: a training source only reads")
        return SourceReads(tables=tuple(sorted(found.reads)))
    parts = spec.strip("`").split(".")
    if len(parts) == 2:
        parts.insert(0, project)
    if len(parts) != 3 or not all(parts):
        raise UsageError(
            f"training.source {source!r}: expected bq://project.dataset.table, bq://dataset.table "
            "or bq://SELECT …"
        )
    return SourceReads(tables=(TableRef(*parts),))
