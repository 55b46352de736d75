"""What each account used of its grants, and what it was refused: kept by the permission layer in
`<state dir>/run/iam-usage.json`, read by `cloudscore local permissions` and by the test that no
grant goes unused.

Recorded per account: each permission it used with a few of the resources it used it on, each
grant by which a use was allowed (so a grant no use needed stands out), and each refusal. The file
is rewritten whenever something new is seen, which stops happening once the calls repeat.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_emulator.iam.calls import Need
from local_emulator.iam.grants import Grant

_EXAMPLES = 3  # resources kept per permission


def usage_file(state_dir: Path) -> Path:
    return state_dir / "run" / "iam-usage.json"


@dataclass
class Usage:
    used: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    denied: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    grants_used: dict[str, list[str]] = field(default_factory=dict)  # grant key -> permissions

    @classmethod
    def read(cls, path: Path) -> Usage:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return cls()
        return cls(data.get("used", {}), data.get("denied", {}), data.get("grants_used", {}))

    @classmethod
    def merged(cls, usages: Iterable[Usage]) -> Usage:
        total = cls()
        for usage in usages:
            for principal, by_permission in usage.used.items():
                for permission, resources in by_permission.items():
                    for resource in resources:
                        _add(total.used, principal, permission, resource)
            for principal, by_permission in usage.denied.items():
                for permission, resources in by_permission.items():
                    for resource in resources:
                        _add(total.denied, principal, permission, resource)
            for key, permissions in usage.grants_used.items():
                known = total.grants_used.setdefault(key, [])
                known.extend(p for p in permissions if p not in known)
        return total

    def as_json(self) -> dict[str, Any]:
        return {"used": self.used, "denied": self.denied, "grants_used": self.grants_used}


class UsageRecorder:
    """Thread-safe recording into the usage file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.usage = Usage.read(path)
        self._lock = threading.Lock()

    def allowed(self, principal: str, need: Need, covering: Iterable[Grant]) -> None:
        with self._lock:
            changed = _add(self.usage.used, principal, need.permission, need.resource)
            for grant in covering:
                permissions = self.usage.grants_used.setdefault(grant.key, [])
                if need.permission not in permissions:
                    permissions.append(need.permission)
                    changed = True
            if changed:
                self._save()

    def refused(self, principal: str, need: Need) -> None:
        with self._lock:
            if _add(self.usage.denied, principal, need.permission, need.resource):
                self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.usage.as_json(), indent=1, sort_keys=True))
        tmp.replace(self.path)


def _add(
    table: dict[str, dict[str, list[str]]], principal: str, permission: str, resource: str
) -> bool:
    """Note a use; True when it is new (a new permission, or a new example of one)."""
    examples = table.setdefault(principal, {}).setdefault(permission, [])
    if resource in examples or len(examples) >= _EXAMPLES:
        return False
    examples.append(resource)
    return True


def unused_grants(grants: Iterable[Grant], usage: Usage) -> list[Grant]:
    """The grants no allowed call needed."""
    return [grant for grant in grants if not usage.grants_used.get(grant.key)]


def summary(grants: Iterable[Grant], usage: Usage) -> Mapping[str, Any]:
    """Per account: the permissions used, refused, and each grant with what of it was used."""
    accounts: dict[str, Any] = {}
    for grant in grants:
        account = accounts.setdefault(grant.principal, {"grants": []})
        account["grants"].append((grant, usage.grants_used.get(grant.key, [])))
    for principal, account in accounts.items():
        account["used"] = usage.used.get(principal, {})
        account["denied"] = usage.denied.get(principal, {})
    return accounts
