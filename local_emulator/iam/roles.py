"""Google Cloud's predefined roles as the permissions each includes, from the table in
roles.json (each role with the Google reference page its list comes from)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources

from shared.errors import LocalStackError


@dataclass(frozen=True)
class Role:
    name: str
    title: str
    reference: str
    permissions: frozenset[str]


@functools.cache
def all_roles() -> dict[str, Role]:
    data = json.loads(resources.files(__package__).joinpath("roles.json").read_text())
    return {
        name: Role(name, role["title"], role["reference"], frozenset(role["permissions"]))
        for name, role in data["roles"].items()
    }


def role(name: str) -> Role:
    try:
        return all_roles()[name]
    except KeyError:
        raise LocalStackError(
            "iam",
            f"infra/ grants {name}, which local_emulator/iam/roles.json does not list: add it "
            "with its permissions from its Google reference page (`gcloud iam roles describe "
            f"{name}`)",
        ) from None
