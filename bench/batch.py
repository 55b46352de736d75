"""Benchmark of batch scoring on the demo loan data (~20 columns), CSV and Parquet:

    (a) the limit: in one process, read the whole file with pyarrow, XGBoost `inplace_predict`
        on a float matrix, write id, score and label to a Parquet file;
    (b) the scoring core as the batch function runs it, with no network: `score_stream` over the
        file with the function's chunk size, each chunk's predictions and rejected rows made into
        Parquet in memory exactly as the BigQuery sink does before its load job;
    (c) end to end through the local cloud: the file uploaded to the inbox until its
        `scoring_runs` row is queryable.

Prints rows/s and peak RSS of each, (b)'s time per stage, and (b)'s peak RSS at two sizes.
Targets: (b) at least 0.8 times the rows/s of (a) in the same run; (b)'s peak RSS grows by less
than 200 MiB from the small size to the large one.

(a) and (b) run in turns, each run in a process of its own (so its peak RSS is its own), and the
median of `--repeat` runs is reported. Both use the same model, trained here on 20k demo rows
(XGBoost only), with `--threads` threads. The batch function as deployed leaves the model at the
one thread it is stored with; `cloudscore score` sets all cores, as (b) does. (c) starts a stack
of its own on free ports in a temporary folder and trains its champion there from the same rows
and settings (the search runs all its trials, so it is the same model: the tree counts printed
say so); the stack is always stopped. When (c) takes longer than 10 minutes it gives up and says
so: --e2e-rows runs it on fewer rows.
    .venv/bin/python bench/batch.py [--rows 1000000] [--rss-rows 100000 --rss-rows 5000000]
        [--formats csv,parquet] [--e2e-rows N | --no-e2e] [--repeat 3] [--threads N]
        [--bad-rows 0.0] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from unittest.mock import patch

import numpy as np

from cloudscore import demo_data
from shared.contract import DataContract
from shared.model import ScoringModel
from shared.project_config import ProjectConfig, parse_project_config

FORMATS: Final = ("csv", "parquet")
TRAIN_ROWS: Final = 20_000
TRAIN_SEED: Final = 41
DATA_SEED: Final = 3
# Long enough for the XGBoost search to finish its trials (~20-40 s here): a search cut by time
# gives a model whose size, and so the figures, depend on how busy the machine was.
TRAIN_BUDGET_S: Final = 120
RSS_TARGET_MIB: Final = 200.0
RATIO_TARGET: Final = 0.8
# Past this, (c) is impractical on the emulator: the output says so, and --e2e-rows is smaller.
E2E_TIMEOUT_S: Final = 600.0


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def current_rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


# --- the model and the data ---------------------------------------------------------------------


def project_config(model_name: str) -> ProjectConfig:
    return parse_project_config(
        {
            "model": {
                "name": model_name,
                "target": demo_data.LABEL_COLUMN,
                "id_column": demo_data.ID_COLUMN,
                "time_column": demo_data.TIME_COLUMN,
            },
            "training": {"time_budget_s": TRAIN_BUDGET_S, "candidates": ["xgboost"]},
        },
        "bench",
    )


def training_frame() -> Any:
    return next(demo_data.iter_demo_frames(TRAIN_ROWS, seed=TRAIN_SEED, chunk_rows=TRAIN_ROWS))


def train_model_dir(directory: Path) -> None:
    """A version's files, as `cloudscore score --model-dir` reads them."""
    from shared.contract import infer_contract, validate
    from shared.registration import stored_model_files, training_spec
    from shared.registry import NewVersion, version_dir_files
    from shared.training import train_model

    frame = training_frame()
    config = project_config("bench")
    contract = infer_contract(frame, config)
    spec, _ = training_spec(config, contract)
    outcome = train_model(validate(frame, contract).valid, spec)
    directory.mkdir(parents=True, exist_ok=True)
    new = NewVersion(stored_model_files(outcome.model), contract.to_json(), {}, {}, None, {})
    for name, data in version_dir_files("bench", "bench-local", new).items():
        (directory / name).write_bytes(data)


def load_model_dir(directory: Path) -> tuple[ScoringModel, DataContract]:
    from cloudscore.cli.score_cmd import load_model_dir as read_model_dir

    loaded = read_model_dir(directory)
    return loaded.model, loaded.contract


def trees(model: ScoringModel) -> int:
    return int(model.estimator.num_boosted_rounds()) if model.family == "xgboost" else 0


def data_file(workdir: Path, rows: int, fmt: str, bad_rows: float) -> Path:
    """The demo data file of this size, format and share of bad rows, written once."""
    path = workdir / f"demo-{rows}-s{DATA_SEED}-b{bad_rows:g}.{fmt}"
    if not path.exists():
        started = time.perf_counter()
        demo_data.write_demo_data(path, rows, seed=DATA_SEED, bad_rows=bad_rows)
        print(
            f"  (wrote {path.name}: {path.stat().st_size / 2**20:.0f} MiB "
            f"in {time.perf_counter() - started:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    return path


# --- (a) the limit ------------------------------------------------------------------------------


def run_limit(path: Path, model_dir: Path, threads: int, out: Path) -> dict[str, Any]:
    """Whole file with pyarrow (its threads), a float32 matrix, one inplace_predict, Parquet."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    model, _ = load_model_dir(model_dir)
    model.set_threads(threads)
    base_rss = current_rss_mib()
    clock = _Laps()
    table = pacsv.read_csv(path) if path.suffix == ".csv" else pq.read_table(path)
    clock.lap("read")
    # XGBoost computes in float32: a float64 matrix would only be converted on the way in.
    matrix = np.empty((table.num_rows, len(model.features)), dtype=np.float32)
    for position, feature in enumerate(model.features):
        column = table.column(feature.name)
        if feature.kind == "categorical":
            column = pc.index_in(column, value_set=pa.array(feature.categories))
        numbers = pc.cast(column, pa.float32())
        matrix[:, position] = pc.fill_null(numbers, np.float32("nan")).to_numpy()
    clock.lap("matrix")
    scores = np.asarray(model.estimator.inplace_predict(matrix), dtype=np.float64)
    if model.calibrator is not None:
        scores = model.calibrator(scores)
    clock.lap("predict")
    positive, negative = str(model.positive_label), str(model.negative_label)
    labels = pa.array(np.where(scores >= model.threshold, positive, negative))
    output = pa.table(
        {"record_id": table.column(demo_data.ID_COLUMN), "score": scores, "label": labels}
    )
    pq.write_table(output, out)
    clock.lap("write")
    out.unlink()
    return {
        "rows": table.num_rows,
        "seconds": clock.total,
        "stages": clock.laps,
        "peak_rss_mib": peak_rss_mib(),
        "base_rss_mib": base_rss,
    }


# --- (b) the scoring core -----------------------------------------------------------------------


def run_core(path: Path, model_dir: Path, threads: int) -> dict[str, Any]:
    """`score_stream` as `score_object` drives it, each chunk serialised as the sink does."""
    import pyarrow.parquet as pq

    from shared.config import BatchConfig
    from shared.scoring import core
    from shared.scoring.bigquery_sink import arrow_table
    from shared.scoring.readers import detect_format
    from shared.tables import PREDICTIONS, REJECTED_ROWS

    model, contract = load_model_dir(model_dir)
    model.set_threads(threads)
    base_rss = current_rss_mib()
    run = core.RunInfo(
        model_name="bench",
        model_version="v-bench",
        source_uri=f"gs://bench/incoming/{path.name}",
        source_generation=1,
        run_id=str(uuid.uuid4()),
        scored_at=datetime.now(UTC),
    )
    totals = {"rows_in": 0, "rows_scored": 0, "rows_rejected": 0, "chunks": 0, "bytes_out": 0}
    stages = dict.fromkeys(("read", "validate", "predict", "shape", "serialise"), 0.0)
    started = time.perf_counter()
    with _stage_timers(stages, model), path.open("rb") as stream:
        head = stream.read(core.HEAD_BYTES)
        stream.seek(0)
        fmt = detect_format(path.name, None, head)
        chunks = core.score_stream(
            stream, fmt, contract, model, run, name=str(path), chunk_rows=BatchConfig().chunk_rows
        )
        for _, scored in _timed(chunks, stages):
            lap = time.perf_counter()
            for table, frame in (
                (PREDICTIONS, scored.predictions),
                (REJECTED_ROWS, scored.rejections),
            ):
                if frame.empty:  # as BigQuerySink.load_once: an empty frame is not loaded
                    continue
                buffer = io.BytesIO()
                pq.write_table(arrow_table(table, frame), buffer)
                totals["bytes_out"] += buffer.tell()
            stages["serialise"] += time.perf_counter() - lap
            totals["rows_in"] += scored.rows_in
            totals["rows_scored"] += scored.rows_scored
            totals["rows_rejected"] += scored.rows_rejected
            totals["chunks"] += 1
    seconds = time.perf_counter() - started
    return {
        "rows": totals["rows_in"],
        "seconds": seconds,
        "stages": stages,
        "totals": totals,
        "peak_rss_mib": peak_rss_mib(),
        "base_rss_mib": base_rss,
    }


@contextmanager
def _stage_timers(stages: dict[str, float], model: ScoringModel) -> Iterator[None]:
    """Time validation, prediction and all of score_chunk by wrapping what score_stream calls.

    A few calls per chunk: the wrappers cost microseconds against chunks of tens of ms.
    """
    from shared.scoring import core

    def timed(function: Callable[..., Any], stage: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            lap = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                stages[stage] += time.perf_counter() - lap

        return wrapper

    stages["_score_chunk"] = 0.0
    original_predict = model.predict_scores
    # score_stream and score_chunk look these names up in their module at each call.
    with (
        patch.object(core, "score_chunk", timed(core.score_chunk, "_score_chunk")),
        patch.object(core, "validate", timed(core.validate, "validate")),  # type: ignore[attr-defined]
    ):
        # The model is a frozen dataclass: an instance attribute shadows the method all the same.
        object.__setattr__(model, "predict_scores", timed(original_predict, "predict"))
        try:
            yield
        finally:
            object.__delattr__(model, "predict_scores")
    in_chunk = stages.pop("_score_chunk")
    stages["shape"] = in_chunk - stages["validate"] - stages["predict"]
    stages["read"] -= in_chunk


def _timed(chunks: Iterator[Any], stages: dict[str, float]) -> Iterator[Any]:
    """The chunks, the time spent getting each (reading + scoring) added to stages["read"]."""
    while True:
        lap = time.perf_counter()
        try:
            item = next(chunks)
        except StopIteration:
            stages["read"] += time.perf_counter() - lap
            return
        stages["read"] += time.perf_counter() - lap
        yield item


class _Laps:
    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self.last
        self.last = now

    @property
    def total(self) -> float:
        return self.last - self.started


# --- (c) end to end -----------------------------------------------------------------------------


def run_end_to_end(path: Path, rows: int, workdir: Path) -> dict[str, Any]:
    from local_emulator import stack

    with tempfile.TemporaryDirectory(dir=workdir) as state:
        settings, up_s = _start_stack(Path(state))
        try:
            champion_trees = _promote_champion(settings)
            return {"up_s": up_s, "trees": champion_trees, **_drop_and_wait(settings, path, rows)}
        finally:
            stack.down(settings)


def _start_stack(state_dir: Path, attempts: int = 3) -> tuple[Any, float]:
    """A stack on free ports; another range is tried when one is taken while starting (the
    machine is shared: another program may bind a port found free a moment later)."""
    from local_emulator import processes, stack
    from local_emulator.settings import DEFAULT_PORTS, HOST, StackSettings

    for attempt in range(1, attempts + 1):
        base = processes.free_port_base(len(DEFAULT_PORTS), HOST)
        settings = StackSettings.resolve(state_dir, base, retry_time_scale=0.01)
        started = time.perf_counter()
        try:
            stack.up(settings)
        except Exception as exc:
            # up() stops what it started before raising; down() finds nothing more to stop.
            stack.down(settings)
            if attempt == attempts:
                raise
            print(f"  (stack did not start on ports from {base}: {exc}; retrying)", file=sys.stderr)
            continue
        return settings, time.perf_counter() - started
    raise AssertionError("unreachable")


def _promote_champion(settings: Any) -> int:
    from shared import clients
    from shared.registration import train_and_register
    from shared.registry import ModelRegistry
    from shared.sources import SourceInfo, fingerprint

    frame = training_frame()
    storage = clients.storage_client(settings.project, settings.endpoints())
    registry = ModelRegistry(storage, settings.models_bucket, settings.model_name)
    source = SourceInfo("memory://bench", "file", len(frame), fingerprint(frame))
    config = project_config(settings.model_name)
    version = train_and_register(frame, source, config, registry, None, promote=True).version
    return trees(registry.load_version(version).model)


def _drop_and_wait(settings: Any, path: Path, rows: int) -> dict[str, Any]:
    from shared import clients

    storage = clients.storage_client(settings.project, settings.endpoints())
    bq = clients.bigquery_client(settings.project, settings.endpoints())
    name = f"incoming/{uuid.uuid4().hex[:8]}-{path.name}"
    uri = f"gs://{settings.inbox_bucket}/{name}"
    started = time.perf_counter()
    storage.bucket(settings.inbox_bucket).blob(name).upload_from_filename(str(path))
    upload_s = time.perf_counter() - started
    sql = (
        "SELECT status, rows_in, rows_scored, rows_rejected "
        f"FROM `{settings.project}.{settings.dataset}.scoring_runs` WHERE source_uri = '{uri}'"
    )
    while True:
        found = list(bq.query(sql).result())
        if found:
            seconds = time.perf_counter() - started
            row = dict(found[0])
            break
        if time.perf_counter() - started > E2E_TIMEOUT_S:
            return {"rows": rows, "timed_out": True, "seconds": time.perf_counter() - started}
        time.sleep(0.5)
    return {
        "rows": rows,
        "seconds": seconds,
        "upload_s": upload_s,
        "run": {k: row[k] for k in ("status", "rows_in", "rows_scored", "rows_rejected")},
        "function_peak_rss_mib": _function_peak_rss(settings),
    }


def _function_peak_rss(settings: Any) -> float | None:
    """Peak RSS of the score_file process and its children (a server may fork its workers)."""
    from local_emulator import stack

    record = next((r for r in stack.read_records(settings) if r.component == "score_file"), None)
    if record is None:
        return None
    peaks = [_vm_hwm(pid) for pid in _with_descendants(record.pid)]
    known = [p for p in peaks if p is not None]
    return max(known) if known else None


def _with_descendants(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                pending.extend(int(p) for p in task.read_text().split())
            except OSError:
                continue
    return found


def _vm_hwm(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# --- running and reporting ----------------------------------------------------------------------


def child(kind: str, path: Path, model_dir: Path, threads: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", kind, "--file", str(path)]
    command += ["--model-dir", str(model_dir), "--threads", str(threads)]
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda r: r["seconds"])
    return ordered[len(ordered) // 2]


def rate(result: dict[str, Any]) -> float:
    return float(result["rows"] / result["seconds"])


def spread(runs: list[dict[str, Any]]) -> str:
    rates = sorted(rate(r) for r in runs)
    return f"{rates[0]:,.0f} to {rates[-1]:,.0f}" if len(rates) > 1 else "one run"


def stages_line(stages: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in stages.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for (a), (b) and (c)")
    parser.add_argument(
        "--rss-rows", type=int, action="append", help="sizes for (b)'s peak RSS (two, repeatable)"
    )
    parser.add_argument("--formats", default=",".join(FORMATS), help="csv,parquet or one of them")
    parser.add_argument("--e2e-rows", type=int, default=None, help="rows for (c) (default --rows)")
    parser.add_argument("--no-e2e", action="store_true", help="skip (c), the local cloud")
    parser.add_argument("--repeat", type=int, default=3, help="runs of (a) and (b), median shown")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="model threads")
    parser.add_argument("--bad-rows", type=float, default=0.0, help="share of malformed rows")
    parser.add_argument("--workdir", type=Path, default=None, help="keep data and model here")
    parser.add_argument("--child", choices=("limit", "core"), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "limit":
        out = args.file.with_name(f"limit-{os.getpid()}.parquet")
        print(json.dumps(run_limit(args.file, args.model_dir, args.threads, out)))
        return
    if args.child == "core":
        print(json.dumps(run_core(args.file, args.model_dir, args.threads)))
        return
    formats = [f for f in args.formats.split(",") if f]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        parser.error(f"--formats: unknown {unknown}; use csv, parquet")
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        benchmark(args, formats, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
            benchmark(args, formats, Path(tmp))


def benchmark(args: argparse.Namespace, formats: list[str], workdir: Path) -> None:
    rss_sizes = args.rss_rows or [100_000, 5_000_000]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; load average {os.getloadavg()[0]:.1f} at the start "
        "(a shared machine: figures are noisy)"
    )
    model_dir = workdir / "model"
    if not (model_dir / "manifest.json").exists():
        started = time.perf_counter()
        train_model_dir(model_dir)
        print(f"  (trained the model in {time.perf_counter() - started:.0f} s)", file=sys.stderr)
    model, contract = load_model_dir(model_dir)
    print(
        f"model: {model.family}, {trees(model)} trees, {len(model.features)} features "
        f"({len(contract.columns)} contract columns); {args.threads} model threads; "
        f"bad rows {args.bad_rows:.1%}; median of {args.repeat} runs, (a) and (b) in turns"
    )
    ratios: dict[str, float] = {}
    for fmt in formats:
        path = data_file(workdir, args.rows, fmt, args.bad_rows)
        # The limit does not validate: it reads the same rows without the malformed ones.
        clean = path if args.bad_rows == 0 else data_file(workdir, args.rows, fmt, 0.0)
        limit_runs, core_runs = [], []
        for _ in range(args.repeat):
            limit_runs.append(child("limit", clean, model_dir, args.threads))
            core_runs.append(child("core", path, model_dir, args.threads))
        limit, scored = median_run(limit_runs), median_run(core_runs)
        ratios[fmt] = rate(scored) / rate(limit)
        size = path.stat().st_size / 2**20
        print(f"\n{fmt}, {args.rows:,} rows ({size:.0f} MiB):")
        print(
            f"  (a) limit        {rate(limit):>9,.0f} rows/s ({spread(limit_runs)}), "
            f"{limit['seconds']:.2f} s, peak RSS {limit['peak_rss_mib']:.0f} MiB "
            f"({limit['base_rss_mib']:.0f} MiB before reading)"
        )
        print(f"      stages: {stages_line(limit['stages'])}")
        print(
            f"  (b) scoring core {rate(scored):>9,.0f} rows/s ({spread(core_runs)}), "
            f"{scored['seconds']:.2f} s, peak RSS {scored['peak_rss_mib']:.0f} MiB "
            f"({scored['base_rss_mib']:.0f} MiB before reading)"
        )
        print(f"      stages: {stages_line(scored['stages'])}")
        totals = scored["totals"]
        print(
            f"      {totals['rows_in']:,} rows in = {totals['rows_scored']:,} scored + "
            f"{totals['rows_rejected']:,} rejected, {totals['chunks']} chunks, "
            f"{totals['bytes_out'] / 2**20:.0f} MiB of Parquet"
        )
        verdict = "met" if ratios[fmt] >= RATIO_TARGET else "NOT met"
        print(f"  (b)/(a) = {ratios[fmt]:.2f} (target >= {RATIO_TARGET}: {verdict})")
    print(f"\n(b) peak RSS by size (one run each, {', '.join(f'{n:,}' for n in rss_sizes)} rows):")
    for fmt in formats:
        peaks = []
        for rows in rss_sizes:
            result = child(
                "core", data_file(workdir, rows, fmt, args.bad_rows), model_dir, args.threads
            )
            peaks.append(result["peak_rss_mib"])
            print(
                f"  {fmt:<8} {rows:>10,} rows: peak RSS {result['peak_rss_mib']:6.0f} MiB "
                f"({rate(result):,.0f} rows/s)"
            )
        growth = peaks[-1] - peaks[0]
        verdict = "met" if growth < RSS_TARGET_MIB else "NOT met"
        print(f"  {fmt:<8} growth {growth:+.0f} MiB (target < {RSS_TARGET_MIB:.0f} MiB: {verdict})")
    if args.no_e2e:
        return
    e2e_rows = args.e2e_rows or args.rows
    print(f"\n(c) end to end through the local cloud, {e2e_rows:,} rows:")
    for fmt in formats:
        path = data_file(workdir, e2e_rows, fmt, args.bad_rows)
        result = run_end_to_end(path, e2e_rows, workdir)
        if result.get("timed_out"):
            print(
                f"  {fmt:<8} no scoring_runs row after {result['seconds']:.0f} s: gave up "
                "(impractical on the emulator at this size; try a smaller --e2e-rows)"
            )
            continue
        run = result["run"]
        peak = result["function_peak_rss_mib"]
        shown = "unknown" if peak is None else f"{peak:.0f} MiB"
        print(
            f"  {fmt:<8} {rate(result):>9,.0f} rows/s: {result['seconds']:.1f} s from upload to "
            f"a queryable scoring_runs row (upload {result['upload_s']:.1f} s); function peak "
            f"RSS {shown}"
        )
        print(
            f"           {run['status']}: {run['rows_in']:,} in = {run['rows_scored']:,} scored + "
            f"{run['rows_rejected']:,} rejected; stack up {result['up_s']:.0f} s, champion "
            f"{result['trees']} trees"
        )
    if e2e_rows != args.rows:
        print(f"  (at {e2e_rows:,} rows, not {args.rows:,}: --e2e-rows)")


if __name__ == "__main__":
    main()
