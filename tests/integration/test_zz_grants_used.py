"""No grant without a use: after the whole integration suite, every role infra/ grants a function
was needed by at least one call the functions made (the permission layer records which grant let
each call through), unless infra/ says why it is kept (`function_roles_unused_locally`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_emulator.iam.layer import stack_grants
from local_emulator.iam.usage import Usage, unused_grants, usage_file
from local_emulator.settings import StackSettings
from tests.conftest import STARTED_STACKS

pytestmark = [pytest.mark.stack, pytest.mark.after_every_stack]

INTEGRATION = Path(__file__).parent


def _whole_suite_ran(config: pytest.Config, items: list[pytest.Item]) -> bool:
    ran = {Path(str(item.fspath)).name for item in items}
    modules = {path.name for path in INTEGRATION.glob("test_*.py")}
    return modules <= ran and not config.option.keyword and config.option.markexpr in ("", "stack")


def test_every_grant_infra_gives_a_function_is_used(
    request: pytest.FixtureRequest, local_stack: StackSettings
) -> None:
    if not _whole_suite_ran(request.config, request.session.items):
        pytest.skip("only meaningful after the whole integration suite, in the same session")
    usage = Usage.merged(Usage.read(usage_file(folder)) for folder in STARTED_STACKS)
    prefix = "infra/iam.tf function_roles."
    grants = [grant for grant in stack_grants(local_stack) if grant.where.startswith(prefix)]
    # Keyed as function_roles is: "retrain_model.tables.labels" => why it stays.
    kept = local_stack.infra()["locals"].get("function_roles_unused_locally", {})

    unused = [
        g.where.removeprefix(prefix)
        for g in unused_grants(grants, usage)
        if g.where.removeprefix(prefix) not in kept
    ]

    assert unused == [], (
        "granted in infra/iam.tf and needed by no call of the integration suite: take the grant "
        "out, or say in function_roles_unused_locally why it stays"
    )
