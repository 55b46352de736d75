"""Answered requests, sampled, written to BigQuery `online_predictions` off the response path.

A request hands its rows to `PredictionLog.record` and returns at once; a background thread
gathers them and loads a batch when `batch_rows` are waiting or `flush_s` has passed, and
`close()` (run at interpreter exit) loads what is left. Trouble in logging never reaches a
prediction: a failed load is logged and its rows dropped, and when BigQuery falls behind the
queue stops taking rows past `max_pending` (counted in `dropped`) rather than grow without end.
"""

from __future__ import annotations

import atexit
import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Final

_log = logging.getLogger(__name__)
_STOP: Final = object()


class PredictionLog:
    def __init__(
        self,
        write: Callable[[list[dict[str, Any]], str], None],
        *,
        sample_rate: float,
        batch_rows: int = 500,
        flush_s: float = 5.0,
        max_pending: int = 50_000,
        chooser: Callable[[], float] = random.random,
    ) -> None:
        """`write(rows, job_id)` loads one batch (see `bigquery_writer`)."""
        self.sample_rate = sample_rate
        self.dropped = 0
        self.written = 0
        self._write = write
        self._batch_rows = batch_rows
        self._flush_s = flush_s
        self._chooser = chooser
        self._queue: queue.Queue[Any] = queue.Queue(max_pending)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False

    def sampled(self) -> bool:
        """Whether this request is logged: decided once per request, not per row."""
        return self.sample_rate > 0 and self._chooser() < self.sample_rate

    def record(self, rows: list[dict[str, Any]]) -> None:
        if self._closed:
            return
        self._ensure_started()
        for row in rows:
            try:
                self._queue.put_nowait(row)
            except queue.Full:
                self.dropped += 1

    def close(self, timeout_s: float = 10.0) -> None:
        """Load what is waiting, then stop the thread."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout_s)

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="prediction-log", daemon=True
                )
                self._thread.start()
                atexit.register(self.close)

    def _run(self) -> None:
        pending: list[dict[str, Any]] = []
        deadline = time.monotonic() + self._flush_s
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                item = None
            if item is _STOP:
                self._flush(pending)
                return
            if item is not None:
                pending.append(item)
            if len(pending) >= self._batch_rows or time.monotonic() >= deadline:
                self._flush(pending)
                pending = []
                deadline = time.monotonic() + self._flush_s

    def _flush(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        try:
            self._write(rows, f"online-{uuid.uuid4().hex}")
            self.written += len(rows)
        except Exception as exc:  # logging must never take the server down
            self.dropped += len(rows)
            _log.warning("could not log %d online predictions: %s", len(rows), exc)


def bigquery_writer(
    project: str, dataset: str, location: str
) -> Callable[[list[dict[str, Any]], str], None]:
    """Load rows into `online_predictions` of `dataset` (in `location`); BigQuery and pandas are
    imported on first use, in the log's thread, not on a request's path."""

    def write(rows: list[dict[str, Any]], job_id: str) -> None:
        import pandas as pd

        from shared.clients import bigquery_client
        from shared.scoring.bigquery_sink import BigQuerySink
        from shared.tables import ONLINE_PREDICTIONS

        sink = BigQuerySink(bigquery_client(project), dataset, location=location)
        sink.load_once(ONLINE_PREDICTIONS, pd.DataFrame(rows), job_id)

    return write
