"""No grant without a use: after the whole integration suite, every role infra/ grants a function
was needed by at least one call the functions made (the permission layer records which grant let
each call through), unless infra/ says why it is kept (`account_roles_unused_locally`). The
Dataflow workers' grants are judged when the pipeline runs in this checkout (its `beam` extra
installed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from local_emulator.iam.layer import stack_grants
from local_emulator.iam.usage import Usage, unused_grants, usage_file
from local_emulator.settings import WORKER_ACCOUNT, StackSettings
from tests.conftest import STARTED_STACKS

pytestmark = [pytest.mark.stack, pytest.mark.after_every_stack]

INTEGRATION = Path(__file__).parent


def _pipeline_runs() -> bool:
    return all(importlib.util.find_spec(m) for m in ("apache_beam", "cloudscore.pipeline"))


def _whole_suite_ran(config: pytest.Config, items: list[pytest.Item]) -> bool:
    ran = {Path(str(item.fspath)).name for item in items}
    modules = {path.name for path in INTEGRATION.glob("test_*.py")}
    if not _pipeline_runs():
        modules.discard("test_pipeline_handoff.py")  # skipped whole without the pipeline
    return modules <= ran and not config.option.keyword and config.option.markexpr in ("", "stack")


def test_every_grant_infra_gives_an_account_is_used(
    request: pytest.FixtureRequest, local_stack: StackSettings
) -> None:
    if not _whole_suite_ran(request.config, request.session.items):
        pytest.skip("only meaningful after the whole integration suite, in the same session")
    usage = Usage.merged(Usage.read(usage_file(folder)) for folder in STARTED_STACKS)
    prefix = "infra/iam.tf account_roles."
    grants = [grant for grant in stack_grants(local_stack) if grant.where.startswith(prefix)]
    if not _pipeline_runs():
        # No job runs: neither the workers' grants nor the right to launch as them are used.
        grants = [
            g
            for g in grants
            if g.principal != WORKER_ACCOUNT
            and not g.where.endswith(f"service_accounts.{WORKER_ACCOUNT}")
        ]
    # Keyed as account_roles is: "retrain_model.tables.labels" => why it stays.
    kept = local_stack.infra()["locals"].get("account_roles_unused_locally", {})

    unused = [
        g.where.removeprefix(prefix)
        for g in unused_grants(grants, usage)
        if g.where.removeprefix(prefix) not in kept
    ]

    assert unused == [], (
        "granted in infra/iam.tf and needed by no call of the integration suite: take the grant "
        "out, or say in account_roles_unused_locally why it stays"
    )
