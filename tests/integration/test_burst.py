"""A burst of files against a batch function that may run two instances: the local Eventarc
delivers as the deployed trigger does (the push window, Cloud Run refusing what no instance can
take, infra/'s retries), and only user files reach the function, so every file is scored exactly
once and none is dead-lettered."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cloudscore.demo_data import LABEL_COLUMN, iter_demo_frames
from local_emulator import pubsub, stack
from local_emulator.components import worker_status_file
from local_emulator.inbox import drop, wait_for_runs
from local_emulator.settings import StackSettings
from local_emulator.worker import read_status
from shared import clients
from tests.conftest import project_file, start_stack
from tests.integration.conftest import promote_a_champion

pytestmark = pytest.mark.stack

FILES = 200
ROWS = 5


@pytest.fixture(scope="module")
def two_instances(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackSettings]:
    folder = tmp_path_factory.mktemp("burst")
    settings = start_stack(
        folder / "stack",
        max_instances={"score_file": 2},
        project_file=project_file(folder, "burst-loans"),
    )
    try:
        promote_a_champion(settings, time_budget_s=3)
        yield settings
    finally:
        stack.down(settings)


def test_200_files_at_once_with_two_instances_are_each_scored_once_and_none_dead_lettered(
    two_instances: StackSettings, tmp_path: Path
) -> None:
    settings = two_instances
    assert settings.capacity["score_file"].slots == 2
    frames = iter_demo_frames(FILES * ROWS, seed=5, drift=0.0, bad_rows=0.0, chunk_rows=ROWS)
    paths = []
    for index, frame in enumerate(frames):
        path = tmp_path / f"burst-{index:03d}.csv"
        frame.drop(columns=[LABEL_COLUMN]).to_csv(path, index=False)
        paths.append(path)

    # What the inbox notifies, seen beside the trigger's own subscription.
    subscriber = pubsub.subscriber_client(settings.endpoints())
    publisher = pubsub.publisher_client(settings.endpoints())
    watch = subscriber.subscription_path(settings.project, "test-burst-watch")
    subscriber.create_subscription(
        name=watch, topic=publisher.topic_path(settings.project, settings.inbox_topic)
    )

    with ThreadPoolExecutor(16) as pool:
        dropped = list(pool.map(lambda path: drop(settings, path), paths))
    runs = wait_for_runs(settings, dropped, timeout_s=900)

    assert len(runs) == FILES
    assert {run["status"] for run in runs} == {"succeeded"}
    assert all(run["rows_in"] == run["rows_scored"] == ROWS for run in runs)
    bq = clients.bigquery_client(settings.project, settings.endpoints())
    dataset = f"{settings.project}.{settings.dataset}"
    per_file = {
        row["source_uri"]: (row["runs"], row["predictions"])
        for row in bq.query(
            f"SELECT r.source_uri, COUNT(DISTINCT r.run_id) AS runs, "
            f"(SELECT COUNT(*) FROM `{dataset}.predictions` p WHERE p.source_uri = r.source_uri) "
            f"AS predictions FROM `{dataset}.scoring_runs` r GROUP BY r.source_uri"
        ).result()
    }
    assert per_file == {uri: (1, ROWS) for uri, _ in dropped}
    assert stack.dead_letters(settings) == []
    # Only the dropped files were notified: none of the function's own writes to the inbox
    # (claims, progress, processed/) reached its trigger.
    notified: set[str] = set()
    while received := subscriber.pull(
        subscription=watch, max_messages=100, timeout=10
    ).received_messages:
        notified |= {m.message.attributes["objectId"] for m in received}
        subscriber.acknowledge(subscription=watch, ack_ids=[m.ack_id for m in received])
    assert notified == {uri.split("/", 3)[3] for uri, _ in dropped}
    delivered = read_status(worker_status_file(settings, "bridge"))
    assert delivered["score_file.delivered"] >= FILES  # at least once: Pub/Sub may redeliver
