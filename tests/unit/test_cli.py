from __future__ import annotations

from pathlib import Path

import pytest

from cloudscore.cli import main


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])

    out = capsys.readouterr().out
    assert exited.value.code == 0
    commands = {line.split()[0] for line in out.splitlines() if line.startswith("    ")}
    assert {"demo-data", "local", "demo"} <= commands


def test_local_commands_without_a_stack_say_how_to_start_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["local", "status", "--state-dir", str(tmp_path)])

    err = capsys.readouterr().err
    assert code == 1
    assert "no local stack was started" in err
    assert "cloudscore local up" in err
    assert "Traceback" not in err
