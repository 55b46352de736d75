"""The deployment's log-based metrics (infra/monitoring.tf) applied to the lines the code writes.

A metric whose filter matches no line the code writes never counts anything and its alert never
fires: tests take the records a real run logged, turn each into the entry Cloud Logging makes of
the JSON line a gen2 function prints (shared/structured_log.py), and apply the metric's filter.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import hcl2

from shared.structured_log import CloudLoggingFormatter

INFRA = Path(__file__).resolve().parent.parent / "infra"

# Terms of the filters infra/ writes: `path="value"`, joined by AND. Anything else is refused
# rather than guessed at.
_TERM = re.compile(r'^([\w.]+)\s*=\s*"([^"]*)"$')
_SERVICE = re.compile(r'\$\{local\.function_services\["(\w+)"\]\}')
# Fields of the JSON line that Cloud Logging takes out of jsonPayload into the entry itself.
_SPECIAL = (
    "severity",
    "time",
    "logging.googleapis.com/labels",
    "logging.googleapis.com/sourceLocation",
)


def service_of(function: str, name_prefix: str = "cloudscore") -> str:
    """The Cloud Run service a function runs as: its Cloud Function's name (infra/main.tf)."""
    return f"{name_prefix}-{function.replace('_', '-')}"


def metric_filter(metric: str) -> str:
    """The filter of `google_logging_metric.<metric>`, the functions' services filled in."""
    with (INFRA / "monitoring.tf").open() as source:
        parsed = hcl2.load(source)
    for block in parsed.get("resource", []):
        for type_, named in block.items():
            if type_.strip('"') != "google_logging_metric":
                continue
            for name, body in named.items():
                if name.strip('"') == metric:
                    text = str(body["filter"])[1:-1].replace('\\"', '"')  # HCL's quotes off
                    return _SERVICE.sub(lambda match: service_of(match.group(1)), text)
    raise KeyError(f"infra/monitoring.tf declares no google_logging_metric.{metric}")


def cloud_logging_entry(record: logging.LogRecord, function: str) -> dict[str, Any]:
    """The LogEntry of the line `function` prints for this record on Cloud Run."""
    line: dict[str, Any] = json.loads(CloudLoggingFormatter(function).format(record))
    return {
        "resource": {
            "type": "cloud_run_revision",
            "labels": {"service_name": service_of(function)},
        },
        "severity": line["severity"],
        "labels": line["logging.googleapis.com/labels"],
        "jsonPayload": {k: v for k, v in line.items() if k not in _SPECIAL},
    }


def matches(filter_: str, entry: dict[str, Any]) -> bool:
    for term in filter_.split(" AND "):
        parsed = _TERM.match(term.strip())
        if parsed is None:
            raise ValueError(f"filter term not understood here: {term!r}")
        value: Any = entry
        for step in parsed.group(1).split("."):
            value = value.get(step) if isinstance(value, dict) else None
        if value is None or str(value) != parsed.group(2):
            return False
    return True


def counted(metric: str, records: Iterable[logging.LogRecord], function: str) -> list[str]:
    """The messages of the records that `metric` counts."""
    filter_ = metric_filter(metric)
    return [
        record.getMessage()
        for record in records
        if matches(filter_, cloud_logging_entry(record, function))
    ]
