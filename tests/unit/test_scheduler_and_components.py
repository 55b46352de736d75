from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from local_emulator.components import http_ok, pubsub_emulator_command
from local_emulator.scheduler import next_fire
from shared.errors import ConfigError, LocalStackError


def test_next_fire_follows_the_cron_in_utc() -> None:
    after = datetime(2026, 11, 22, 3, 0, 0, tzinfo=UTC)

    assert next_fire("0 3 * * *", after) == datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    assert next_fire("*/15 * * * *", after) == datetime(2026, 11, 22, 3, 15, tzinfo=UTC)


def test_an_invalid_cron_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="CLOUDSCORE_RETRAIN_SCHEDULE"):
        next_fire("61 * * * *", datetime.now(UTC))


def test_without_java_the_stack_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(LocalStackError, match=r"Java is not installed.*apt-get install"):
        pubsub_emulator_command()


def test_a_port_that_reads_back_the_request_is_not_a_healthy_server() -> None:
    # What a connection made to itself answers (a port in the ephemeral range, before the
    # server listens): its own request line, which is no HTTP status line.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def echo() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.sendall(connection.recv(65536))

    echoing = threading.Thread(target=echo, daemon=True)
    echoing.start()
    try:
        assert http_ok(f"http://127.0.0.1:{port}/", accept_any_status=True) is False
    finally:
        echoing.join(timeout=5)
        listener.close()
