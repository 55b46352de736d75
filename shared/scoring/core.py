"""Score a file chunk by chunk: the use case the batch function and `cloudscore score` share.

    score_chunk(chunk, contract, model, …) -> ScoredChunk     pure: validate, score, shape rows
    check_header(first_chunk, contract, name)                 HeaderMismatch: the file whole
    score_stream(stream, fmt, contract, model, run) -> (index, ScoredChunk) …
    score_file(path, contract, model, run, write=…) -> ScoreSummary

Every data row ends up either in `predictions` (one row) or in `rejections` (one row per
problem), so ``rows_in = rows_scored + rows_rejected`` for each chunk and the whole file. The
frames carry exactly the columns of `shared.tables.PREDICTIONS` and `REJECTED_ROWS`, in order.

A header that lacks a required column rejects the whole file (`HeaderMismatch`) before any chunk
is scored, so nothing is written for it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from shared.contract import DataContract, close_names, missing_columns, validate
from shared.errors import DataError
from shared.model import ScoringModel, scores_of
from shared.scoring.readers import (
    DEFAULT_CHUNK_ROWS,
    BadRow,
    Chunk,
    FileFormat,
    detect_format,
    iter_chunks,
)
from shared.tables import PREDICTIONS, REJECTED_ROWS
from shared.timestamps import utc_moments
from shared.values import BLANKS, label_text, record_id

PREDICTION_COLUMNS: Final = PREDICTIONS.column_names()
REJECTION_COLUMNS: Final = REJECTED_ROWS.column_names()
# Enough bytes for every magic number detect_format looks at, and a gzip header to peek into.
HEAD_BYTES: Final = 512


class HeaderMismatch(DataError):
    """The file's header lacks required columns: the whole file is rejected, nothing scored."""

    def __init__(
        self, name: str, missing: list[str], header: tuple[str, ...], known: frozenset[str]
    ) -> None:
        shown = ", ".join(header[:30]) + (", …" if len(header) > 30 else "")
        unknown = [column for column in header if column not in known]
        hints = [
            f"{near[0]!r}: did you mean {column!r}?"
            for column in missing
            if (near := close_names(column, unknown))
        ]
        super().__init__(
            f"{name}: the header lacks required column(s) {', '.join(map(repr, missing))} "
            f"(found: {shown or 'no columns'})"
            + (f"; the header has {'; '.join(hints)}" if hints else "")
        )
        self.missing = missing
        self.header = header


@dataclass(frozen=True)
class RunInfo:
    """What every output row of one scoring run carries besides the row's own values."""

    model_name: str
    model_version: str
    source_uri: str
    source_generation: int
    run_id: str
    scored_at: datetime


@dataclass(frozen=True)
class ScoredChunk:
    predictions: pd.DataFrame  # PREDICTIONS columns
    rejections: pd.DataFrame  # REJECTED_ROWS columns
    rows_in: int
    rows_scored: int
    rows_rejected: int
    # The scored rows' model inputs, typed as the contract declares them (for drift statistics).
    features: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass
class ScoreSummary:
    """The counts of a whole file; `chunks` lets a resumed run say where it stopped."""

    format: str
    header: tuple[str, ...] = ()
    rows_in: int = 0
    rows_scored: int = 0
    rows_rejected: int = 0
    chunks: int = 0

    def add(self, scored: ScoredChunk) -> None:
        self.rows_in += scored.rows_in
        self.rows_scored += scored.rows_scored
        self.rows_rejected += scored.rows_rejected
        self.chunks += 1


def score_chunk(
    chunk: Chunk,
    contract: DataContract,
    model: ScoringModel,
    *,
    model_name: str,
    model_version: str,
    source_uri: str,
    source_generation: int,
    run_id: str,
    scored_at: datetime,
) -> ScoredChunk:
    """Validate `chunk` against `contract`, score its valid rows with `model`, shape the output.

    A naive `scored_at` is taken as UTC.
    """
    at = _utc(scored_at)
    # Validated by position, then mapped to the file's row numbers: rows the reader could not
    # read are not in the frame, so position + first row number would be off after one.
    checked = validate(chunk.frame, contract, first_row_number=0, json_values=chunk.json_values)
    row_numbers = chunk.row_numbers()
    valid = checked.valid
    outputs = model.predict_outputs(valid)
    scores = scores_of(outputs)
    count = len(valid)
    id_column = contract.with_role("id")
    predictions = pd.DataFrame(
        {
            "record_id": record_id_texts(valid[id_column.name])
            if id_column is not None and id_column.name in valid.columns
            else _nulls(count),
            "passthrough": _passthrough(valid, contract),
            "predicted_label": predicted_labels(outputs, model),
            "score": scores,
            "model_name": model_name,
            "model_version": model_version,
            "source_uri": source_uri,
            "source_generation": np.full(count, source_generation, dtype=np.int64),
            "row_number": row_numbers[valid["row_number"].to_numpy(dtype=np.int64)],
            "run_id": run_id,
            "scored_at": _repeated(at, count),
            "data_time": data_times(valid, contract),
            "probabilities": probabilities_json(outputs, model.classes),
        },
        index=pd.RangeIndex(count),
        columns=list(PREDICTION_COLUMNS),
    )
    problems = _problems(checked.rejections, row_numbers, chunk.bad_rows)
    rejections = problems.assign(
        source_uri=source_uri,
        source_generation=np.full(len(problems), source_generation, dtype=np.int64),
        model_version=model_version,
        run_id=run_id,
        rejected_at=_repeated(at, len(problems)),
    )[list(REJECTION_COLUMNS)]
    return ScoredChunk(
        predictions=predictions,
        rejections=rejections,
        rows_in=chunk.rows_in,
        rows_scored=count,
        rows_rejected=int(problems["row_number"].nunique()),
        features=valid,
    )


def score_stream(
    stream: BinaryIO,
    fmt: FileFormat,
    contract: DataContract,
    model: ScoringModel,
    run: RunInfo,
    *,
    name: str = "<file>",
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    start_chunk: int = 0,
) -> Generator[tuple[int, ScoredChunk], None, None]:
    """The scored chunks of a file, numbered from 0; raises `HeaderMismatch` before the first.

    With `start_chunk`, the chunks before it are read but not scored (a resumed run): the
    same file and `chunk_rows` give the same chunk boundaries. An empty file yields nothing.
    """
    settings = {f.name: getattr(run, f.name) for f in fields(run)}
    # Closed here, not when garbage collected: by then the caller may have closed `stream`.
    with closing(iter_chunks(stream, fmt, chunk_rows, name)) as chunks:
        first = next(chunks, None)
        if first is None:
            return
        check_header(first, contract, name)
        for index, chunk in enumerate(_chained(first, chunks)):
            if index >= start_chunk:
                yield index, score_chunk(chunk, contract, model, **settings)


def check_header(first: Chunk, contract: DataContract, name: str) -> None:
    """`HeaderMismatch` when the file whose first chunk is `first` lacks a required column."""
    # A JSONL file whose first lines are all malformed has no header to judge: its rows are.
    if first.header or len(first.frame):
        missing = missing_columns(first.header, contract)
        if missing:
            known = frozenset(c.name for c in contract.columns)
            raise HeaderMismatch(name, missing, first.header, known)


def score_file(
    path: Path,
    contract: DataContract,
    model: ScoringModel,
    run: RunInfo,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    write: Callable[[ScoredChunk], None] | None = None,
) -> ScoreSummary:
    """Score a local file chunk by chunk, handing each scored chunk to `write`."""
    with path.open("rb") as stream:
        head = stream.read(HEAD_BYTES)
        stream.seek(0)
        fmt = detect_format(path.name, None, head)
        summary = ScoreSummary(format=str(fmt))
        scored_chunks = score_stream(
            stream, fmt, contract, model, run, name=str(path), chunk_rows=chunk_rows
        )
        with closing(scored_chunks):
            for _, scored in scored_chunks:
                summary.add(scored)
                if write is not None:
                    write(scored)
    return summary


def _chained(first: Chunk, rest: Iterator[Chunk]) -> Iterator[Chunk]:
    yield first
    yield from rest


def _utc(moment: datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)


def _repeated(moment: pd.Timestamp, count: int) -> pd.Series:
    # Built from one datetime64, not `count` Timestamps: the latter is ~2 µs a row.
    naive = moment.tz_convert(None).as_unit("us").to_datetime64()
    return pd.Series(np.full(count, naive), dtype="datetime64[us]").dt.tz_localize(UTC)


def data_times(valid: pd.DataFrame, contract: DataContract) -> pd.Series:
    """Each valid row's time column as a UTC moment (microseconds), NaT where it has none: the
    moment monitoring files the row under. A time column of numbers names no moment: NaT."""
    column = contract.with_role("time")
    count = len(valid)
    if column is None or column.kind != "timestamp" or column.name not in valid.columns:
        return pd.Series(pd.NaT, index=pd.RangeIndex(count), dtype="datetime64[us, UTC]")
    values = valid[column.name]
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        moments = pd.to_datetime(values, utc=True)
    else:
        objects = values.to_numpy(dtype=object)
        texts = [v.strip(BLANKS) if isinstance(v, str) else None for v in objects]
        moments = utc_moments(pa.array(texts, pa.large_string()))
    return moments.dt.floor("us").astype("datetime64[us, UTC]").set_axis(pd.RangeIndex(count))


def row_days(predictions: pd.DataFrame) -> npt.NDArray[np.int64]:
    """The UTC day (days since 1970-01-01) each prediction row is filed under for monitoring:
    its `data_time`, else its `scored_at`."""
    times = predictions["data_time"].fillna(predictions["scored_at"])
    naive = times.dt.tz_convert(None).to_numpy(dtype="datetime64[us]")
    days: npt.NDArray[np.int64] = naive.astype("datetime64[D]").astype(np.int64)
    return days


def _nulls(count: int) -> pd.Series:
    return pd.Series([None] * count, dtype=object)


def predicted_labels(outputs: npt.NDArray[np.float64], model: ScoringModel) -> pd.Series:
    """The rule of ScoringModel.predict_labels, applied to the outputs already computed; for
    regression, nulls."""
    if model.task == "regression":
        return _nulls(len(outputs))
    # Taken from Arrow strings: ten times faster than a Python string per row.
    # Spelled as labels are (`shared.values.label_text`): a float target's 1.0 is "1".
    if model.classes:
        words = pa.array(list(model.classes), pa.large_string())
        chosen = pc.take(words, pa.array(np.argmax(outputs, axis=1)))
    else:
        words = pa.array(
            [label_text(model.negative_label), label_text(model.positive_label)],
            pa.large_string(),
        )
        chosen = pc.take(words, pa.array((outputs >= model.threshold).view(np.int8)))
    labels: pd.Series = chosen.to_pandas()  # pandas' text dtype (object before pandas 3)
    return labels


def probabilities_json(outputs: npt.NDArray[np.float64], classes: tuple[str, ...]) -> pd.Series:
    """Each row's class probabilities as the JSON object `probabilities` holds ({label: p}, in
    the model's class order); nulls for a model without classes."""
    if not classes:
        return _nulls(len(outputs))
    # One %-template per model, a float's repr per value: the shortest text that reads back as
    # the same double, which JSON takes (the probabilities are finite).
    template = "{" + ", ".join(f"{json.dumps(c, ensure_ascii=False)}: %r" for c in classes) + "}"
    return pd.Series([template % tuple(row) for row in outputs.tolist()], dtype=object)


def record_id_texts(values: pd.Series) -> pd.Series:
    """Ids as `record_id` spells them (`shared.values.record_id`); None where missing (text in
    pandas' text dtype stays in it, with its own missing value)."""
    fresh = pd.RangeIndex(len(values))
    if isinstance(values.dtype, pd.StringDtype) or (
        values.dtype == object and pd.api.types.infer_dtype(values, skipna=False) == "string"
    ):
        # Text already, none of it missing when not in the text dtype (as the ids read from a
        # CSV): kept as it is, instead of a str() of each value.
        return values.set_axis(fresh)
    missing = values.isna().to_numpy()
    # As Python values (a NumPy int64 is no int), one at a time by the one rule.
    plain = values.to_numpy(dtype=object).tolist()
    texts = [None if gone else record_id(_plain(x)) for x, gone in zip(plain, missing, strict=True)]
    return pd.Series(np.array(texts, dtype=object), dtype=object)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _passthrough(valid: pd.DataFrame, contract: DataContract) -> pd.Series:
    names = [c.name for c in contract.columns if c.role == "passthrough" and c.name in valid]
    if not names:
        return _nulls(len(valid))
    columns = [valid[name].to_numpy(dtype=object) for name in names]
    documents = [
        json.dumps(
            {name: _json_value(value) for name, value in zip(names, row, strict=True)},
            ensure_ascii=False,
            default=str,
        )
        for row in zip(*columns, strict=True)
    ]
    return pd.Series(documents, dtype=object)


def _json_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return _json_value(value.item())
    if isinstance(value, datetime):
        return value.isoformat()
    if value is pd.NaT:
        return None
    return value


def _problems(
    found: pd.DataFrame, row_numbers: npt.NDArray[np.int64], bad_rows: tuple[BadRow, ...]
) -> pd.DataFrame:
    """Validation findings and unreadable rows, with the file's row numbers, in row order."""
    checked = found.assign(row_number=row_numbers[found["row_number"].to_numpy(dtype=np.int64)])
    if not bad_rows:
        return checked.reset_index(drop=True)
    unreadable = pd.DataFrame(
        {
            "row_number": np.array([b.row_number for b in bad_rows], dtype=np.int64),
            "column_name": pd.Series([b.column_name for b in bad_rows], dtype=object),
            "reason_code": pd.Series([b.reason_code for b in bad_rows], dtype=object),
            "reason": pd.Series([b.reason for b in bad_rows], dtype=object),
            "raw_value": pd.Series([b.raw_value for b in bad_rows], dtype=object),
        }
    )
    both = pd.concat([checked, unreadable], ignore_index=True) if len(checked) else unreadable
    return both.sort_values("row_number", kind="stable", ignore_index=True)
