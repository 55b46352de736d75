"""Google's own command-line tools against the local cloud, pointed at it the documented way,
with what `cloudscore local env` prints: `bq` (its --api and --discovery_file flags) and
`gcloud storage` (CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE). Skipped where they are not installed."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from local_emulator.settings import StackSettings
from shared import clients

pytestmark = pytest.mark.stack


def printed_env(settings: StackSettings, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """The variables and the bq alias `cloudscore local env` prints, as a shell would read them."""
    from cloudscore.cli import main

    assert main(["local", "env", "--state-dir", str(settings.state_dir)]) == 0
    found = {}
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            found[name] = shlex.split(value)[0]
        elif line.startswith("alias bq="):
            found["bq"] = shlex.split(line.removeprefix("alias bq="))[0]
    return found


def run(command: list[str], env: dict[str, str], tmp_path: Path) -> str:
    result = subprocess.run(
        command,
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),  # not the user's own configuration
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.skipif(shutil.which("bq") is None, reason="bq (Google Cloud CLI) is not installed")
def test_bq_queries_the_local_bigquery(
    local_stack: StackSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = printed_env(local_stack, capsys)
    bq = shlex.split(env.pop("bq"))

    out = run(
        [*bq, "query", "--use_legacy_sql=false", "--format=json", "SELECT 40 + 2 AS answer"],
        env,
        tmp_path,
    )

    assert json.loads(out) == [{"answer": "42"}]
    tables = json.loads(run([*bq, "ls", "--format=json", local_stack.dataset], env, tmp_path))
    assert "scoring_runs" in {t["tableReference"]["tableId"] for t in tables}


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not installed")
def test_gcloud_storage_lists_the_local_buckets(
    local_stack: StackSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = printed_env(local_stack, capsys)
    env.pop("bq", None)
    name = f"tools/{uuid.uuid4().hex[:8]}.txt"
    owner = clients.storage_client(local_stack.project, local_stack.endpoints())
    owner.bucket(local_stack.inbox_bucket).blob(name).upload_from_string(b"hello")

    out = run(["gcloud", "storage", "ls", f"gs://{local_stack.inbox_bucket}/tools/"], env, tmp_path)

    assert f"gs://{local_stack.inbox_bucket}/{name}" in out.split()
