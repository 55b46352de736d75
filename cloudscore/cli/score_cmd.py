"""`cloudscore score FILE --out OUT`: the batch function's scoring core on a local file.

The model and its contract come from the registry (the champion, or `--version`) or from a local
copy of a version (`--model-dir`, as `cloudscore models download` writes it: no cloud needed;
its files are checked against its manifest, which names the model and version). Predictions go to
OUT and rejected rows beside it (`out.rejected.parquet`), Parquet or CSV by extension, appended a
chunk at a time so memory does not grow with the file.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

from shared.config import BatchConfig
from shared.errors import DataError, UsageError
from shared.tables import PREDICTIONS, REJECTED_ROWS, Table

OUTPUT_SUFFIXES: Final = (".parquet", ".csv")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    score = subparsers.add_parser(
        "score",
        help="score a local CSV, Parquet or JSONL file (optionally .gz) with a model",
        description="Validate every row of FILE against the model's data contract, score the "
        "valid rows and write predictions to OUT and rejected rows (one per problem) next to "
        "it, with '.rejected' before the extension. Streams: memory does not grow with FILE.",
    )
    score.add_argument("file", type=Path, metavar="FILE")
    score.add_argument("--out", required=True, type=Path, help="predictions file: .parquet or .csv")
    source = score.add_mutually_exclusive_group()
    source.add_argument("--version", help="registry version to use (default: the champion)")
    source.add_argument(
        "--model-dir",
        type=Path,
        metavar="DIR",
        help="a version's files (as `cloudscore models download` writes them) instead of the "
        "registry",
    )
    score.add_argument(
        "--chunk-rows",
        type=int,
        default=BatchConfig().chunk_rows,
        help=f"rows per chunk (default: {BatchConfig().chunk_rows}, as the batch function's)",
    )
    score.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="model threads (default: all)"
    )
    score.set_defaults(run=_score)


@dataclass(frozen=True)
class LoadedModel:
    model: Any  # a ScoringModel
    contract: Any  # a DataContract
    name: str
    version: str


def load_model_dir(directory: Path) -> LoadedModel:
    """A version's files in `directory`, each checked against its manifest's sha256."""
    version = load_model_dir_version(directory)
    return LoadedModel(version.model, version.contract, version.model_name, version.version)


def load_model_dir_version(directory: Path) -> Any:
    """The `ModelVersion` of a version's files in `directory`, each checked against its
    manifest's sha256."""
    import json

    from shared.model_format import OLD_MODEL_FILE
    from shared.registry import MANIFEST_FILE, assemble_version, sha256

    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        old = " (it holds model.joblib, the old format: see `cloudscore models migrate`)"
        raise UsageError(
            f"--model-dir {str(directory)!r}: expected a version's files with its "
            f"{MANIFEST_FILE}, as `cloudscore models download VERSION --out DIR` writes them"
            + (old if (directory / OLD_MODEL_FILE).exists() else "")
        )
    data = manifest_path.read_bytes()
    manifest = json.loads(data)

    def read(name: str) -> bytes:
        path = directory / name
        if not path.is_file():
            raise DataError(f"{path}: listed in {MANIFEST_FILE} but missing")
        content = path.read_bytes()
        if sha256(content) != manifest["artifacts"][name]["sha256"]:
            raise DataError(f"{path} differs from its sha256 in {MANIFEST_FILE}; refusing it")
        return content

    return assemble_version(manifest, sha256(data), 0, read, where=f"{directory}/")


def _load_registry_model(version: str | None) -> LoadedModel:
    from cloudscore.cli.target import resolve_target
    from shared.model_cache import ModelCache

    target = resolve_target()
    cache = ModelCache(target.registry())
    loaded = cache.get_version(version) if version else cache.get("champion")
    return LoadedModel(loaded.model, loaded.contract, loaded.model_name, loaded.version)


def rejected_path(out: Path) -> Path:
    """Where the rejected rows of `out` go: `preds.parquet` → `preds.rejected.parquet`."""
    return out.with_name(f"{out.stem}.rejected{out.suffix}")


class TableFile:
    """One output file of a table's columns, appended a chunk at a time, renamed into place on
    success and removed on failure, so a failed run leaves no half file that looks complete."""

    def __init__(self, path: Path, table: Table) -> None:
        if path.suffix.lower() not in OUTPUT_SUFFIXES:
            raise UsageError(f"--out {str(path)!r}: expected a .parquet or .csv file")
        self.path = path
        self._partial = path.with_name(path.name + ".partial")
        self._parquet = path.suffix.lower() == ".parquet"
        self._schema = _arrow_schema(table)
        self._writer: Any = None
        self._text: IO[str] | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        if self._parquet:
            import pyarrow.parquet as pq

            self._writer = pq.ParquetWriter(self._partial, self._schema)
        else:
            self._text = self._partial.open("w", encoding="utf-8", newline="")
            self._text.write(",".join(self._schema.names) + "\n")

    def write(self, frame: Any) -> None:
        if len(frame) == 0:
            return
        if self._text is not None:
            frame.to_csv(self._text, header=False, index=False, lineterminator="\n")
            return
        import pyarrow as pa

        self._writer.write_table(
            pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
        )

    def close(self, complete: bool) -> None:
        if self._text is not None:
            self._text.close()
        else:
            self._writer.close()
        if complete:
            self._partial.replace(self.path)
        else:
            self._partial.unlink(missing_ok=True)


def _arrow_schema(table: Table) -> Any:
    import pyarrow as pa

    types = {
        "STRING": pa.string(),
        "INT64": pa.int64(),
        "FLOAT64": pa.float64(),
        "TIMESTAMP": pa.timestamp("us", tz="UTC"),
    }
    return pa.schema(
        [pa.field(c.name, types[c.type], nullable=c.mode != "REQUIRED") for c in table.columns]
    )


def _score(args: argparse.Namespace) -> int:
    from shared.scoring.core import RunInfo, ScoredChunk, score_file

    if not args.file.is_file():
        raise UsageError(f"{args.file}: no such file")
    if args.chunk_rows < 1 or args.threads < 1:
        raise UsageError("--chunk-rows and --threads must be at least 1")
    loaded = (
        load_model_dir(args.model_dir) if args.model_dir else _load_registry_model(args.version)
    )
    loaded.model.set_threads(args.threads)
    source = args.file.resolve()
    run = RunInfo(
        model_name=loaded.name,
        model_version=loaded.version,
        source_uri=source.as_uri(),
        source_generation=source.stat().st_mtime_ns,
        run_id=uuid.uuid4().hex,
        scored_at=datetime.now(UTC),
    )
    outputs = [TableFile(args.out, PREDICTIONS)]
    complete = False
    started = time.monotonic()
    try:
        outputs.append(TableFile(rejected_path(args.out), REJECTED_ROWS))

        def write(scored: ScoredChunk) -> None:
            outputs[0].write(scored.predictions)
            outputs[1].write(scored.rejections)

        summary = score_file(
            args.file, loaded.contract, loaded.model, run, chunk_rows=args.chunk_rows, write=write
        )
        complete = True
    finally:
        for output in outputs:
            output.close(complete)
    seconds = time.monotonic() - started
    rate = summary.rows_in / seconds if seconds > 0 else 0.0
    print(f"scored {args.file} ({summary.format}) with {loaded.name} {loaded.version}")
    counts = f"{summary.rows_in:,}, scored {summary.rows_scored:,}, rejected"
    print(f"rows in {counts} {summary.rows_rejected:,} in {seconds:.1f} s ({rate:,.0f} rows/s)")
    print(f"predictions: {outputs[0].path}\nrejected rows: {outputs[1].path}")
    return 0
