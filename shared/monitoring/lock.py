"""One check at a time per model, and one check per scheduler tick, kept in Cloud Storage.

    models/<name>/monitoring/lock.json            held while a check runs
    models/<name>/monitoring/ticks/<tick id>.json  written when the check of that tick is done

The lock is an object created with a does-not-exist precondition, so of two ticks that start
together exactly one creates it. It carries an expiry: a holder that crashed (an instance killed
mid-training) is taken over after `ttl_s`, by replacing the lock on its generation, so again only
one of several waiters wins. A check longer than `ttl_s` would let another start: the ttl is set
well beyond the function's timeout (the platform stops the function first).
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as api_exceptions

from shared.retryable import transient_errors

if TYPE_CHECKING:
    from google.cloud import storage

# Cloud Functions stop an event-driven function after at most 540 s.
LOCK_TTL_S = 1800.0


@dataclass(frozen=True)
class Held:
    generation: int
    token: str


@dataclass(frozen=True)
class Holder:
    """Who has the lock, as its object says."""

    run_id: str
    tick_id: str
    acquired_at: str
    expires_at: str


def _now() -> datetime:
    return datetime.now(UTC)


class CheckLock:
    def __init__(
        self,
        bucket: storage.Bucket,
        prefix: str,
        ttl_s: float = LOCK_TTL_S,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.bucket = bucket
        self.path = f"{prefix}/monitoring/lock.json"
        self.ticks = f"{prefix}/monitoring/ticks"
        self.ttl = timedelta(seconds=ttl_s)
        self.clock = clock

    # --- the lock ---------------------------------------------------------------------------
    def acquire(self, run_id: str, tick_id: str) -> Held | Holder:
        """The lock, or who holds it (and has not expired)."""
        token = secrets.token_hex(8)
        now = self.clock()
        body = {
            "run_id": run_id,
            "tick_id": tick_id,
            "acquired_at": now.isoformat(),
            "expires_at": (now + self.ttl).isoformat(),
            "token": token,
        }
        held = self._write(body, if_generation_match=0)
        if held is not None:
            return held
        current = self._read()
        if current is None:  # released meanwhile: try once more
            return self._write(body, if_generation_match=0) or self._holder_or_gone()
        generation, data = current
        if datetime.fromisoformat(data["expires_at"]) > now:
            return _holder(data)
        # The holder outlived its expiry (it crashed): replace its lock, exactly one of us wins.
        return self._write(body, if_generation_match=generation) or self._holder_or_gone()

    def release(self, held: Held) -> None:
        # Gone or replaced: it expired and was taken over; the new holder releases it.
        with (
            transient_errors(f"releasing gs://{self.bucket.name}/{self.path}"),
            contextlib.suppress(api_exceptions.NotFound, api_exceptions.PreconditionFailed),
        ):
            self.bucket.blob(self.path).delete(if_generation_match=held.generation)

    def _write(self, body: dict[str, Any], *, if_generation_match: int) -> Held | None:
        blob = self.bucket.blob(self.path)
        try:
            with transient_errors(f"taking gs://{self.bucket.name}/{self.path}"):
                blob.upload_from_string(
                    json.dumps(body).encode(),
                    content_type="application/json",
                    if_generation_match=if_generation_match,
                )
        except api_exceptions.PreconditionFailed:
            # A retried upload whose first answer was lost meets its own object: ours.
            current = self._read()
            if current is None or current[1].get("token") != body["token"]:
                return None
            return Held(current[0], body["token"])
        return Held(int(blob.generation), body["token"])

    def _read(self) -> tuple[int, dict[str, Any]] | None:
        with transient_errors(f"reading gs://{self.bucket.name}/{self.path}"):
            blob = self.bucket.get_blob(self.path)
            if blob is None:
                return None
            try:
                data = json.loads(blob.download_as_bytes(if_generation_match=blob.generation))
            except (api_exceptions.NotFound, api_exceptions.PreconditionFailed):
                return self._read()  # replaced between the two reads
        return int(blob.generation), data

    def _holder_or_gone(self) -> Holder:
        current = self._read()
        if current is None:
            return Holder("unknown", "", "", "")
        return _holder(current[1])

    # --- ticks ------------------------------------------------------------------------------
    def done_run(self, tick_id: str) -> str | None:
        """The run id that completed the check of `tick_id`, if one did."""
        path = f"{self.ticks}/{tick_id}.json"
        with transient_errors(f"reading gs://{self.bucket.name}/{path}"):
            blob = self.bucket.get_blob(path)
            if blob is None:
                return None
            run_id: str = json.loads(blob.download_as_bytes())["run_id"]
            return run_id

    def mark_done(self, tick_id: str, run_id: str) -> None:
        path = f"{self.ticks}/{tick_id}.json"
        try:
            with transient_errors(f"writing gs://{self.bucket.name}/{path}"):
                self.bucket.blob(path).upload_from_string(
                    json.dumps({"run_id": run_id}).encode(),
                    content_type="application/json",
                    if_generation_match=0,
                )
        except api_exceptions.PreconditionFailed:
            pass  # written by this very check's earlier try: the tick is done either way


def _holder(data: dict[str, Any]) -> Holder:
    return Holder(
        run_id=str(data.get("run_id", "")),
        tick_id=str(data.get("tick_id", "")),
        acquired_at=str(data.get("acquired_at", "")),
        expires_at=str(data.get("expires_at", "")),
    )
