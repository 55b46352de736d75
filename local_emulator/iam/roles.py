"""The roles infra/ grants, as the permissions each includes: Google Cloud's predefined roles from
the table in roles.json (each with the Google reference page its list comes from), and the
project's custom roles from infra/iam.tf's literal `custom_roles`, the very lists Terraform
creates them with."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from shared.errors import LocalStackError


@dataclass(frozen=True)
class Role:
    name: str
    title: str
    reference: str
    permissions: frozenset[str]


@functools.cache
def all_roles() -> dict[str, Role]:
    """Google's predefined roles (roles.json)."""
    data = json.loads(resources.files(__package__).joinpath("roles.json").read_text())
    return {
        name: Role(name, role["title"], role["reference"], frozenset(role["permissions"]))
        for name, role in data["roles"].items()
    }


def custom_roles(module: Mapping[str, Any]) -> dict[str, Role]:
    """infra/iam.tf's custom roles, by the key account_roles grants them by. Each permission must
    be one a predefined role of roles.json includes: a misspelt one would be refused by Google
    at apply time, and here it fails the start, named."""
    known = set().union(*(r.permissions for r in all_roles().values()))
    roles = {}
    for key, spec in module["locals"].get("custom_roles", {}).items():
        where = f"infra/iam.tf custom_roles.{key}"
        if key in all_roles():
            raise LocalStackError("iam", f"{where} has the name of a predefined role")
        unknown = sorted(set(spec["permissions"]) - known)
        if unknown:
            raise LocalStackError(
                "iam",
                f"{where} lists {', '.join(unknown)}, which no role of "
                "local_emulator/iam/roles.json includes: a permission's name is misspelt, or "
                "add the predefined role that includes it",
            )
        roles[key] = Role(key, spec["title"], where, frozenset(spec["permissions"]))
    return roles


def known_roles(module: Mapping[str, Any]) -> dict[str, Role]:
    """Every role infra/ may grant: Google's predefined ones and the module's custom ones."""
    return {**all_roles(), **custom_roles(module)}


def role(name: str, roles: Mapping[str, Role] | None = None) -> Role:
    """The role `name` among `roles` (default: Google's predefined roles)."""
    try:
        return (all_roles() if roles is None else roles)[name]
    except KeyError:
        raise LocalStackError(
            "iam",
            f"infra/ grants {name}, which is neither a custom role of infra/iam.tf "
            "(custom_roles) nor a predefined role local_emulator/iam/roles.json lists: add it "
            "with its permissions from its Google reference page (`gcloud iam roles describe "
            f"{name}`)",
        ) from None
