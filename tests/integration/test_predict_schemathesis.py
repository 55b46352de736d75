"""The served API document describes exactly what the predict function accepts: schemathesis,
run as a user runs it (`schemathesis run …/openapi.json --checks all`) against the local
function serving the stack's champion, finds no request the document allows that is refused,
none it forbids that is accepted, no 5xx and no answer outside the document."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_emulator.settings import StackSettings
from tests.integration.conftest import schemathesis

pytestmark = pytest.mark.stack


def test_schemathesis_with_all_checks_finds_nothing(
    local_stack: StackSettings, champion: str, tmp_path: Path
) -> None:
    url = local_stack.url("predict_rows")
    result = schemathesis(url, tmp_path, max_examples=150, seed=19)

    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout or " passed" in result.stdout, result.stdout
