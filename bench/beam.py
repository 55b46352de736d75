"""Benchmark of the scoring pipeline (cloudscore.pipeline) on Beam's DirectRunner, on demo loan
data (~20 columns) in Parquet files written to a temporary folder:

    (core)     the scoring core looping over the files, as the batch function scores one file:
               `score_stream` with the function's chunk size, each chunk's predictions and rejected
               rows made into Parquet in memory as the BigQuery sink does before its load job;
    (pipe-1)   the pipeline in process (DirectRunner, one worker, the model on every core);
    (pipe-2)   the pipeline on two worker processes (`--direct_num_workers=2
               --direct_running_mode=multi_processing`, the model on one core each);
    (stock)    stock Beam: `ReadAllFromParquetBatched`, the model's float matrix in 10k-row chunks,
               `RunInference(XGBoostModelHandlerNumpy)` on each chunk (its inference function
               XGBoost's `inplace_predict`, as cloudscore's model predicts), and a count of the
               predictions: no contract validation, no output rows, nothing written.

The pipeline runs include everything they do for a job: planning, reading, validation, scoring,
the output rows, each split's rows written as one Parquet file per table (the file a load job
would upload) with `--output_dir`, and the scoring_runs rows; they do NOT include BigQuery (no
upload, no load job). The core's figures include validation and Parquet serialisation, not
BigQuery either.

Imports (Beam, XGBoost, cloudscore) happen before each run's clock starts, in every kind; loading
the model is on the clock for the pipeline and stock Beam (each worker loads it), not for the core.
Each run is a process of its own; peak RSS is the process's own, and for pipe-2 that of its
largest worker process. The pipeline runs again on `--small-files` files to show whether a
worker's peak memory grows with the input.
Targets (issue 20): pipe-1 and pipe-2 at least 0.6 times the core's rows/s, both ahead of stock;
a worker's peak RSS flat in the input size.

    .venv/bin/python bench/beam.py [--rows 5000000] [--files 20] [--small-files 4]
        [--threads N] [--workdir DIR] [--repeat 1]

With --repeat N the four runs go in turns N times and each kind's median run is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent))

import batch  # the model and data helpers of bench/batch.py

from cloudscore import demo_data

RATIO_TARGET: Final = 0.6
STOCK_CHUNK_ROWS: Final = 10_000


def children_peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def data_files(workdir: Path, rows: int, files: int) -> list[Path]:
    folder = workdir / f"parquet-{rows}x{files}"
    folder.mkdir(parents=True, exist_ok=True)
    each = rows // files
    paths = []
    for index in range(files):
        path = folder / f"part-{index:03d}.parquet"
        if not path.exists():
            demo_data.write_demo_data(path, each, seed=100 + index)
        paths.append(path)
    return paths


def run_core(paths: list[Path], model_dir: Path, threads: int) -> dict[str, Any]:
    rows = 0
    seconds = 0.0
    for path in paths:
        result = batch.run_core(path, model_dir, threads)
        rows += result["rows"]
        seconds += result["seconds"]
    return {"rows": rows, "seconds": seconds, "peak_rss_mib": batch.peak_rss_mib()}


def run_pipeline(paths: list[Path], model_dir: Path, workers: int, out: Path) -> dict[str, Any]:
    # Imported before the clock starts, as the core and stock Beam import theirs: the figures
    # are the runs', not the interpreter's imports (a worker process of pipe-2 still imports
    # its own, on the clock, as a Dataflow worker would).
    import apache_beam  # noqa: F401
    import xgboost  # noqa: F401

    import cloudscore.pipeline.graph  # noqa: F401
    from cloudscore.pipeline import run

    argv = [
        f"--sources={','.join(str(p) for p in paths)}",
        f"--model_dir={model_dir}",
        f"--output_dir={out}",
    ]
    if workers > 1:
        argv += [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
    started = time.perf_counter()
    result = run(argv)
    seconds = time.perf_counter() - started
    rows = sum(f.rows_in for f in result.files)
    statuses = sorted({f.status for f in result.files})
    return {
        "rows": rows,
        "seconds": seconds,
        "statuses": statuses,
        "peak_rss_mib": batch.peak_rss_mib(),
        "workers_peak_rss_mib": children_peak_rss_mib() if workers > 1 else None,
    }


def run_stock(paths: list[Path], model_dir: Path) -> dict[str, Any]:
    """Stock Beam RunInference with XGBoost's own handler on 10k-row float matrices."""
    import apache_beam as beam
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import xgboost
    from apache_beam.ml.inference.base import PredictionResult, RunInference

    # Beam's xgboost_inference imports `datatable` for its datatable handler (unused here) at
    # import time; without that package installed, an empty stand-in lets the module load.
    if "datatable" not in sys.modules:
        import types

        stand_in = types.ModuleType("datatable")
        stand_in.Frame = object  # type: ignore[attr-defined]
        sys.modules["datatable"] = stand_in
    from apache_beam.ml.inference.xgboost_inference import XGBoostModelHandlerNumpy

    model, _ = batch.load_model_dir(model_dir)
    features = model.features
    booster = model_dir / "booster.ubj"

    def matrices(table: pa.Table) -> Any:
        for start in range(0, table.num_rows, STOCK_CHUNK_ROWS):
            part = table.slice(start, STOCK_CHUNK_ROWS)
            matrix = np.empty((part.num_rows, len(features)), dtype=np.float32)
            for position, feature in enumerate(features):
                column = part.column(feature.name)
                if feature.kind == "categorical":
                    column = pc.index_in(column, value_set=pa.array(feature.categories))
                numbers = pc.cast(column, pa.float32())
                matrix[:, position] = pc.fill_null(numbers, np.float32("nan")).to_numpy()
            yield matrix

    def predict(batch: Any, booster: Any, inference_args: Any = None) -> Any:
        # As the scoring model predicts (`shared.model`): the default inference function builds
        # a DMatrix without the booster's feature names and types, which XGBoost refuses.
        return [PredictionResult(x, booster.inplace_predict(x)) for x in batch]

    rows = beam.metrics.Metrics.counter("bench", "rows")

    def count(result: Any) -> None:
        rows.inc(len(result.inference))

    handler = XGBoostModelHandlerNumpy(
        model_class=xgboost.Booster,
        model_state=str(booster),
        inference_fn=predict,
        min_batch_size=1,
        max_batch_size=1,
    )
    started = time.perf_counter()
    pipeline = beam.Pipeline()
    (
        pipeline
        | beam.Create([str(p) for p in paths])
        | beam.io.ReadAllFromParquetBatched()
        | beam.FlatMap(matrices)
        | RunInference(handler)
        | beam.Map(count)
    )
    outcome = pipeline.run()
    outcome.wait_until_finish()
    seconds = time.perf_counter() - started
    query = outcome.metrics().query(beam.metrics.MetricsFilter().with_name("rows"))
    counted = sum(c.committed for c in query["counters"])
    return {"rows": counted, "seconds": seconds, "peak_rss_mib": batch.peak_rss_mib()}


def child(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir)
    model_dir = workdir / "model"
    paths = data_files(workdir, args.rows, args.files)[: args.use_files]
    if args.child == "core":
        result = run_core(paths, model_dir, args.threads)
    elif args.child == "stock":
        result = run_stock(paths, model_dir)
    else:
        with tempfile.TemporaryDirectory(dir=workdir) as out:
            workers = 2 if args.child == "pipe-2" else 1
            result = run_pipeline(paths, model_dir, workers, Path(out))
    print(json.dumps(result))


def measure(kind: str, args: argparse.Namespace, use_files: int) -> dict[str, Any]:
    command = [
        sys.executable, __file__, "--child", kind, "--workdir", str(args.workdir),
        "--rows", str(args.rows), "--files", str(args.files), "--use-files", str(use_files),
        "--threads", str(args.threads),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["load"] = os.getloadavg()[0]  # the machine's, as the run ended
    return result


def machine_state() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {load}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--small-files", type=int, default=4)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of the four runs, in turns; the median"
    )
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--child", default=None)
    parser.add_argument("--use-files", type=int, default=0)
    args = parser.parse_args()
    if args.child:
        args.use_files = args.use_files or args.files
        child(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        args.workdir = Path(args.workdir or tmp)
        benchmark(args)


def benchmark(args: argparse.Namespace) -> None:
    workdir = args.workdir
    print(f"bench/beam: {args.rows:,} rows in {args.files} Parquet files; {machine_state()}")
    started = time.perf_counter()
    if not (workdir / "model" / "manifest.json").exists():
        batch.train_model_dir(workdir / "model")
    model, _ = batch.load_model_dir(workdir / "model")
    data_files(workdir, args.rows, args.files)
    print(
        f"  model: XGBoost, {batch.trees(model)} trees; data and model ready in "
        f"{time.perf_counter() - started:.0f} s"
    )
    kinds = ("core", "pipe-1", "pipe-2", "stock")
    # In turns, round after round, so that a busy spell of a shared machine falls on every kind
    # alike; each kind's median run is reported.
    rounds: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for _ in range(args.repeat):
        for kind in kinds:
            rounds[kind].append(measure(kind, args, args.files))
    results: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        runs = sorted(rounds[kind], key=lambda r: r["rows"] / r["seconds"])
        results[kind] = line = runs[len(runs) // 2]
        rate = line["rows"] / line["seconds"]
        spread = (
            f" (of {len(runs)}: {runs[0]['rows'] / runs[0]['seconds']:,.0f} to "
            f"{runs[-1]['rows'] / runs[-1]['seconds']:,.0f})"
            if len(runs) > 1
            else ""
        )
        worker = (
            f", largest worker {line['workers_peak_rss_mib']:.0f} MiB"
            if line.get("workers_peak_rss_mib")
            else ""
        )
        print(
            f"  {kind:7s} {line['rows']:>10,} rows in {line['seconds']:6.1f} s = "
            f"{rate:>9,.0f} rows/s{spread}, peak RSS {line['peak_rss_mib']:.0f} MiB{worker} "
            f"(load {line['load']:.1f})"
        )
    core_rate = results["core"]["rows"] / results["core"]["seconds"]
    stock_rate = results["stock"]["rows"] / results["stock"]["seconds"]
    for kind in ("pipe-1", "pipe-2"):
        rate = results[kind]["rows"] / results[kind]["seconds"]
        ratio = rate / core_rate
        print(
            f"  {kind}: {ratio:.2f}x the core's rows/s (target >= {RATIO_TARGET}: "
            f"{'met' if ratio >= RATIO_TARGET else 'NOT met'}); {rate / stock_rate:.2f}x stock "
            f"Beam's ({'ahead' if rate > stock_rate else 'NOT ahead'})"
        )
    small = args.small_files
    for kind in ("pipe-1", "pipe-2"):
        few = measure(kind, args, small)
        key = "workers_peak_rss_mib" if kind == "pipe-2" else "peak_rss_mib"
        print(
            f"  {kind} peak RSS{' of its largest worker' if kind == 'pipe-2' else ''}: "
            f"{few[key]:.0f} MiB on {few['rows']:,} rows ({small} files), "
            f"{results[kind][key]:.0f} MiB on {results[kind]['rows']:,} rows ({args.files} files)"
        )
    print(f"  done; {machine_state()}")


if __name__ == "__main__":
    main()
