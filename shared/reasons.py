"""Why an input row or request instance was rejected: `reason_code` in `rejected_rows` and in
the HTTP API's problems. Kept apart from `shared.contract` so the HTTP path reads it without
importing pandas."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    MISSING_COLUMN = "MISSING_COLUMN"  # a required column is absent from the input
    MISSING_VALUE = "MISSING_VALUE"  # null or blank where the contract says not nullable
    WRONG_TYPE = "WRONG_TYPE"  # does not read as the column's kind ("12k" in a number)
    NOT_FINITE = "NOT_FINITE"  # "nan", "inf" or an infinite number where a value is needed
    BELOW_MIN = "BELOW_MIN"
    ABOVE_MAX = "ABOVE_MAX"
    UNKNOWN_CATEGORY = "UNKNOWN_CATEGORY"  # not among the categories of a strict column
