"""The online prediction log: batched off the request's path, flushed at close, never failing a
request, bounded when its writer falls behind."""

from __future__ import annotations

import threading
import time
from typing import Any

from shared.serving.prediction_log import PredictionLog


class Recorder:
    def __init__(self, fail: bool = False, delay_s: float = 0.0) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.job_ids: list[str] = []
        self.fail = fail
        self.delay_s = delay_s
        self.release = threading.Event()

    def __call__(self, rows: list[dict[str, Any]], job_id: str) -> None:
        if self.delay_s:
            self.release.wait(self.delay_s)
        if self.fail:
            raise ConnectionError("BigQuery is away")
        self.batches.append(rows)
        self.job_ids.append(job_id)


def rows(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"n": start + i} for i in range(count)]


def test_rows_are_loaded_in_batches_and_the_rest_at_close() -> None:
    writer = Recorder()
    log = PredictionLog(writer, sample_rate=1.0, batch_rows=10, flush_s=60)

    for start in range(0, 25, 5):
        log.record(rows(5, start))
    deadline = time.monotonic() + 5
    while len(writer.batches) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    log.close()

    assert [len(batch) for batch in writer.batches] == [10, 10, 5]
    assert [row["n"] for batch in writer.batches for row in batch] == list(range(25))
    assert len(set(writer.job_ids)) == 3
    assert (log.written, log.dropped) == (25, 0)


def test_a_quiet_log_flushes_after_its_interval() -> None:
    writer = Recorder()
    log = PredictionLog(writer, sample_rate=1.0, batch_rows=1000, flush_s=0.05)

    log.record(rows(3))
    deadline = time.monotonic() + 5
    while not writer.batches and time.monotonic() < deadline:
        time.sleep(0.01)

    assert [len(batch) for batch in writer.batches] == [3]
    log.close()


def test_a_failing_writer_costs_its_rows_and_nothing_else() -> None:
    log = PredictionLog(Recorder(fail=True), sample_rate=1.0, batch_rows=2, flush_s=60)

    log.record(rows(4))  # returns at once, as a request must
    log.close()

    assert (log.written, log.dropped) == (0, 4)


def test_rows_past_the_pending_limit_are_counted_not_queued() -> None:
    writer = Recorder(delay_s=5)
    log = PredictionLog(writer, sample_rate=1.0, batch_rows=1, flush_s=60, max_pending=3)

    started = time.monotonic()
    log.record(rows(10))

    assert time.monotonic() - started < 1  # never blocks the request
    assert log.dropped >= 6
    writer.release.set()
    log.close()
    assert log.written + log.dropped == 10


def test_sampling_decides_per_request() -> None:
    draws = iter([0.05, 0.5, 0.09])
    log = PredictionLog(Recorder(), sample_rate=0.1, chooser=lambda: next(draws))

    assert [log.sampled(), log.sampled(), log.sampled()] == [True, False, True]
    assert PredictionLog(Recorder(), sample_rate=0.0).sampled() is False
