"""What the functions use to get a model: alias → version → verified, loaded, cached in-process.

A function instance keeps every version it loaded (models are immutable, so a cached version never
goes stale) and re-reads an alias's pointer at most once per `refresh_s`: a moved champion is
picked up within that many seconds, without a Cloud Storage round trip per prediction; while
Cloud Storage cannot be reached, the pointer read last is kept. Safe under
concurrent requests: one load per version, however many threads ask for it at once.

A version an alias points at is served only while its manifest is the one the alias recorded
(`AliasPointer.check`), whether it is asked for by the alias or by its id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.errors import TransientError, VersionNotFound
from shared.registry import AliasPointer, ModelRegistry, ModelVersion

_log = logging.getLogger(__name__)


@dataclass
class _VersionLock:
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0


class ModelCache:
    def __init__(
        self,
        registry: ModelRegistry,
        refresh_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.refresh_s = refresh_s
        self.clock = clock
        self._lock = threading.Lock()
        self._version_locks: dict[str, _VersionLock] = {}
        self._versions: dict[str, ModelVersion] = {}
        self._aliases: dict[str, tuple[AliasPointer, float]] = {}  # alias -> (pointer, read at)

    def resolve(self, alias: str, *, fresh: bool = False) -> str:
        """The version `alias` points at, as read at most `refresh_s` ago (`fresh`: now)."""
        now = self.clock()
        # Read without the lock: a dict look-up is atomic, and an entry is replaced whole.
        cached = self._aliases.get(alias)
        if not fresh and cached is not None and now - cached[1] < self.refresh_s:
            return cached[0].version
        try:
            pointer = self.registry.alias(alias)
        except TransientError as exc:
            if cached is None:
                raise
            # Storage cannot be reached: keep answering with the version read last, rather
            # than fail every request, and try again in `refresh_s` (not on every request:
            # each try waits out the registry's retries).
            _log.warning("%s: kept %s = %s for now", exc, alias, cached[0].version)
            with self._lock:
                self._aliases[alias] = (cached[0], now)
            return cached[0].version
        if pointer is None:
            raise VersionNotFound(
                f"model {self.registry.model_name!r} has no {alias} yet "
                "(train one with `cloudscore train --promote`)"
            )
        with self._lock:
            self._aliases[alias] = (pointer, now)
        return pointer.version

    def get(self, alias: str = "champion") -> ModelVersion:
        return self.get_version(self.resolve(alias))

    def get_version(self, version: str) -> ModelVersion:
        loaded = self._cached_or_loaded(version)
        # Checked on every use, not once at load: an alias read later may point here too.
        for pointer, _ in list(self._aliases.values()):
            if pointer.version == version:
                pointer.check(loaded)
        return loaded

    def _cached_or_loaded(self, version: str) -> ModelVersion:
        with self._lock:
            loaded = self._versions.get(version)
            if loaded is not None:
                return loaded
            # The version's lock and how many callers hold or wait for it: it is dropped when
            # the last one is done (a lock kept for every id ever asked for would grow without
            # end), and never while one waits, so a version has one lock at a time.
            entry = self._version_locks.setdefault(version, _VersionLock())
            entry.users += 1
        try:
            with entry.lock:  # one download and unpickle per version, whoever asks first
                with self._lock:
                    loaded = self._versions.get(version)
                if loaded is None:
                    loaded = self._load(version)
                    with self._lock:
                        self._versions[version] = loaded
        finally:
            with self._lock:
                entry.users -= 1
                if entry.users == 0:
                    del self._version_locks[version]
        return loaded

    def _load(self, version: str) -> ModelVersion:
        return self.registry.load_version(version)
