"""`cloudscore train` and `cloudscore contract`: train and register a model; review its contract."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

_DATA_HELP = (
    "training data: a .csv/.parquet/.jsonl(.gz) file, gs://bucket/file, "
    "bq://project.dataset.table or 'bq://SELECT …'"
)
CONFIG_HELP = (
    "project configuration (default: ./cloudscore.toml, else [tool.cloudscore] in ./pyproject.toml)"
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    train = subparsers.add_parser(
        "train",
        help="train, evaluate and register a model version",
        description="Infer the data contract, train every candidate family within the time "
        "budget (or training.max_trials trials), pick the best on validation, for a binary "
        "classifier choose the decision threshold by business cost, evaluate on the held-out "
        "test split, refuse a model that does not beat the trivial baseline (the training "
        "positive rate, class shares or mean), and register the winner as a new immutable "
        "version.",
    )
    train.add_argument("--data", required=True, metavar="SOURCE", help=_DATA_HELP)
    train.add_argument("--config", type=Path, help=CONFIG_HELP)
    train.add_argument("--promote", action="store_true", help="make the new version the champion")
    train.set_defaults(run=_train)

    contract = subparsers.add_parser(
        "contract",
        help="print the data contract inferred from data, as TOML to review into the config",
    )
    contract.add_argument("--data", required=True, metavar="SOURCE", help=_DATA_HELP)
    contract.add_argument("--config", type=Path, help=CONFIG_HELP)
    contract.set_defaults(run=_contract)


class ProgressBar:
    """One line on stderr, redrawn in place: `[#######.............]  35% searching xgboost`."""

    def __init__(self, width: int = 28) -> None:
        self.width = width
        self.interactive = sys.stderr.isatty()
        self.last_step = ""

    def __call__(self, step: str, fraction: float) -> None:
        filled = int(self.width * min(max(fraction, 0.0), 1.0))
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {fraction:4.0%} {step}"
        if self.interactive:
            print(f"\r{line:<100}", end="", file=sys.stderr, flush=True)
        elif step.partition(":")[0] != self.last_step:  # in a log, one line per step, not per trial
            print(line, file=sys.stderr, flush=True)
        self.last_step = step.partition(":")[0]

    def close(self) -> None:
        if self.interactive and self.last_step:
            print(file=sys.stderr)
        self.last_step = ""


def _read(args: argparse.Namespace, target: Any) -> tuple[Any, Any, Any]:
    from shared.project_config import load_project_config
    from shared.sources import read_source

    config = load_project_config(args.config)
    needs_cloud = args.data.startswith(("gs://", "bq://"))
    frame, source = read_source(
        args.data,
        storage_client=target.storage if needs_cloud and target else None,
        bigquery_client=target.bigquery if needs_cloud and target else None,
    )
    return config, frame, source


def _contract(args: argparse.Namespace) -> int:
    from shared.contract import infer_contract

    target = None
    if args.data.startswith(("gs://", "bq://")):
        from cloudscore.cli.target import resolve_target

        target = resolve_target()
    config, frame, source = _read(args, target)
    print(f"# inferred from {args.data} ({len(frame):,} rows): review, then keep in the config")
    # As training infers it: a JSONL file's strings are text, never numbers.
    print(infer_contract(frame, config, json_values=source.json_values).to_toml())
    return 0


def _train(args: argparse.Namespace) -> int:
    from cloudscore.cli.target import resolve_target
    from shared.audit import AuditLog
    from shared.registration import train_and_register
    from shared.training import GateRefused

    target = resolve_target()
    config, frame, source = _read(args, target)
    if config.model_name != target.config.model_name:
        print(
            f"note: training {config.model_name!r}, while the functions serve "
            f"{target.config.model_name!r} (CLOUDSCORE_MODEL_NAME)",
            file=sys.stderr,
        )
    registry = target.registry(config.model_name)
    bar = ProgressBar()
    started = time.monotonic()
    try:
        result = train_and_register(
            frame,
            source,
            config,
            registry,
            AuditLog(target.bigquery, target.config.dataset, location=target.config.region),
            promote=args.promote,
            progress=bar,
        )
    except GateRefused as refused:
        bar.close()
        _print_outcome(refused.outcome)  # what was tried, so the refusal can be understood
        raise
    finally:
        bar.close()
    _print_summary(result, config, source, time.monotonic() - started)
    return 0


def _print_summary(result: Any, config: Any, source: Any, seconds: float) -> None:
    outcome = result.outcome
    print(f"\ntrained {config.model_name} on {source.uri}: {source.rows:,} rows", end="")
    print(f" ({result.rows_rejected:,} malformed left out)" if result.rows_rejected else "")
    print("split: " + ", ".join(f"{k} {v:,}" for k, v in outcome.rows.items()))
    if result.ignored_features:
        print("not used as features (text or time): " + ", ".join(result.ignored_features))
    _print_outcome(outcome)
    print(f"registered version {result.version} in {seconds:.0f} s", end="")
    if result.promotion is not None:
        was = result.promotion.from_version or "none"
        print(f"; now the champion (was {was})")
    else:
        print("; promote it with `cloudscore models promote " + result.version + "`")


def _print_outcome(outcome: Any) -> None:
    print(
        f"\n{'candidate':<24} {'validation ' + outcome.primary_metric:>22} {'trials':>7} {'s':>7}"
    )
    for c in outcome.candidates:
        mark = "  ← winner" if c.family == outcome.model.family else ""
        print(f"{c.family:<24} {c.validation_score:>22.4f} {c.trials:>7} {c.seconds:>7.1f}{mark}")
    print(f"\n{'test metric':<24} {'model':>10} {'baseline':>10}")
    for name, value in outcome.test_metrics.items():
        base = outcome.baseline_metrics.get(name)
        base_text = f"{base:>10.4f}" if isinstance(base, int | float) else f"{'-':>10}"
        print(f"{name:<24} {value:>10.4f} {base_text}")
    if outcome.threshold is not None:  # binary: the other tasks decide no threshold
        calibration = "calibrated" if outcome.model.calibrated else "not calibrated"
        print(f"\ndecision threshold {outcome.threshold:.4f} ({calibration})")
    elif outcome.model.classes:
        print(f"\nclasses: {', '.join(outcome.model.classes)}")
