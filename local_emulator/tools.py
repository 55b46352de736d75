"""Google's own command-line tools pointed at the local cloud, as Google documents them for
emulators: `gcloud storage` through `CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE` (in
`StackSettings.client_env`), and `bq` through `--api` and the discovery document the Cloud SDK
ships (https://cloud.google.com/bigquery/docs/reference/bq-cli-reference#global_flags)."""

from __future__ import annotations

import shutil
from pathlib import Path

from local_emulator.settings import StackSettings


def bq_discovery_file() -> Path | None:
    """The BigQuery API discovery document of the installed Cloud SDK, which `bq` needs to talk
    to an endpoint other than Google's."""
    found = shutil.which("bq")
    if found is None:
        return None
    sdk = Path(found).resolve().parent.parent
    for candidate in (
        sdk / "platform/bq/discovery_next/bigquery.json",
        sdk / "platform/bq/discovery/bigquery.v2.json",
    ):
        if candidate.is_file():
            return candidate
    return None


def bq_command(settings: StackSettings) -> list[str] | None:
    """`bq` with the flags that point it at the stack's BigQuery; None without `bq`."""
    discovery = bq_discovery_file()
    if discovery is None:
        return None
    return [
        "bq",
        f"--api={settings.url('bigquery')}",
        f"--discovery_file={discovery}",
        f"--project_id={settings.project}",
    ]


def bq_alias(settings: StackSettings) -> str | None:
    command = bq_command(settings)
    return None if command is None else " ".join(command)
