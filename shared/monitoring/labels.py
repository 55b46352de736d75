"""Ground truth as it arrives: label files checked, made into `labels` rows and loaded once.

    LabelColumns.of(config, id_column=…, …)           which columns hold the id, label and time
    opened(source, storage) -> (stream, content type) a local file or gs://bucket/name
    check_labels(stream, name, columns, …) -> PreparedLabels   read, normalise, check: pure
    label_frame(path, id_column=…, label_column=…) -> frame    the same for one local file
    refuse_problems(prepared)                         LabelsRefused listing the first problems
    load_labels(client, dataset, frame, job_key, location=…) -> bool   False: loaded before

A file is read by the batch path's reader (`shared.scoring.readers`: CSV as text as written,
Parquet and JSONL typed, row numbers as 1-based data rows) and its ids become text by the very
function that makes `predictions.record_id`, so an id joins its predictions exactly: "007" stays
"007", 17 and 17.0 become "17", text keeps its blanks.

Labels become text through `shared.values.label_text`, as training reads its target and
scoring spells `predicted_label`, and the monitoring check applies it to the configuration's
`positive_label`: numbers in their shortest form (1, 1.0 and "1.0" are "1"), booleans as
"1"/"0" (TOML's `positive_label = true` is the Python True), other text trimmed.

A file with any problem (an empty id or label, an unreadable time, an id with two labels, more
than two labels for a binary task) loads nothing: `refuse_problems` raises before any load, for
every file given at once. Rows repeated within a file (same id and label) are loaded once, with
the latest time. The load job's id derives from the sha256 of the loaded rows and the table, so
loading a file again adds nothing; BigQuery refuses a job id it has seen.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final

import numpy as np
import pandas as pd
import pyarrow as pa

from shared.errors import DataError, UsageError
from shared.retryable import transient_errors
from shared.scoring.bigquery_sink import BigQuerySink, job_id
from shared.scoring.core import HEAD_BYTES, record_id_texts
from shared.scoring.readers import Chunk, detect_format, iter_chunks
from shared.tables import LABELS
from shared.timestamps import utc_moments
from shared.values import json_text, label_text, read_timestamp

if TYPE_CHECKING:
    from google.cloud import bigquery, storage

    from shared.project_config import ProjectConfig

DEFAULT_TIME_COLUMN: Final = "labelled_at"
# Problems shown in a refusal; the total is counted whatever their number.
SHOWN_PROBLEMS: Final = 10


@dataclass(frozen=True)
class LabelColumns:
    """The columns of a label file; each `*_from` says where the name came from, for messages."""

    id: str
    label: str
    time: str | None = None  # None: DEFAULT_TIME_COLUMN when the file has it, else the load time
    id_from: str = "--id-column"
    label_from: str = "--label-column"

    @classmethod
    def of(
        cls,
        config: ProjectConfig,
        *,
        id_column: str | None = None,
        label_column: str | None = None,
        time_column: str | None = None,
    ) -> LabelColumns:
        """The given names, else the configuration's `model.id_column` and `model.target`."""
        if id_column is None and config.id_column is None:
            raise UsageError(
                "--id-column: needed, since the configuration sets no model.id_column "
                "(the column that predictions.record_id is made from)"
            )
        return cls(
            id=id_column or config.id_column or "",
            label=label_column or config.target,
            time=time_column,
            id_from="--id-column" if id_column else "model.id_column",
            label_from="--label-column" if label_column else "model.target",
        )


@dataclass(frozen=True)
class Problem:
    """One reason a file is refused: where (row and column, when it has them) and what."""

    source: str
    row_number: int | None  # 1-based data row; None: the file as a whole
    column: str | None
    message: str  # "expected …, found …"

    def __str__(self) -> str:
        where = self.source if self.row_number is None else f"{self.source} row {self.row_number}"
        if self.column is not None:
            where += f", column {self.column!r}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class PreparedLabels:
    """One file, checked: the rows to load (LABELS columns), or the problems that refuse it."""

    name: str
    rows_read: int
    rows: pd.DataFrame  # record_id, label, labelled_at (UTC); empty when there are problems
    job_key: str  # sha256 of the rows; "" when there are problems
    time_column: str | None = None  # the column labelled_at came from; None: the load time
    problems: tuple[Problem, ...] = ()  # the first SHOWN_PROBLEMS, in row order
    problem_count: int = 0
    warnings: tuple[str, ...] = field(default=())

    def label_counts(self) -> dict[str, int]:
        """Rows to load per label, the most frequent first."""
        counts = self.rows["label"].value_counts(sort=True)
        return {str(label): int(count) for label, count in counts.items()}


class LabelsRefused(DataError):
    """Label files with problems: nothing was loaded from any of them."""

    def __init__(self, prepared: Sequence[PreparedLabels]) -> None:
        problems = [problem for p in prepared for problem in p.problems]
        total = sum(p.problem_count for p in prepared)
        refused = [p.name for p in prepared if p.problem_count]
        lines = [str(problem) for problem in problems[:SHOWN_PROBLEMS]]
        if total > len(lines):
            lines.append(f"… and {total - len(lines):,} more")
        super().__init__(
            f"{total:,} problem(s) in {', '.join(refused)}; nothing was loaded:\n  "
            + "\n  ".join(lines)
        )
        self.problem_count = total


def refuse_problems(prepared: Sequence[PreparedLabels]) -> None:
    """Raise `LabelsRefused` when any file has a problem."""
    if any(p.problem_count for p in prepared):
        raise LabelsRefused(prepared)


@contextlib.contextmanager
def opened(
    source: str, storage_client: storage.Client | None = None
) -> Iterator[tuple[BinaryIO, str | None]]:
    """The file's bytes and content type: a local path, or gs://bucket/name (downloaded to a
    temporary file first, as a Parquet file needs random access)."""
    if not source.startswith("gs://"):
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"{source}: no such file")
        with path.open("rb") as stream:
            yield stream, None
        return
    if storage_client is None:
        raise UsageError(f"{source}: reading it needs a cloud client")
    bucket, _, name = source.removeprefix("gs://").partition("/")
    with tempfile.TemporaryFile() as local:
        with transient_errors(f"downloading {source}"):
            blob = storage_client.bucket(bucket).get_blob(name) if name else None
            if blob is None:
                raise UsageError(f"{source}: no such object")
            blob.download_to_file(local)
        local.seek(0)
        yield local, blob.content_type


def check_labels(
    stream: BinaryIO,
    name: str,
    columns: LabelColumns,
    *,
    task: str,
    positive_label: int | str,
    loaded_at: datetime,
    content_type: str | None = None,
) -> PreparedLabels:
    """Read the file in `stream` and check it; an unreadable file is a problem, not a raise."""
    try:
        chunks = read_chunks(stream, name, content_type)
    except DataError as exc:
        message = str(exc).removeprefix(f"{name}: ")
        return _refused(name, 0, [Problem(name, None, None, message)], 1)
    return prepare_labels(
        chunks, name, columns, task=task, positive_label=positive_label, loaded_at=loaded_at
    )


def label_frame(
    path: Path | str,
    *,
    id_column: str,
    label_column: str,
    time_column: str | None = None,
    task: str = "binary_classification",
    positive_label: int | str = 1,
    loaded_at: datetime | None = None,
) -> pd.DataFrame:
    """The rows to load from a local file (LABELS columns); `LabelsRefused` when it has a
    problem. `loaded_at` (default: now) dates the rows when the file has no time column."""
    columns = LabelColumns(id_column, label_column, time_column)
    with opened(str(path)) as (stream, _):
        prepared = check_labels(
            stream,
            str(path),
            columns,
            task=task,
            positive_label=positive_label,
            loaded_at=loaded_at or datetime.now(UTC),
        )
    refuse_problems([prepared])
    return prepared.rows


def read_chunks(stream: BinaryIO, name: str, content_type: str | None = None) -> list[Chunk]:
    """Every chunk of the file, read as the batch function reads it."""
    head = stream.read(HEAD_BYTES)
    stream.seek(0)
    fmt = detect_format(name, content_type, head)
    with contextlib.closing(iter_chunks(stream, fmt, name=name)) as chunks:
        return list(chunks)


def prepare_labels(
    chunks: Sequence[Chunk],
    name: str,
    columns: LabelColumns,
    *,
    task: str,
    positive_label: int | str,
    loaded_at: datetime,
) -> PreparedLabels:
    """The rows to load from a file's chunks, or the problems that refuse it (see the module
    docstring). A naive `loaded_at` is taken as UTC."""
    rows_read = sum(chunk.rows_in for chunk in chunks)
    header = chunks[0].header if chunks else ()
    if rows_read == 0:
        found = f"a header only ({_names(header)})" if header else "an empty file"
        return _refused(name, 0, [Problem(name, None, None, f"expected rows, found {found}")], 1)
    time_column = columns.time or (DEFAULT_TIME_COLUMN if DEFAULT_TIME_COLUMN in header else None)
    missing = _missing_columns(name, header, columns, time_column)
    if missing:
        return _refused(name, rows_read, missing, len(missing))
    problems = _Problems(name)
    for chunk in chunks:
        for bad in chunk.bad_rows:
            problems.add(Problem(name, bad.row_number, bad.column_name, bad.reason))
    read = pd.concat(
        [_normalised(chunk, columns, time_column) for chunk in chunks], ignore_index=True
    )
    bad = _row_problems(read, problems, columns, time_column, task)
    good = read[~bad]
    _conflicts(good, problems, columns)
    labels = good["label"].value_counts(sort=True)
    if task == "binary_classification" and len(labels) > 2:
        shown = ", ".join(
            f"{label!r} ({_row_count(count)})" for label, count in labels.head(10).items()
        )
        problems.add(
            Problem(
                name,
                None,
                columns.label,
                f"expected at most two distinct labels for a binary task, found {len(labels)}: "
                f"{shown}",
            )
        )
    if problems.count:
        return _refused(name, rows_read, problems.shown(), problems.count)
    warnings = []
    positive = label_text(positive_label)
    if task == "binary_classification" and positive not in labels.index:
        found = ", ".join(repr(label) for label in labels.index)
        warnings.append(
            f"{name}: no label equals the positive label {positive!r} (model.positive_label); "
            f"found {found}"
        )
    rows = _deduplicated(good, time_column, pd.Timestamp(loaded_at))
    return PreparedLabels(
        name=name,
        rows_read=rows_read,
        rows=rows,
        job_key=_job_key(rows, time_column),
        time_column=time_column,
        warnings=tuple(warnings),
    )


def load_labels(
    client: bigquery.Client, dataset: str, frame: pd.DataFrame, job_key: str, *, location: str
) -> bool:
    """Append `frame` (LABELS columns) to `dataset.labels` (in `location`) unless a load of the
    same key into the same table was done: True when this call loaded it."""
    sink = BigQuerySink(client, dataset, location=location)
    table_id = sink.table_id(LABELS)
    digest = hashlib.sha256(f"{table_id}\n{job_key}".encode()).hexdigest()
    return sink.load_once(LABELS, frame, job_id("labels", digest[:40]))


# --- checks ------------------------------------------------------------------------------------


class _Problems:
    """Counts every problem, keeps the first few of each kind."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.count = 0
        self._kept: list[Problem] = []

    def add(self, problem: Problem) -> None:
        self.count += 1
        if len(self._kept) < SHOWN_PROBLEMS * 8:
            self._kept.append(problem)

    def add_rows(self, rows: pd.DataFrame, column: str, raw: str, expected: str) -> None:
        """One problem per row of `rows`: expected `expected`, found its `raw` value."""
        for row_number, value in zip(
            rows["row_number"].head(SHOWN_PROBLEMS), rows[raw].head(SHOWN_PROBLEMS), strict=True
        ):
            message = f"expected {expected}, found {_found(value)}"
            self._kept.append(Problem(self.source, int(row_number), column, message))
        self.count += len(rows)

    def shown(self) -> list[Problem]:
        ordered = sorted(self._kept, key=lambda p: p.row_number or 0)
        return ordered[:SHOWN_PROBLEMS]


def _refused(name: str, rows_read: int, problems: list[Problem], count: int) -> PreparedLabels:
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in LABELS.column_names()})
    return PreparedLabels(
        name=name,
        rows_read=rows_read,
        rows=empty,
        job_key="",
        problems=tuple(problems[:SHOWN_PROBLEMS]),
        problem_count=count,
    )


def _missing_columns(
    name: str, header: tuple[str, ...], columns: LabelColumns, time_column: str | None
) -> list[Problem]:
    wanted = [("id", columns.id, columns.id_from), ("label", columns.label, columns.label_from)]
    if time_column is not None:
        wanted.append(("time", time_column, "--time-column"))
    return [
        Problem(
            name,
            None,
            None,
            f"expected the {role} column {column!r} ({origin}), found the columns {_names(header)}",
        )
        for role, column, origin in wanted
        if column not in header
    ]


def _normalised(chunk: Chunk, columns: LabelColumns, time_column: str | None) -> pd.DataFrame:
    """The chunk's rows: row_number, record_id, label, labelled_at (NaT where unreadable or
    absent) and the raw values, for the messages."""
    frame = chunk.frame.reset_index(drop=True)
    size = len(frame)

    def column(name: str | None) -> pd.Series:
        # A JSONL chunk has only the keys its records have: a column may be absent from one.
        if name is not None and name in frame.columns:
            return frame[name]
        return pd.Series([None] * size, dtype=object)

    ids = record_id_texts(column(columns.id))
    raw_label = column(columns.label)
    codes, uniques = pd.factorize(raw_label, use_na_sentinel=True)
    # One label_text per distinct value: label files hold few labels and many rows.
    texts = np.array([*(label_text(value) for value in uniques), ""], dtype=object)
    raw_time = column(time_column)
    return pd.DataFrame(
        {
            "row_number": chunk.row_numbers(),
            "record_id": _objects(ids),
            "label": texts[codes],
            "labelled_at": _timestamps(raw_time),
            "raw_id": _objects(column(columns.id)),
            "raw_label": _objects(raw_label),
            "raw_time": _objects(raw_time),
        }
    )


def _timestamps(raw: pd.Series) -> pd.Series:
    """Timestamps as the data contract reads them (`shared.values.read_timestamp`: ISO 8601
    text, blanks around it trimmed), or typed timestamps, as UTC; naive times are taken as UTC;
    NaT where not (a number is no timestamp)."""
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        return pd.to_datetime(raw, utc=True)
    texts = [read_timestamp(value)[0] for value in _objects(raw)]
    return utc_moments(pa.array(texts, pa.large_string()))


def _row_problems(
    read: pd.DataFrame,
    problems: _Problems,
    columns: LabelColumns,
    time_column: str | None,
    task: str,
) -> Any:
    ids = read["record_id"]
    no_id = (ids.isna() | (ids.str.strip() == "")).to_numpy(dtype=np.bool_)
    no_label = (read["label"] == "").to_numpy()
    checks = [
        (no_id, columns.id, "raw_id", "an id"),
        (no_label, columns.label, "raw_label", "a label"),
    ]
    if task == "regression":
        numbers = pd.to_numeric(read["label"], errors="coerce").to_numpy(dtype=np.float64)
        not_number = ~no_label & ~np.isfinite(numbers)
        checks.append((not_number, columns.label, "raw_label", "a finite number"))
    if time_column is not None:
        no_time = read["labelled_at"].isna().to_numpy()
        checks.append((no_time, time_column, "raw_time", "an ISO 8601 timestamp"))
    bad = np.zeros(len(read), dtype=np.bool_)
    for mask, column, raw, expected in checks:
        problems.add_rows(read[mask], column, raw, expected)
        bad |= mask
    return bad


def _conflicts(good: pd.DataFrame, problems: _Problems, columns: LabelColumns) -> None:
    """One problem per id that has more than one label in the file."""
    pairs = good.drop_duplicates(["record_id", "label"])
    conflicted = pairs.loc[pairs["record_id"].duplicated(keep=False), "record_id"].unique()
    for record_id in conflicted[:SHOWN_PROBLEMS]:
        same = good[good["record_id"] == record_id]
        spelled = " and ".join(
            f"{label!r} ({_rows(group['row_number'])})"
            for label, group in same.groupby("label", sort=False)
        )
        first = int(same["row_number"].min())
        problems.add(
            Problem(
                problems.source,
                first,
                columns.label,
                f"expected one label per id, found id {record_id!r} labelled {spelled}",
            )
        )
    problems.count += max(0, len(conflicted) - SHOWN_PROBLEMS)


def _row_count(count: int) -> str:
    return f"{count:,} row" + ("" if count == 1 else "s")


def _rows(numbers: pd.Series) -> str:
    listed = [str(n) for n in numbers.head(5)]
    more = f" and {len(numbers) - 5} more" if len(numbers) > 5 else ""
    return ("row " if len(numbers) == 1 else "rows ") + ", ".join(listed) + more


def _deduplicated(good: pd.DataFrame, time_column: str | None, loaded_at: pd.Timestamp) -> Any:
    """One row per (record_id, label): its row with the latest labelled_at, in file order."""
    at = loaded_at.tz_localize("UTC") if loaded_at.tzinfo is None else loaded_at.tz_convert("UTC")
    frame = good[["row_number", "record_id", "label", "labelled_at"]].copy()
    if time_column is None:
        frame["labelled_at"] = pd.Series(at, index=frame.index)
    frame["labelled_at"] = frame["labelled_at"].dt.floor("us")  # BigQuery keeps microseconds
    # Of equal times, the first row in the file is kept.
    frame = frame.sort_values("labelled_at", ascending=False, kind="stable")
    frame = frame.drop_duplicates(["record_id", "label"]).sort_values("row_number")
    return frame[list(LABELS.column_names())].reset_index(drop=True)


def _job_key(rows: pd.DataFrame, time_column: str | None) -> str:
    """sha256 of the rows in id order; without a time column the time of loading is left out,
    so the same file loaded again has the same key."""
    ordered = rows.sort_values(["record_id", "label"], kind="stable")
    times = [t.isoformat() for t in ordered["labelled_at"]] if time_column is not None else None
    payload = {
        "table": LABELS.name,
        "record_id": ordered["record_id"].tolist(),
        "label": ordered["label"].tolist(),
        "labelled_at": times,
    }
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()


def _objects(values: pd.Series) -> Any:
    """The values as Python objects, None where missing (NaN, NA, NaT)."""
    objects = values.to_numpy(dtype=object, copy=True)
    objects[pd.isna(objects)] = None
    return objects


def _found(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "an empty value"
    if isinstance(value, str) and len(value) > 80:
        value = value[:80] + "…"
    return json_text(value.item() if isinstance(value, np.generic) else value)


def _names(header: Sequence[str], limit: int = 20) -> str:
    if not header:
        return "no columns"
    shown = ", ".join(repr(name) for name in header[:limit])
    return shown + (", …" if len(header) > limit else "")
