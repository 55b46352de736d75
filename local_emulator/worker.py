"""What the stack's own background workers share: a status file and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


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
