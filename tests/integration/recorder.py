"""What the test receivers got, shared between the receiver functions and the tests."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Recorder:
    """Records every CloudEvent received; fails the first `fail_first` calls with a 500."""

    fail_first: int = 0
    events: list[tuple[dict[str, Any], Any]] = field(default_factory=list)
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def receive(self, attributes: dict[str, Any], data: Any) -> None:
        with self.lock:
            self.calls += 1
            if self.calls <= self.fail_first:
                raise RuntimeError(f"failing on purpose (call {self.calls})")
            self.events.append((attributes, data))


CURRENT = Recorder()
