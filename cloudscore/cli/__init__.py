"""The `cloudscore` command: one subcommand per module, each with `register(subparsers)`.

A subcommand module adds its parser and sets `run=callable(args) -> int` on it. Errors that
cloudscore raises on purpose end the command with their message and exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from shared.errors import CloudscoreError

# Imported lazily at parse time would hide their --help; importing them is cheap (heavy
# libraries are imported inside the commands that use them).
_COMMAND_MODULES = (
    "cloudscore.cli.train_cmd",
    "cloudscore.cli.score_cmd",
    "cloudscore.cli.models_cmd",
    "cloudscore.cli.demo_data_cmd",
    "cloudscore.cli.local_cmd",
    "cloudscore.cli.demo_cmd",
    "cloudscore.cli.deploy_cmd",
    "cloudscore.cli.labels_cmd",
    "cloudscore.cli.monitor_cmd",
    "cloudscore.cli.backfill_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cloudscore",
        description="Serverless scoring of tabular models on Google Cloud Functions, "
        "and the local cloud to run it on.",
    )
    parser.add_argument("--version", action="version", version=f"cloudscore {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except CloudscoreError as exc:
        print(f"cloudscore: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cloudscore: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (`| head`) has gone: nothing left to say to it.
        sys.stderr.close()
        return 0
    return code


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cloudscore")
    except PackageNotFoundError:
        return "unknown"
