"""`cloudscore demo-data`: write the synthetic loan-default data set to a file."""

from __future__ import annotations

import argparse
from pathlib import Path

from shared.errors import UsageError

_FORMATS = ".csv, .csv.gz, .jsonl, .jsonl.gz, .ndjson, .ndjson.gz or .parquet"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo-data",
        help="write synthetic loan-default data (training data, or data to score)",
        description="Write a deterministic synthetic loan-default data set: one row per loan "
        "application, about 20 features and the label `defaulted`. The same arguments always "
        "give the same bytes.",
    )
    parser.add_argument(
        "--rows", type=int, required=True, metavar="N", help="number of rows to write (0 or more)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="FILE",
        help=f"file to write; its extension picks the format: {_FORMATS}",
    )
    parser.add_argument(
        "--seed", type=int, default=7, metavar="S", help="random seed, 0 or more (default: 7)"
    )
    parser.add_argument(
        "--drift",
        type=float,
        default=0.0,
        metavar="X",
        help="0 to 1: how far features and the label relationship move away from the "
        "training distribution; 1 is a strong shift (default: 0)",
    )
    parser.add_argument(
        "--bad-rows",
        type=float,
        default=0.0,
        metavar="F",
        help="0 to 1: share of rows made malformed (text in numeric columns, impossible values, "
        "missing ids or amounts, unknown categories) (default: 0)",
    )
    parser.add_argument(
        "--labels-out",
        type=Path,
        metavar="FILE",
        help="write the label to this file instead (application_id, defaulted, labelled_at), "
        "as for data to score whose outcomes arrive later; same formats as --out",
    )
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from cloudscore.demo_data import write_demo_data

    try:
        summary = write_demo_data(
            args.out,
            args.rows,
            seed=args.seed,
            drift=args.drift,
            bad_rows=args.bad_rows,
            labels_out=args.labels_out,
        )
    except UsageError as exc:
        # The library names its parameters; the user typed options.
        name, _, rest = str(exc).partition(" ")
        if name in ("out", "rows", "seed", "drift", "bad_rows", "labels_out"):
            raise UsageError(f"--{name.replace('_', '-')} {rest}") from exc
        raise
    labels = f", labels in {summary.labels_out}" if summary.labels_out else ""
    print(
        f"wrote {summary.out}: {summary.rows:,} rows, {summary.bad_rows:,} bad, "
        f"label rate {summary.label_rate:.1%} among good rows{labels}"
    )
    return 0
