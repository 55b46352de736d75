"""Which cloud a command talks to: the one named by `CLOUDSCORE_*` variables, else the local cloud
if one was started here, else an error that says both ways."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from shared.clients import Endpoints
from shared.config import FunctionConfig
from shared.errors import ConfigError

if TYPE_CHECKING:
    from google.cloud import bigquery, storage

    from shared.registry import ModelRegistry


@dataclass(frozen=True)
class Target:
    config: FunctionConfig
    endpoints: Endpoints
    description: str

    @cached_property
    def storage(self) -> storage.Client:
        from shared import clients

        return clients.storage_client(self.config.project, self.endpoints)

    @cached_property
    def bigquery(self) -> bigquery.Client:
        from shared import clients

        return clients.bigquery_client(self.config.project, self.endpoints)

    def registry(self, model_name: str | None = None) -> ModelRegistry:
        from shared.registry import ModelRegistry

        name = model_name or self.config.model_name
        return ModelRegistry(self.storage, self.config.models_bucket, name)


def resolve_target(quiet: bool = False) -> Target:
    if os.environ.get("CLOUDSCORE_PROJECT"):
        return Target(FunctionConfig.from_env(), Endpoints.from_env(), "CLOUDSCORE_* settings")
    from local_emulator.settings import StackSettings, default_state_dir

    if (default_state_dir() / "stack.json").exists():
        settings = StackSettings.load()
        if not quiet:
            print(f"using the local cloud in {settings.state_dir}", file=sys.stderr)
        return Target(settings.function_config(), settings.endpoints(), "the local cloud")
    raise ConfigError(
        "CLOUDSCORE_PROJECT",
        "is not set and no local cloud was started here; set the CLOUDSCORE_* variables "
        "(see README) or run `cloudscore local up`",
    )
