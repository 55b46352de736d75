"""What the stack's own processes share: one `main()`, a status file and a clean stop on SIGTERM."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local_emulator.settings import StackSettings
from shared.errors import CloudscoreError
from shared.structured_log import configure_logging


class WorkerStatus:
    """Counters and facts of a worker, kept in a JSON file that `cloudscore local status` reads.

    The file is replaced atomically, so a reader never sees half of it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._data: dict[str, Any] = {"pid": os.getpid(), "ready": False}
        self._write()

    def ready(self, **facts: Any) -> None:
        self.set(ready=True, ready_at=datetime.now(UTC).isoformat(), **facts)

    def set(self, **facts: Any) -> None:
        with self._lock:
            self._data.update(facts)
            self._write()

    def add(self, **counts: int) -> None:
        with self._lock:
            for key, value in counts.items():
                self._data[key] = int(self._data.get(key, 0)) + value
            self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self._data, indent=2))
        tmp.replace(self.path)


def read_status(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data


def run_until_signalled(body: Callable[[threading.Event], None]) -> None:
    """Run `body(stop)`; SIGTERM or SIGINT sets `stop` so the body can finish cleanly."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    body(stop)


def component_main(
    name: str,
    description: str,
    run: Callable[[StackSettings, threading.Event], None],
    argv: list[str] | None = None,
) -> None:
    """The `main()` of each of the stack's own processes (`python -m local_emulator.NAME
    --state-dir DIR`): logs as `name`, runs `run(settings, stop)` until SIGTERM or SIGINT, and
    ends with status 1 and the error logged, not a traceback, on a CloudscoreError."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--state-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    configure_logging(name)
    settings = StackSettings.load(args.state_dir)
    try:
        run_until_signalled(lambda stop: run(settings, stop))
    except CloudscoreError as exc:
        logging.getLogger(f"local_emulator.{name}").error("%s", exc)
        raise SystemExit(1) from exc
