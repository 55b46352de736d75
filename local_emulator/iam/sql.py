"""What a BigQuery SQL script touches, as BigQuery's permission check sees it: the tables each
statement reads, writes, creates, drops or alters, found by parsing the script with sqlglot's
BigQuery dialect (never by matching text).

BigQuery checks `bigquery.tables.getData` on every table a query reads; a DML statement needs
`bigquery.tables.updateData` on its target (and reads it too when it is an UPDATE, DELETE or
MERGE); DDL needs `bigquery.tables.create` on the dataset, `delete` or `update` on the table
(https://cloud.google.com/bigquery/docs/access-control,
https://cloud.google.com/bigquery/docs/data-manipulation-language#required_permissions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.errors import UsageError


@dataclass(frozen=True, order=True)
class TableRef:
    project: str
    dataset: str
    table: str

    def __str__(self) -> str:
        return f"{self.project}.{self.dataset}.{self.table}"


@dataclass
class Effects:
    """The tables a script touches, by what it does to them."""

    reads: set[TableRef] = field(default_factory=set)
    writes: set[TableRef] = field(default_factory=set)  # DML targets
    creates: set[TableRef] = field(default_factory=set)
    drops: set[TableRef] = field(default_factory=set)
    alters: set[TableRef] = field(default_factory=set)
    metadata: set[tuple[str, str]] = field(default_factory=set)  # INFORMATION_SCHEMA: datasets


class UnreadableSql(UsageError):
    """The script cannot be parsed, so what it touches cannot be known."""


def effects(sql: str, *, project: str, default_dataset: str | None = None) -> Effects:
    """What `sql` touches; unqualified names are resolved as BigQuery does: in `project`, and in
    `default_dataset` (the job's defaultDataset) when they name no dataset."""
    import sqlglot
    from sqlglot.errors import ParseError

    try:
        statements = [s for s in sqlglot.parse(sql, read="bigquery") if s is not None]
    except ParseError as exc:
        raise UnreadableSql(f"the query cannot be parsed as BigQuery SQL: {exc}") from exc
    found = Effects()
    for statement in statements:
        _Statement(statement, project, default_dataset).add_to(found)
    return found


class _Statement:
    def __init__(self, statement: Any, project: str, default_dataset: str | None) -> None:
        from sqlglot import exp

        self.statement = statement
        self.project = project
        self.default_dataset = default_dataset
        self.ctes = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}

    def ref(self, table: Any) -> TableRef | None:
        """The table a name means; None for a CTE's name or a table function."""
        if not table.name or (not table.db and table.name in self.ctes):
            return None
        dataset = table.db or self.default_dataset
        if dataset is None:
            raise UnreadableSql(
                f"table {table.name!r} names no dataset and the query sets no default dataset"
            )
        return TableRef(table.catalog or self.project, dataset, table.name)

    def target(self) -> Any:
        """The table a DML or DDL statement acts on."""
        from sqlglot import exp

        this = self.statement.this
        if isinstance(this, exp.Schema):  # INSERT INTO t (a, b) …, CREATE TABLE t (a INT64)
            this = this.this
        return this if isinstance(this, exp.Table) else None

    def add_to(self, found: Effects) -> None:
        from sqlglot import exp

        statement, target = self.statement, None
        acts = {
            exp.Insert: (found.writes,),
            exp.Update: (found.writes, found.reads),
            exp.Delete: (found.writes, found.reads),
            exp.Merge: (found.writes, found.reads),
            exp.Create: (found.creates,),
            exp.Drop: (found.drops,),
            exp.Alter: (found.alters,),
        }
        kinds = next((sets for kind, sets in acts.items() if isinstance(statement, kind)), None)
        if kinds is not None:
            target = self.target()
            reference = self.ref(target) if target is not None else None
            if reference is not None:
                for kind in kinds:
                    kind.add(reference)
        elif not isinstance(statement, exp.Query):
            raise UnreadableSql(
                f"a {type(statement).__name__} statement is not one whose permissions are known "
                "here (queries, DML and table DDL are)"
            )
        for table in statement.find_all(exp.Table):
            if table is target:
                continue
            if table.name.upper().startswith("INFORMATION_SCHEMA."):
                found.metadata.add((table.catalog or self.project, table.db or ""))
                continue
            reference = self.ref(table)
            if reference is not None:
                found.reads.add(reference)
