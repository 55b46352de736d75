"""Rows per vCPU-second of the scoring pipeline as Dataflow runs it: the figure behind
infra/README.md's estimate of what a 1 TB backfill costs and takes, with the bytes a demo row
takes in each format the pipeline reads.

The pipeline runs in a process of its own on the DirectRunner, in process, with one model thread
(`--model_threads=1`: on Dataflow, a worker runs one SDK process per vCPU, each scoring with one
thread), on demo loan data in Parquet files, writing each split's rows as the Parquet files a
load job would upload (`--output_dir`): BigQuery's load jobs run in BigQuery, not on the workers.
It reports wall seconds and the process's CPU seconds (user + system, its threads and children
included): rows per CPU-second is what a vCPU scores, and is much less sensitive than wall time
to what else a shared machine runs. Each run scores all the files, then the first alone: the
difference is the rate once the process has started (imports, the model's load), which is
what a long backfill sees; the start-up is paid once per worker process. `--repeat` runs both
again; the run of least CPU is kept.

    .venv/bin/python bench/pipeline_vcpu.py [--rows 1000000] [--files 4] [--repeat 2]
        [--workdir DIR]
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import batch  # the model helpers of bench/batch.py
from beam import data_files  # the Parquet files of bench/beam.py

from cloudscore import demo_data

SIZE_ROWS = 200_000  # rows written in each format to measure bytes per row


def machine_state() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {load}"


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_pipeline(paths: list[Path], model_dir: Path, out: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of the pipeline on `paths`."""
    shutil.rmtree(out, ignore_errors=True)
    command = [
        sys.executable, "-m", "cloudscore.pipeline",
        f"--sources={','.join(str(p) for p in paths)}",
        f"--model_dir={model_dir}", f"--output_dir={out}", "--model_threads=1",
    ]  # fmt: skip
    cpu_before = children_cpu_s()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the pipeline failed:\n{done.stderr[-3000:]}")
    return wall, children_cpu_s() - cpu_before


def bytes_per_row(workdir: Path) -> dict[str, float]:
    sizes = {}
    for suffix in ("parquet", "csv", "jsonl"):
        path = workdir / f"size.{suffix}"
        if not path.exists():
            demo_data.write_demo_data(path, SIZE_ROWS, seed=11)
        sizes[suffix] = path.stat().st_size / SIZE_ROWS
    csv_gz = workdir / "size.csv.gz"
    if not csv_gz.exists():
        csv_gz.write_bytes(gzip.compress((workdir / "size.csv").read_bytes()))
    sizes["csv.gz"] = csv_gz.stat().st_size / SIZE_ROWS
    return sizes


def benchmark(args: argparse.Namespace, workdir: Path) -> None:
    print(
        f"bench/pipeline_vcpu: {args.rows:,} rows in {args.files} Parquet files; {machine_state()}"
    )
    model_dir = workdir / "model"
    if not (model_dir / "manifest.json").exists():
        batch.train_model_dir(model_dir)
    model, _ = batch.load_model_dir(model_dir)
    paths = data_files(workdir, args.rows, args.files)
    print(f"  model: XGBoost, {batch.trees(model)} trees")
    each = args.rows // args.files
    best: tuple[float, float, float] | None = None
    for attempt in range(args.repeat):
        wall, cpu = run_pipeline(paths, model_dir, workdir / "out")
        _, cpu_one = run_pipeline(paths[:1], model_dir, workdir / "out")
        marginal = (len(paths) - 1) * each / (cpu - cpu_one)
        print(
            f"  run {attempt + 1}: {wall:6.1f} s wall, {cpu:6.1f} CPU-s = "
            f"{args.rows / wall:>9,.0f} rows/s, {args.rows / cpu:>9,.0f} rows per CPU-s; "
            f"one file {cpu_one:.1f} CPU-s: {marginal:,.0f} rows per CPU-s once started, "
            f"start-up {cpu_one - each / marginal:.1f} CPU-s (load {os.getloadavg()[0]:.1f})"
        )
        if best is None or cpu < best[1]:
            best = (wall, cpu, marginal)
    assert best is not None
    sizes = bytes_per_row(workdir)
    print(
        f"  best: {best[2]:,.0f} rows per vCPU-second once started, {args.rows / best[1]:,.0f} "
        f"with the start-up ({args.rows / best[0]:,.0f} rows/s wall); bytes per row: "
        + ", ".join(f"{name} {size:.1f}" for name, size in sizes.items())
    )
    print(f"  done; {machine_state()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    if args.workdir:
        benchmark(args, Path(args.workdir))
        return
    with tempfile.TemporaryDirectory() as tmp:
        benchmark(args, Path(tmp))


if __name__ == "__main__":
    main()
