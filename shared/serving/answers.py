"""What the prediction API writes back: answers, refusals, and values echoed in them.

    to_json(document)                                  JSON text, strict (no NaN or Infinity)
    answer_json(predictions, model, request_id)        a prediction answer without explanations
    error_json(error, request_id)                      the body of a refusal (`ApiError`)
    shown(value)                                       a found value as an answer echoes it

The shapes are those of `shared/serving/openapi.json`, which a test keeps in step with this code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Final

from shared.errors import ApiError, Problem

_ENCODER: Final = json.JSONEncoder(allow_nan=False)
# How much of a found value an answer echoes: enough to recognise it, never the whole body again.
SHOWN_CHARS: Final = 200
_EXACT: Final = 2**53


def to_json(document: Any) -> str:
    """The JSON text of a document, as `json.dumps(document, allow_nan=False)` writes it."""
    return _ENCODER.encode(document)


def answer_json(predictions: Sequence[dict[str, Any]], model: str, request_id: str) -> str:
    """`to_json` of {"predictions": [{"label", "score"} | {"value"} | …, …], "model",
    "request_id"}, given the model's part already written (`model`): the part that is the same
    for every request of a version is not encoded again. A number that is not finite is refused
    (`to_json` is strict)."""
    written = to_json(predictions)
    request = to_json(request_id)
    return f'{{"predictions": {written}, "model": {model}, "request_id": {request}}}'


def problem_json(problem: Problem) -> dict[str, Any]:
    document: dict[str, Any] = {"message": problem.message}
    for name in ("instance", "field", "expected", "reason_code"):
        value = getattr(problem, name)
        if value is not None:
            document[name] = value
    if problem.found is not None:
        document["found"] = shown(problem.found)
    return document


def error_json(error: ApiError, request_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {"status": error.status, "message": error.message}
    if error.problems:
        body["problems"] = [problem_json(problem) for problem in error.problems]
    return {"error": body, "request_id": request_id}


def shown(value: Any) -> Any:
    """A found value as an answer echoes it: always JSON, and short. A number JSON cannot hold
    (inf, nan) is its text, and so is an integer beyond what a double holds exactly; text is cut
    to SHOWN_CHARS characters, and an array or object is its compact JSON text, cut alike. Half
    a surrogate pair is shown as its escape (\\ud800), which any JSON reader takes."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if (
        value is None
        or isinstance(value, bool)
        or (isinstance(value, int) and -_EXACT < value < _EXACT)
    ):
        return value
    if isinstance(value, dict | list):
        # Written by `json`, which spells a non-finite number inside as it reads it (Infinity):
        # in a string, that is JSON too.
        value = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    text = str(value)
    if len(text) > SHOWN_CHARS:
        text = text[:SHOWN_CHARS] + "…"
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


def json_kind(value: Any) -> str:
    """What a JSON value is, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"
