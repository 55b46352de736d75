"""One file over several attempts, against the local cloud: `score_object` run in this process,
so a test can stop an attempt where an instance would stop (a crash, the time budget, a file
deleted under it) and check that the next attempt ends the run with exact row accounting."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from google.cloud import storage as gcs

from cloudscore.demo_data import iter_demo_frames
from local_emulator.settings import StackSettings
from shared import clients
from shared.config import BatchConfig
from shared.errors import TransientError
from shared.events import StorageObject
from shared.model_cache import ModelCache
from shared.registry import ModelRegistry
from shared.scoring import batch, core
from shared.scoring.bigquery_sink import BigQuerySink
from shared.scoring.claims import claim_file, read_progress
from shared.scoring.readers import Chunk
from tests.integration.batch_support import counts, run_row
from tests.log_metrics import counted

pytestmark = pytest.mark.stack
DEFAULTS = BatchConfig()


@dataclass
class Parts:
    storage: gcs.Client
    sink: BigQuerySink
    models: ModelCache
    bucket: str

    def upload(self, data: bytes, suffix: str = ".csv") -> StorageObject:
        # Not under incoming/: the stack's own function must not score it meanwhile.
        blob = self.storage.bucket(self.bucket).blob(f"manual/{uuid.uuid4().hex[:8]}{suffix}")
        blob.upload_from_string(data)
        return StorageObject(self.bucket, blob.name, int(blob.generation), len(data), None, "e")

    def score(
        self,
        obj: StorageObject,
        settings: BatchConfig = DEFAULTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> batch.RunOutcome:
        return batch.score_object(
            obj, self.storage, self.sink, self.models, settings=settings, clock=clock
        )


@pytest.fixture
def parts(local_stack: StackSettings, champion: str) -> Parts:
    """The batch function's parts, as its own account: what it may not do is refused here too."""
    storage = clients.storage_client(local_stack.project, local_stack.endpoints("score_file"))
    bq = clients.bigquery_client(local_stack.project, local_stack.endpoints("score_file"))
    registry = ModelRegistry(storage, local_stack.models_bucket, local_stack.model_name)
    return Parts(
        storage,
        BigQuerySink(bq, local_stack.dataset, location=local_stack.region),
        ModelCache(registry),
        local_stack.inbox_bucket,
    )


def demo_csv(rows: int, seed: int, drift: float = 0.0) -> bytes:
    frame = next(iter_demo_frames(rows, seed=seed, drift=drift, bad_rows=0.0, chunk_rows=rows))
    return frame.to_csv(index=False).encode()


def exists(parts: Parts, bucket_path: str) -> bool:
    return parts.storage.bucket(parts.bucket).get_blob(bucket_path) is not None


def test_a_crash_between_recording_the_run_and_deleting_the_file_is_finished_by_the_retry(
    local_stack: StackSettings, parts: Parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    obj = parts.upload(demo_csv(200, seed=8))

    def crash(*_: object) -> None:
        raise RuntimeError("instance killed")

    with monkeypatch.context() as patched:
        patched.setattr(batch, "delete_original", crash)
        with pytest.raises(RuntimeError):
            parts.score(obj)
    again = parts.score(obj)

    assert again.status == "already_scored"
    assert not exists(parts, obj.name)
    run = run_row(local_stack, obj.uri)
    assert run is not None and run["rows_in"] == 200
    assert counts(local_stack, obj.uri) == (200, 200, 0)


def test_a_file_beyond_the_time_budget_is_finished_by_the_next_attempts_from_where_it_stopped(
    local_stack: StackSettings, parts: Parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    obj = parts.upload(demo_csv(1000, seed=9))
    scored: list[int] = []
    score_chunk = core.score_chunk

    def counting(chunk: Chunk, *args: Any, **kwargs: Any) -> core.ScoredChunk:
        scored.append(chunk.first_row_number)
        return score_chunk(chunk, *args, **kwargs)

    monkeypatch.setattr(core, "score_chunk", counting)
    # Every read of the clock is a second later: the budget of 2.5 s ends an attempt after
    # two chunks.
    ticks = iter(range(10_000))
    settings = BatchConfig(chunk_rows=300, time_budget_s=2.5)
    attempts = 0
    while True:
        attempts += 1
        try:
            outcome = parts.score(obj, settings=settings, clock=lambda: float(next(ticks)))
            break
        except TransientError as exc:
            assert "time budget" in str(exc)
            assert run_row(local_stack, obj.uri) is None  # no half result is recorded
        assert attempts < 5

    # 1000 rows in chunks of 300: 4 chunks, two per attempt, none scored twice.
    assert attempts == 2
    assert scored == [1, 301, 601, 901]
    assert (outcome.status, outcome.rows_in, outcome.rows_scored) == ("succeeded", 1000, 1000)
    run = run_row(local_stack, obj.uri)
    assert run is not None and (run["rows_in"], run["rows_scored"]) == (1000, 1000)
    assert counts(local_stack, obj.uri) == (1000, 1000, 0)


def test_the_chunk_size_of_the_first_attempt_holds_for_every_later_one(
    parts: Parts, champion: str, caplog: pytest.LogCaptureFixture
) -> None:
    obj = parts.upload(demo_csv(100, seed=10))
    name = parts.models.registry.model_name
    claim, _ = claim_file(parts.storage, obj, name, champion, 40)

    with caplog.at_level(logging.INFO, logger=batch.__name__):
        outcome = parts.score(obj, settings=BatchConfig(chunk_rows=7))

    assert claim.chunk_rows == 40
    progress, _ = read_progress(parts.storage, obj)
    assert progress.chunks_done == 3  # 40 + 40 + 20, not 15 chunks of 7
    assert outcome.rows_in == 100
    # A run that succeeded is not what the deployment's failed-run alert counts.
    assert outcome.status == "succeeded"
    assert counted("failed_scoring_runs", caplog.records, "score_file") == []


def test_a_claimed_version_that_cannot_be_loaded_ends_the_run_as_failed(
    local_stack: StackSettings, parts: Parts
) -> None:
    obj = parts.upload(demo_csv(50, seed=11))
    # A first attempt claimed a version that has since gone from the registry.
    claim_file(parts.storage, obj, parts.models.registry.model_name, "20200101-000000-gone", 100)

    outcome = parts.score(obj)

    assert outcome.status == "failed"
    run = run_row(local_stack, obj.uri)
    assert run is not None and run["status"] == "failed"
    assert "20200101-000000-gone" in run["reason"] and "cannot be loaded" in run["reason"]
    assert (run["rows_in"], run["rows_scored"], run["rows_rejected"]) == (0, 0, 0)
    assert counts(local_stack, obj.uri) == (0, 0, 0)
    assert exists(parts, f"quarantine/{obj.generation}/{obj.name}")


def test_a_generation_deleted_before_it_is_read_ends_the_run_as_failed(
    local_stack: StackSettings, parts: Parts, caplog: pytest.LogCaptureFixture
) -> None:
    obj = parts.upload(demo_csv(50, seed=12))
    parts.storage.bucket(parts.bucket).delete_blob(obj.name)

    with caplog.at_level(logging.INFO, logger=batch.__name__):
        outcome = parts.score(obj)

    assert (outcome.status, outcome.moved_to) == ("failed", "")
    run = run_row(local_stack, obj.uri)
    assert run is not None and run["status"] == "failed"
    assert run["reason"] == (
        f"{obj.uri} generation {obj.generation} was deleted or overwritten before it could be "
        "read in full (a newer generation is a file of its own, scored by its own event); no row "
        "was loaded"
    )
    assert counts(local_stack, obj.uri) == (0, 0, 0)
    # The deployment's failed-run alert counts this run's line, once.
    (line,) = counted("failed_scoring_runs", caplog.records, "score_file")
    assert obj.key in line and "failed" in line
    # The same event again does not score it twice, nor fail differently.
    assert parts.score(obj).status == "already_scored"


def test_a_file_unreadable_part_way_keeps_what_was_loaded_and_says_where_it_stopped(
    local_stack: StackSettings, parts: Parts
) -> None:
    good = demo_csv(150, seed=13).decode()
    header, *lines = good.splitlines()
    # Row 121 has an unclosed quote: the parser cannot tell where the rest of the file begins.
    lines[120] = '"' + lines[120]
    obj = parts.upload(("\n".join([header, *lines]) + "\n").encode())

    outcome = parts.score(obj, settings=BatchConfig(chunk_rows=60))

    assert outcome.status == "failed"
    run = run_row(local_stack, obj.uri)
    assert run is not None and run["status"] == "failed"
    assert (run["rows_in"], run["rows_scored"], run["rows_rejected"]) == (120, 120, 0)
    assert "data rows 1-120 were loaded" in run["reason"]
    assert counts(local_stack, obj.uri) == (120, 120, 0)
    assert exists(parts, f"quarantine/{obj.generation}/{obj.name}")


def test_the_run_row_carries_the_drift_of_its_rows_against_the_reference(
    local_stack: StackSettings, parts: Parts
) -> None:
    steady = parts.upload(demo_csv(2000, seed=14, drift=0.0))
    drifted = parts.upload(demo_csv(2000, seed=15, drift=1.0))

    parts.score(steady)
    parts.score(drifted)

    summaries: dict[str, dict[str, Any]] = {}
    for obj in (steady, drifted):
        run = run_row(local_stack, obj.uri)
        assert run is not None
        summaries[obj.name] = json.loads(run["drift_summary"])
    calm, moved = summaries[steady.name], summaries[drifted.name]
    assert calm["rows"] == moved["rows"] == 2000
    assert set(calm["psi"]) == set(moved["psi"])
    assert calm["drifted"] == []
    assert moved["drifted"], moved
    assert max(moved["psi"].values()) > 4 * max(calm["psi"].values())
    assert moved["score_psi"] > calm["score_psi"]
    # The counts behind the figures are kept, and give them again.
    from shared.drift import DriftCounts

    champion_reference = parts.models.get("champion").reference
    again = DriftCounts.from_state(champion_reference, moved["counts"]).summary()
    assert again["psi"] == moved["psi"]


def test_the_function_killed_in_the_middle_of_a_file_is_finished_by_the_redelivered_event(
    local_stack: StackSettings, champion: str, parts: Parts, tmp_path: Path
) -> None:
    import os
    import signal

    from local_emulator import processes, stack
    from local_emulator.bridge import post
    from local_emulator.settings import HOST
    from tests.integration.batch_support import drop, finalize_event
    from tests.integration.waiting import wait_for

    rows = 4 * BatchConfig().chunk_rows  # four chunks: the kill lands after the first
    # The champion's own training rows, so that every value is one its contract accepts, with
    # a credit score that is not a number in every 100th row.
    training = next(iter_demo_frames(3000, seed=41, drift=0.0, bad_rows=0.0, chunk_rows=3000))
    big = pd.concat([training] * (rows // len(training) + 1), ignore_index=True).iloc[:rows]
    big = big.astype({"credit_score": object})
    big.loc[big.index % 100 == 99, "credit_score"] = "abc"
    bad_rows = rows // 100
    path = tmp_path / "big.csv"
    big.to_csv(path, index=False)
    uri, generation = drop(local_stack, path)
    name = uri.removeprefix(f"gs://{local_stack.inbox_bucket}/")
    obj = StorageObject(local_stack.inbox_bucket, name, generation, 0, None, "e")

    wait_for(
        lambda: read_progress(parts.storage, obj)[0].chunks_done >= 1,
        timeout_s=120,
        what="the first chunk of the big file",
    )
    record = next(r for r in stack.read_records(local_stack) if r.component == "score_file")
    os.killpg(record.pid, signal.SIGKILL)
    killed_at = read_progress(parts.storage, obj)[0].chunks_done
    port = local_stack.ports["score_file"]
    wait_for(lambda: processes.port_is_free(HOST, port), timeout_s=30, what="the killed function")
    try:
        assert run_row(local_stack, uri) is None, "the file was finished before the kill"
        assert killed_at < 4
    finally:
        # The platform starts a new instance; here, `up` restarts what is not running.
        stack.up(local_stack)
    event = finalize_event(local_stack, uri, generation)

    status, _ = post(local_stack.url("score_file") + "/", event, 300)

    assert status == 200
    run = run_row(local_stack, uri)
    assert run is not None and "duplicates" not in run
    assert (run["rows_in"], run["rows_rejected"]) == (rows, bad_rows)
    assert run["rows_scored"] == rows - bad_rows
    assert counts(local_stack, uri) == (rows - bad_rows, rows - bad_rows, bad_rows)
    assert read_progress(parts.storage, obj)[0].chunks_done == 4
