"""Logs as one JSON object per line in Cloud Logging's structured format.

Cloud Run (which runs gen2 functions) parses JSON lines on stdout/stderr: `severity` sets the
level, `message` the text and `logging.googleapis.com/labels` the labels that the console filters
on. Locally the same lines land in the stack's log files. Labels such as the run id or request id
are bound for a block of work with `log_labels(...)` and added to every line inside it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Final

_LABELS: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("log_labels", default={})  # noqa: B039

# Attributes every LogRecord has; anything else was passed with `extra=` and becomes a field.
_RECORD_ATTRS: Final = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class CloudLoggingFormatter(logging.Formatter):
    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname if record.levelname != "WARN" else "WARNING",
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
            "logging.googleapis.com/labels": {"component": self.component, **_LABELS.get()},
            "logging.googleapis.com/sourceLocation": {
                "file": record.pathname,
                "line": record.lineno,
                "function": record.funcName,
            },
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            # Error Reporting picks up a stack trace found in `message`.
            entry["message"] += "\n" + self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(component: str, level: str = "INFO") -> None:
    """Send every log line of this process to stdout as Cloud Logging JSON. Idempotent."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_cloudscore", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stdout)
        handler._cloudscore = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.setFormatter(CloudLoggingFormatter(component))
    root.setLevel(level)


@contextlib.contextmanager
def log_labels(**labels: str) -> Iterator[None]:
    """Add labels (run_id=..., request_id=...) to every log line written inside the block. An
    error leaving the block takes them along (`labels_of`): where it is said, it is labelled as
    the work that raised it."""
    token = _LABELS.set({**_LABELS.get(), **labels})
    try:
        yield
    except Exception as exc:
        if not hasattr(exc, _ERROR_LABELS):
            setattr(exc, _ERROR_LABELS, _LABELS.get())
        raise
    finally:
        _LABELS.reset(token)


_ERROR_LABELS: Final = "_cloudscore_log_labels"


def labels_of(error: BaseException) -> dict[str, str]:
    """The labels in force where `error` was raised (none outside `log_labels`)."""
    labels: dict[str, str] = getattr(error, _ERROR_LABELS, {})
    return labels
