from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from local_emulator.components import pubsub_emulator_command
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
