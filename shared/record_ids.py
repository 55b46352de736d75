"""How an input row's id is spelled in `record_id`: one rule for the batch path, the HTTP
function and the labels, so a prediction and its label join whatever format carried the id.

Text stays as written ("007" stays "007", blanks kept); a whole number stored as a float is
written without ".0", as a CSV would hold it (17.0 → "17"), up to 2**53, past which a float no
longer holds every integer; anything else is `str(value)`. Standard library only: the HTTP path
imports it without pandas.
"""

from __future__ import annotations

import math

# Past this a float no longer holds every integer: such a float keeps its float spelling.
_EXACT_INTEGERS = 2.0**53


def id_text(value: object) -> str | None:
    """The `record_id` of one id value; None when it is missing."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isfinite(value) and value == int(value) and abs(value) < _EXACT_INTEGERS:
            return str(int(value))
    return str(value)
