from __future__ import annotations

import json
import logging

import pytest

from shared.structured_log import CloudLoggingFormatter, labels_of, log_labels


def format_record(message: str, level: int = logging.INFO, **extra: object) -> dict[str, object]:
    logger = logging.getLogger("test.structured")
    record = logger.makeRecord(
        "test.structured", level, __file__, 10, message, (), None, extra=extra
    )
    parsed: dict[str, object] = json.loads(CloudLoggingFormatter("score_file").format(record))
    return parsed


def test_a_line_is_cloud_logging_json_with_severity_and_component() -> None:
    entry = format_record("scored 10 rows", logging.WARNING)

    assert entry["severity"] == "WARNING"
    assert entry["message"] == "scored 10 rows"
    assert entry["logging.googleapis.com/labels"] == {"component": "score_file"}
    assert entry["logging.googleapis.com/sourceLocation"]["line"] == 10  # type: ignore[index]


def test_labels_bound_for_a_block_are_on_every_line_inside_it_only() -> None:
    with log_labels(run_id="r-1"), log_labels(request_id="q-2"):
        inside = format_record("inside")
    outside = format_record("outside")

    assert inside["logging.googleapis.com/labels"] == {
        "component": "score_file",
        "run_id": "r-1",
        "request_id": "q-2",
    }
    assert outside["logging.googleapis.com/labels"] == {"component": "score_file"}


def test_extra_fields_become_json_fields() -> None:
    entry = format_record("done", rows_scored=10)

    assert entry["rows_scored"] == 10


def test_an_error_carries_the_labels_of_where_it_was_raised() -> None:

    with pytest.raises(ValueError) as raised, log_labels(run_id="r1"), log_labels(source="s#1"):
        raise ValueError("x")

    assert labels_of(raised.value) == {"run_id": "r1", "source": "s#1"}
    assert labels_of(ValueError("elsewhere")) == {}
