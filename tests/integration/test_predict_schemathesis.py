"""The served API document describes exactly what the predict function accepts: schemathesis,
run as a user runs it (`schemathesis run …/openapi.json --checks all`) against the local
function serving the stack's champion, finds no request the document allows that is refused,
none it forbids that is accepted, no 5xx and no answer outside the document."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from local_emulator.settings import StackSettings

pytestmark = pytest.mark.stack

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def test_schemathesis_with_all_checks_finds_nothing(
    local_stack: StackSettings, champion: str, tmp_path: Path
) -> None:
    url = local_stack.url("predict_rows")
    command = [
        str(SCHEMATHESIS), "run", f"{url}/openapi.json", "--checks", "all",
        "--max-examples", "150", "--seed", "19",
    ]  # fmt: skip

    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )

    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout or " passed" in result.stdout, result.stdout
