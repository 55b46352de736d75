from __future__ import annotations

import sys
from pathlib import Path

from local_emulator import processes


def test_a_spawned_process_is_stopped_with_its_group(tmp_path: Path) -> None:
    # The parent starts a child in its group, as the Pub/Sub emulator's script starts a JVM.
    script = (
        "import subprocess, sys, time;"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        "time.sleep(60)"
    )
    record, _ = processes.spawn(
        "sleeper", [sys.executable, "-c", script], {}, tmp_path / "l.log", tmp_path
    )
    assert record.is_alive()

    assert processes.stop(record, grace_s=5)

    assert not record.is_alive()
    assert not processes.stop(record), "stopping twice is harmless"


def test_a_record_whose_pid_was_reused_is_never_signalled(tmp_path: Path) -> None:
    record, _ = processes.spawn(
        "sleeper",
        [sys.executable, "-c", "import time; time.sleep(60)"],
        {},
        tmp_path / "l.log",
        tmp_path,
    )
    impostor = processes.ProcessRecord("old", record.pid, record.started - 1, "")

    assert not impostor.is_alive()
    assert not processes.stop(impostor)
    assert record.is_alive()
    processes.stop(record)


def test_log_tail_gives_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("\n".join(str(i) for i in range(100)))

    assert processes.log_tail(log, 3) == "97\n98\n99"
    assert processes.log_tail(tmp_path / "missing.log") == ""
