"""`cloudscore labels load FILE…`: check label files and load them into BigQuery `labels`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cloudscore.cli.train_cmd import CONFIG_HELP


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    labels = subparsers.add_parser(
        "labels",
        help="load ground truth (labels that arrive after the predictions) into BigQuery",
        description="Ground truth for the monitoring check, which joins each prediction's "
        "record_id with the latest label of that id.",
    )
    actions = labels.add_subparsers(dest="action", metavar="ACTION", required=True)
    load = actions.add_parser(
        "load",
        help="check label files and load them into the labels table",
        description="Read each FILE as the batch function reads files to score, make its ids "
        "text as predictions.record_id is made, and its labels text in one spelling (1, 1.0 "
        "and true are '1'). Every file is checked before anything is loaded: an empty id or "
        "label, an unreadable time, an id with two different labels, or more than two labels "
        "for a binary task refuses the command, listing the first 10 problems (file, row, "
        "column, value found) and their number. Rows repeated in a file are loaded once. "
        "Each file is one BigQuery load job whose id derives from its rows: loading the same "
        "labels again adds nothing. Talks to the cloud named by CLOUDSCORE_* variables, else "
        "to the local cloud.",
    )
    load.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="a .csv/.parquet/.jsonl/.ndjson file, optionally .gz, or gs://bucket/file",
    )
    load.add_argument("--config", type=Path, metavar="FILE", help=CONFIG_HELP)
    load.add_argument(
        "--id-column", metavar="C", help="column of the record ids (default: model.id_column)"
    )
    load.add_argument(
        "--label-column", metavar="C", help="column of the labels (default: model.target)"
    )
    load.add_argument(
        "--time-column",
        metavar="C",
        help="column of when each label became known, ISO 8601, UTC when it has no offset "
        "(default: labelled_at when the file has it, else the time of loading)",
    )
    load.add_argument(
        "--dry-run",
        action="store_true",
        help="check the files and print what would be loaded; load nothing "
        "(needs no cloud for local files)",
    )
    load.set_defaults(run=_load)


def _load(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from shared.monitoring import labels
    from shared.project_config import load_project_config
    from shared.values import label_text

    config = load_project_config(args.config)
    columns = labels.LabelColumns.of(
        config,
        id_column=args.id_column,
        label_column=args.label_column,
        time_column=args.time_column,
    )
    target = None
    if not args.dry_run or any(name.startswith("gs://") for name in args.files):
        from cloudscore.cli.target import resolve_target

        target = resolve_target()
    loaded_at = datetime.now(UTC)
    prepared = []
    for name in args.files:
        storage = target.storage if target is not None and name.startswith("gs://") else None
        with labels.opened(name, storage) as (stream, content_type):
            prepared.append(
                labels.check_labels(
                    stream,
                    name,
                    columns,
                    task=config.task,
                    positive_label=config.positive_label,
                    loaded_at=loaded_at,
                    content_type=content_type,
                )
            )
    for checked in prepared:
        for warning in checked.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    labels.refuse_problems(prepared)
    positive = label_text(config.positive_label) if config.task != "regression" else None
    for checked in prepared:
        if target is None:
            outcome = f"{len(checked.rows):,} to load (dry run)"
        elif args.dry_run:
            outcome = f"{len(checked.rows):,} to load into {target.config.dataset} (dry run)"
        elif labels.load_labels(
            target.bigquery,
            target.config.dataset,
            checked.rows,
            checked.job_key,
            location=target.config.region,
        ):
            outcome = f"{len(checked.rows):,} loaded into {target.config.dataset}"
        else:
            outcome = "already loaded"
        _print_file(checked, outcome, positive)
    return 0


def _print_file(checked: Any, outcome: str, positive: str | None) -> None:
    repeated = checked.rows_read - len(checked.rows)
    again = f" ({repeated:,} repeated rows counted once)" if repeated else ""
    time = (
        f"times from {checked.time_column!r}"
        if checked.time_column
        else "no time column: labelled now"
    )
    counts = checked.label_counts()
    shown = ", ".join(
        f"{label!r}{' (positive)' if label == positive else ''} {count:,}"
        for label, count in list(counts.items())[:10]
    )
    more = f", … {len(counts) - 10:,} more" if len(counts) > 10 else ""
    print(
        f"{checked.name}: {checked.rows_read:,} rows read, {outcome}{again}; {time}; "
        f"{len(counts):,} distinct labels: {shown}{more}"
    )
