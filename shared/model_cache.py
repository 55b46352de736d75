"""What the functions use to get a model: alias → version → verified, loaded, cached in-process.

A function instance keeps every version it loaded (models are immutable, so a cached version never
goes stale) and re-reads an alias's pointer at most once per `refresh_s`: a moved champion is
picked up within that many seconds, without a Cloud Storage round trip per prediction. Safe under
concurrent requests: one load per version, however many threads ask for it at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.errors import VersionNotFound
from shared.registry import ModelRegistry


@dataclass(frozen=True)
class LoadedVersion:
    model_name: str
    version: str
    model: Any
    manifest: dict[str, Any]
    artifacts: dict[str, Any]  # the version's JSON artifacts, by file name (contract.json …)


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
        self._versions: dict[str, LoadedVersion] = {}
        self._aliases: dict[str, tuple[str, float]] = {}  # alias -> (version, read at)

    def resolve(self, alias: str, *, fresh: bool = False) -> str:
        """The version `alias` points at, as read at most `refresh_s` ago (`fresh`: now)."""
        now = self.clock()
        # Read without the lock: a dict look-up is atomic, and an entry is replaced whole.
        cached = self._aliases.get(alias)
        if not fresh and cached is not None and now - cached[1] < self.refresh_s:
            return cached[0]
        pointer = self.registry.alias(alias)
        if pointer is None:
            raise VersionNotFound(
                f"model {self.registry.model_name!r} has no {alias} yet "
                "(train one with `cloudscore train --promote`)"
            )
        with self._lock:
            self._aliases[alias] = (pointer.version, now)
        return pointer.version

    def get(self, alias: str = "champion") -> LoadedVersion:
        return self.get_version(self.resolve(alias))

    def get_version(self, version: str) -> LoadedVersion:
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

    def _load(self, version: str) -> LoadedVersion:
        manifest = self.registry.manifest(version)
        artifacts = {
            name: self.registry.read_json(version, name, manifest)
            for name in manifest["artifacts"]
            if name.endswith(".json")
        }
        return LoadedVersion(
            model_name=self.registry.model_name,
            version=version,
            model=self.registry.load_model(version, manifest),
            manifest=manifest,
            artifacts=artifacts,
        )
