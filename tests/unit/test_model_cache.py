"""The model cache loads a version once at a time, however many threads ask, and keeps no lock
for a version once nobody waits for it."""

from __future__ import annotations

import contextlib
import threading
import time
from types import SimpleNamespace
from typing import Any

from shared.errors import TransientError
from shared.model_cache import ModelCache
from shared.registry import ModelVersion


class SlowCache(ModelCache):
    """A version takes a while to load, and the first load fails, as a storage hiccup does."""

    def __init__(self) -> None:
        super().__init__(registry=None)  # type: ignore[arg-type]  # never read: _load is ours
        self.loads = 0
        self.running = 0
        self.most_at_once = 0
        self._count = threading.Lock()

    def _load(self, version: str) -> ModelVersion:
        with self._count:
            self.loads += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            first = self.loads == 1
        try:
            time.sleep(0.2)
            if first:
                raise TransientError("storage hiccup")
            return SimpleNamespace(version=version)  # type: ignore[return-value]
        finally:
            with self._count:
                self.running -= 1


def test_one_load_at_a_time_even_when_the_first_fails_and_no_lock_is_kept() -> None:
    cache = SlowCache()
    outcomes: list[Any] = []

    def ask(delay: float) -> None:
        time.sleep(delay)
        try:
            outcomes.append(cache.get_version("v1").version)
        except TransientError as exc:
            outcomes.append(exc)

    # Two wait on the first load; two more come while the second is under way.
    threads = [threading.Thread(target=ask, args=(delay,)) for delay in (0, 0.05, 0.05, 0.3, 0.3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert cache.most_at_once == 1
    assert cache.loads == 2
    assert sorted(map(str, outcomes)) == ["storage hiccup"] + ["v1"] * 4
    assert cache._version_locks == {}


def test_versions_asked_one_after_another_leave_no_lock() -> None:
    cache = SlowCache()
    for version in ["a", "b", "c"]:
        with contextlib.suppress(TransientError):
            cache.get_version(version)

    assert cache._version_locks == {}
