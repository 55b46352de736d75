"""Run code in a new interpreter, as a new function instance starts: what it imports is what a
cold start pays for, unmixed with what the test process already holds."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.unit.test_config import VALID

ROOT = Path(__file__).resolve().parents[2]

# A function's environment: its settings, and a storage endpoint where nothing listens (a
# start that read anything would fail).
FUNCTION_ENV = {"PATH": "/usr/bin:/bin", **VALID, "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9"}


def fresh_python(
    code: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`code` run by `python -c` from the repository's root; `env` None inherits this one's."""
    return subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else dict(env),
        cwd=ROOT,
    )
