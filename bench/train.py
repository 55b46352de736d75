"""Benchmark of training: wall time and peak memory of `train_model` on the demo loan data, with
the demo spec and the default time budget (300 s), at each size asked for.

Each size runs in a process of its own, so that its peak RSS is its own; the RSS of the data
frame alone is printed beside it.
    .venv/bin/python bench/train.py [--rows 100000 --rows 1000000] [--budget 300]
                                    [--candidates xgboost,logistic_regression]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from cloudscore import demo_data
from cloudscore.demo_training import demo_training_spec
from shared.training import TrainingSpec, train_model


def current_rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_one(rows: int, spec: TrainingSpec) -> dict[str, Any]:
    started = time.perf_counter()
    frame = pd.concat(demo_data.iter_demo_frames(rows, seed=1), ignore_index=True)
    data_s = time.perf_counter() - started
    data_rss = current_rss_mib()
    last_step = [""]

    def progress(step: str, done: float) -> None:
        family = step.split(":", 1)[0]
        if family != last_step[0]:
            last_step[0] = family
            print(f"  [{rows}] {time.perf_counter() - started:6.1f} s  {done:4.0%}  {step}",
                  file=sys.stderr, flush=True)  # fmt: skip

    started = time.perf_counter()
    outcome = train_model(frame, spec, progress)
    return {
        "rows": rows,
        "data_s": data_s,
        "data_rss_mib": data_rss,
        "train_s": time.perf_counter() - started,
        "peak_rss_mib": peak_rss_mib(),
        "winner": outcome.model.family,
        "calibrated": outcome.model.calibrated,
        "test": {k: outcome.test_metrics[k] for k in ("roc_auc", "pr_auc", "log_loss", "f1")},
        "expected_cost": outcome.test_metrics["expected_cost"],
        "baseline_cost": outcome.baseline_metrics["expected_cost"],
        "split": outcome.rows,
        "candidates": [
            {
                "family": c.family,
                "trials": c.trials,
                "seconds": round(c.seconds, 1),
                "roc_auc": round(c.validation_score, 4),
                "stopped_by_time": c.stopped_by_time,
            }
            for c in outcome.candidates
        ],
    }


def report(result: dict[str, Any]) -> None:
    print(
        f"{result['rows']:>9,} rows: train {result['train_s']:6.1f} s, "
        f"peak RSS {result['peak_rss_mib']:6.0f} MiB (data alone {result['data_rss_mib']:.0f} MiB, "
        f"made in {result['data_s']:.1f} s)"
    )
    test = result["test"]
    print(
        f"    winner {result['winner']} (calibrated: {result['calibrated']}), test ROC AUC "
        f"{test['roc_auc']:.4f}, PR AUC {test['pr_auc']:.4f}, log loss {test['log_loss']:.4f}, "
        f"cost/row {result['expected_cost']:.4f} vs baseline {result['baseline_cost']:.4f}"
    )
    for c in result["candidates"]:
        cut = ", cut by time" if c["stopped_by_time"] else ""
        print(
            f"    {c['family']:<24} {c['trials']:>3} trials {c['seconds']:7.1f} s  "
            f"validation ROC AUC {c['roc_auc']:.4f}{cut}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, action="append", help="rows of demo data (repeatable)")
    parser.add_argument("--budget", type=float, default=300.0, help="time_budget_s of the spec")
    parser.add_argument("--candidates", default=None, help="comma-separated model families")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = args.rows or [100_000, 1_000_000]
    overrides: dict[str, Any] = {"seed": 1, "time_budget_s": args.budget}
    if args.candidates:
        overrides["candidates"] = tuple(args.candidates.split(","))
    if args.child:
        print(json.dumps(run_one(sizes[0], demo_training_spec(**overrides))))
        return
    cores = os.cpu_count()
    print(f"machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}")
    spec = demo_training_spec(**overrides)
    print(f"spec: candidates {', '.join(spec.candidates)}; budget {spec.time_budget_s:.0f} s; "
          f"max {spec.max_trials} trials per family; n_jobs {spec.n_jobs}")  # fmt: skip
    for rows in sizes:
        command = [sys.executable, __file__, "--child", "--rows", str(rows)]
        command += ["--budget", str(args.budget)]
        if args.candidates:
            command += ["--candidates", args.candidates]
        done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
        report(json.loads(done.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    main()
