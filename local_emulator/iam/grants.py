"""The grants infra/ gives each function's account, resolved to the local stack's names, and
the check Google makes of them: a permission is held on a resource when a role granted on that
resource, or on one above it (project > bucket > object, project > dataset > table), includes it.

The grants are read from the literal `account_roles` and `training_source_roles` locals of
infra/iam.tf: the very data Terraform grants from; a role is Google's predefined one or one of
the module's `custom_roles` (`roles`). An account is a function's, or the one the pipeline's
Dataflow workers run as (`dataflow_worker`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from local_emulator.iam import hcl
from local_emulator.iam.reads import SourceReads
from local_emulator.iam.roles import Role, known_roles, role
from shared.errors import LocalStackError


@dataclass(frozen=True)
class Deployment:
    """The names infra/'s grants resolve to: those the local stack gives its resources."""

    project: str
    dataset: str
    buckets: Mapping[str, str]  # CLOUDSCORE_*_BUCKET setting -> bucket name
    training_reads: SourceReads = field(default_factory=SourceReads)


@dataclass(frozen=True)
class Grant:
    principal: str  # the account that holds it: a function's name, or dataflow_worker
    role: str
    resource: str  # resources.* name
    where: str  # where infra/ says so: "infra/iam.tf account_roles.score_file.tables.predictions"

    @property
    def key(self) -> str:
        return f"{self.principal}: {self.role} on {self.resource}"


# --- resource names: a resource's name starts with the name of each resource above it ---------


def project(project_id: str) -> str:
    return f"projects/{project_id}"


def bucket(project_id: str, name: str) -> str:
    return f"projects/{project_id}/buckets/{name}"


def obj(project_id: str, bucket_name: str, name: str) -> str:
    return f"{bucket(project_id, bucket_name)}/objects/{name}"


def dataset(project_id: str, dataset_id: str) -> str:
    return f"projects/{project_id}/datasets/{dataset_id}"


def table(project_id: str, dataset_id: str, table_id: str) -> str:
    return f"{dataset(project_id, dataset_id)}/tables/{table_id}"


def service_account(project_id: str, email: str) -> str:
    return f"projects/{project_id}/serviceAccounts/{email}"


def covers(granted_on: str, resource: str) -> bool:
    return resource == granted_on or resource.startswith(granted_on + "/")


# --- the grants ---------------------------------------------------------------------------------


def account_grants(deployment: Deployment, module: Mapping[str, Any] | None = None) -> list[Grant]:
    """Every grant infra/iam.tf gives the accounts it makes (the functions', the workers')."""
    module = module if module is not None else hcl.read_module()
    local = module["locals"]
    try:
        access: Mapping[str, Any] = local["account_roles"]
        source_roles: Mapping[str, str] = local["training_source_roles"]
    except KeyError as exc:
        raise LocalStackError("iam", f"infra/iam.tf declares no local {exc}") from None
    p = deployment.project
    grants = []
    for function, spec in access.items():
        where = f"infra/iam.tf account_roles.{function}"
        for name in spec.get("project", []):
            grants.append(Grant(function, name, project(p), f"{where}.project.{name}"))
        for setting, name in spec.get("buckets", {}).items():
            if setting not in deployment.buckets:
                raise LocalStackError("iam", f"{where}.buckets names no known bucket: {setting}")
            resource = bucket(p, deployment.buckets[setting])
            grants.append(Grant(function, name, resource, f"{where}.buckets.{setting}"))
        for table_id, name in spec.get("tables", {}).items():
            resource = table(p, deployment.dataset, table_id)
            grants.append(Grant(function, name, resource, f"{where}.tables.{table_id}"))
        for account, name in spec.get("service_accounts", {}).items():
            if account not in access:
                raise LocalStackError(
                    "iam", f"{where}.service_accounts names no account of account_roles: {account}"
                )
            resource = service_account(p, account_email(account, p, module))
            grants.append(Grant(function, name, resource, f"{where}.service_accounts.{account}"))
    where = "infra/iam.tf training_source_roles (var.training_source_reads)"
    for ref in deployment.training_reads.tables:
        resource = table(ref.project, ref.dataset, ref.table)
        grants.append(Grant("retrain_model", source_roles["table"], resource, where))
    for name in deployment.training_reads.buckets:
        grants.append(Grant("retrain_model", source_roles["bucket"], bucket(p, name), where))
    roles = known_roles(module)
    for grant in grants:
        role(grant.role, roles)  # every role granted must be known, before anything is checked
    return grants


class Policy:
    """Who holds which permission where, from the grants and the roles they name."""

    def __init__(self, grants: Iterable[Grant], roles: Mapping[str, Role]) -> None:
        self.grants: tuple[Grant, ...] = tuple(grants)
        self.roles = roles
        self._by_principal: dict[str, list[Grant]] = {}
        for grant in self.grants:
            self._by_principal.setdefault(grant.principal, []).append(grant)

    @property
    def principals(self) -> list[str]:
        return sorted(self._by_principal)

    def of(self, principal: str) -> Sequence[Grant]:
        return self._by_principal.get(principal, [])

    def covering(self, principal: str, permission: str, resource: str) -> list[Grant]:
        """The grants by which `principal` holds `permission` on `resource` (none: refused)."""
        return [
            grant
            for grant in self.of(principal)
            if covers(grant.resource, resource)
            and permission in role(grant.role, self.roles).permissions
        ]


def account_email(account: str, project_id: str, module: Mapping[str, Any] | None = None) -> str:
    """The service account infra/ creates for `account` (`<name_prefix>-<account>`)."""
    module = module if module is not None else hcl.read_module()
    prefix = module["variable"]["name_prefix"]["default"]
    return f"{prefix}-{account.replace('_', '-')}@{project_id}.iam.gserviceaccount.com"
