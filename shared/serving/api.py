"""The prediction API as data: what a request asks for, what an answer and an error look like.

    parse_request(HttpRequest(...), limits) -> PredictRequest | Route
    ApiError(status, message, problems)       every refusal, with the HTTP status it maps to
    answer_json(labels, scores, model, request_id), to_json(document)      the JSON written back

Independent of the web framework: `functions/predict_rows.py` hands it the parts of the request.
The shapes are those of `shared/serving/openapi.json`, which a test keeps in step with this code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple
from urllib.parse import parse_qsl

import orjson

from shared.json_values import (
    MAX_DEPTH,
    decode_error_text,
    lone_surrogate,
    may_hold_surrogates,
    path_text,
    refuse_constant,
    too_deep,
)

ALIASES: Final = ("champion", "challenger")
# The health and document routes; every other path is the prediction endpoint's (a function
# URL may be called with a trailing path, which functions-framework passes on as it is).
HEALTH_PATHS: Final = frozenset({"/healthz"})
OPENAPI_PATH: Final = "/openapi.json"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: which instance (None: the request as a whole), which
    field, what was expected and what was found."""

    message: str
    instance: int | None = None
    field: str | None = None
    expected: str | None = None
    found: Any = None
    reason_code: str | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"message": self.message}
        for name in ("instance", "field", "expected", "reason_code"):
            value = getattr(self, name)
            if value is not None:
                document[name] = value
        if self.found is not None:
            document["found"] = shown(self.found)
        return document


class ApiError(Exception):
    """A refused request: its HTTP status, a message, and every problem found."""

    def __init__(
        self, status: int, message: str, problems: Sequence[Problem] = (), allow: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = tuple(problems)
        self.allow = allow  # the Allow header of a 405

    def to_json(self, request_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {"status": self.status, "message": self.message}
        if self.problems:
            error["problems"] = [problem.to_json() for problem in self.problems]
        return {"error": error, "request_id": request_id}


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int
    max_instances: int


class PredictRequest(NamedTuple):
    """What a prediction request asks for (a tuple, built per request as `HttpRequest` is)."""

    instances: list[dict[str, Any]]
    explain: bool = False
    version: str | None = None
    alias: str = "champion"


@dataclass(frozen=True)
class Route:
    """A request that is not a prediction: the health report or the API document."""

    name: Literal["health", "openapi"]


# Built once: json.dumps with any option builds an encoder per call.
_ENCODER: Final = json.JSONEncoder(allow_nan=False)
_float_repr: Final = float.__repr__
_int_repr: Final = int.__repr__


def to_json(document: Any) -> str:
    """The JSON text of a document, as `json.dumps(document, allow_nan=False)` writes it."""
    return _ENCODER.encode(document)


def answer_json(labels: Sequence[Any], scores: Sequence[float], model: str, request_id: str) -> str:
    """The text of a prediction answer without explanations: the same as `to_json` of
    {"predictions": [{"label", "score"}, …], "model", "request_id"}, given the model's part
    already written (`model`). The encoder's walk over the whole document costs more than
    scoring a row does; only the labels and the scores' `repr` (JSON's spelling of a float,
    the encoder's too) are written per request."""
    items = []
    for label, score in zip(labels, scores, strict=True):
        if not (isinstance(score, float) and -math.inf < score < math.inf):
            raise ValueError(f"a score must be a finite float, not {score!r}")
        # float's own repr, as the encoder's: a NumPy float64's repr is "np.float64(…)".
        # An int label as the encoder writes it (its repr), without the encoder's call.
        written = _int_repr(label) if type(label) is int else _ENCODER.encode(label)
        items.append(f'{{"label": {written}, "score": {_float_repr(score)}}}')
    return (
        f'{{"predictions": [{", ".join(items)}], "model": {model}, '
        f'"request_id": {_ENCODER.encode(request_id)}}}'
    )


class HttpRequest(NamedTuple):
    """The parts of an HTTP request the API reads. (A tuple: one is built per request, and a
    frozen dataclass costs four times as much to build.)"""

    method: str
    path: str
    content_type: str | None
    body: bytes
    query: Mapping[str, str]  # each parameter's first value
    repeated: tuple[str, ...] = ()  # the parameters given more than once


def query_parameters(query_string: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """A query string as a WSGI server gives it (its bytes as latin-1): each parameter's first
    value, and the parameters given more than once. Bytes and escapes that are not UTF-8 read
    as U+FFFD, so that they are refused as any unknown name or value is (werkzeug's own reading
    raises on them, before the function could answer)."""
    if not query_string:
        return {}, ()
    text = query_string.encode("latin-1", "replace").decode("utf-8", "replace")
    query: dict[str, str] = {}
    repeated: dict[str, None] = {}
    for name, value in parse_qsl(text, keep_blank_values=True, errors="replace"):
        if name in query:
            repeated[name] = None
        else:
            query[name] = value
    return query, tuple(repeated)


def parse_request(request: HttpRequest, limits: Limits) -> PredictRequest | Route:
    """What the request asks for, or `ApiError` saying why it cannot be served."""
    method, content_type, body = request.method, request.content_type, request.body
    route = request.path.rstrip("/") or "/"
    if route in HEALTH_PATHS or route == OPENAPI_PATH:
        if method not in ("GET", "HEAD"):
            raise ApiError(405, f"{route} answers GET, not {method}", allow="GET, HEAD")
        return Route("health" if route in HEALTH_PATHS else "openapi")
    if method in ("GET", "HEAD"):
        return Route("health")
    if method != "POST":
        raise ApiError(
            405, f"method {method} is not allowed; use POST to predict", allow="GET, POST"
        )
    options = _options(request.query, request.repeated)
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(
            415,
            f"expected Content-Type application/json, found {shown(content_type or 'none')}",
        )
    if len(body) > limits.max_body_bytes:
        raise ApiError(
            413, f"the body is {len(body)} bytes; at most {limits.max_body_bytes} are accepted"
        )
    return PredictRequest(_instances(body, limits), *options)


# (explain, version, alias), in the order of PredictRequest's fields.
_Options = tuple[bool, str | None, str]
_DEFAULT_OPTIONS: Final[_Options] = (False, None, "champion")


def _options(query: Mapping[str, str], repeated: Sequence[str] = ()) -> _Options:
    if not query:
        return _DEFAULT_OPTIONS
    problems = [
        Problem(
            f"unknown query parameter {name!r}", field=name, expected="explain, version or alias"
        )
        for name in query
        if name not in ("explain", "version", "alias")
    ]
    problems += [
        Problem(f"query parameter {name!r} is given more than once", field=name, expected="once")
        for name in repeated
    ]
    explain_text = query.get("explain", "false").strip().lower()
    if explain_text not in ("true", "false", "1", "0", ""):
        problems.append(
            Problem(
                "explain must be true or false",
                field="explain",
                expected="true or false",
                found=query["explain"],
            )
        )
    version = query.get("version") or None
    alias = query.get("alias") or None
    if alias is not None and alias not in ALIASES:
        problems.append(
            Problem(
                f"unknown alias {alias!r}",
                field="alias",
                expected=" or ".join(ALIASES),
                found=alias,
            )
        )
    if version is not None and alias is not None:
        problems.append(Problem("give a version or an alias, not both", field="version"))
    if problems:
        raise ApiError(400, "the query parameters are not valid", problems)
    return explain_text in ("true", "1"), version, alias or "champion"


def _instances(body: bytes, limits: Limits) -> list[dict[str, Any]]:
    openings = body.count(b"[") + body.count(b"{")
    try:
        document, surrogates = _json_document(body, openings)
    except RecursionError as exc:
        raise _too_deep(None, ()) from exc
    except ValueError as exc:
        raise ApiError(400, f"the body is not valid JSON: {decode_error_text(exc)}") from exc
    instances: list[dict[str, Any]]
    if isinstance(document, dict) and isinstance(document.get("instances"), list):
        instances = document["instances"]
        if len(document) > 1:
            raise _beside_instances(document)
    elif isinstance(document, dict) and "instances" in document:
        raise ApiError(
            400,
            "instances must be a list of objects",
            [
                Problem(
                    "not a list",
                    field="instances",
                    expected="a list of objects",
                    found=json_kind(document["instances"]),
                )
            ],
        )
    elif isinstance(document, dict):
        instances = [document]  # a single instance, as it is
    else:
        raise ApiError(
            400,
            'expected a JSON object: {"instances": [{…}, …]} or a single instance {…}',
            [Problem("not an object", expected="an object", found=json_kind(document))],
        )
    if not instances:
        raise ApiError(400, "instances is empty; send at least one")
    if len(instances) > limits.max_instances:
        raise ApiError(
            413,
            f"{len(instances)} instances in one request; at most {limits.max_instances} "
            "are accepted",
        )
    for item in instances:  # a loop, not a comprehension: it runs on every request
        if not isinstance(item, dict):
            raise ApiError(
                400,
                "some instances are not objects",
                [
                    Problem(
                        "an instance must be an object of field: value",
                        instance=index,
                        expected="an object",
                        found=json_kind(item),
                    )
                    for index, item in enumerate(instances)
                    if not isinstance(item, dict)
                ],
            )
    _refuse_odd_values(openings, document, instances, surrogates=surrogates)
    return instances


# Of one kind, in one answer: enough to see the mistake, not one per key of a large body.
_MOST_PROBLEMS: Final = 100


def _beside_instances(document: dict[str, Any]) -> ApiError:
    # Taken as they are, they would be ignored: `{"instances": […], "explain": true}` answered
    # without explanations.
    others = [shown(key) for key in document if key != "instances"]
    return ApiError(
        400,
        "the body holds keys beside instances: "
        + ", ".join(repr(key) for key in others[:10])
        + ("…" if len(others) > 10 else "")
        + "; explain, version and alias go in the query string",
        [
            Problem(f"unknown key {key!r} beside instances", field=key, expected="instances alone")
            for key in others[:_MOST_PROBLEMS]
        ],
    )


def _refuse_odd_values(
    openings: int, document: Any, instances: list[dict[str, Any]], *, surrogates: bool
) -> None:
    """What JSON's grammar allows but no record holds (see `shared.json_values`); `surrogates`:
    whether the text may hold half a surrogate pair."""
    # An instance is a record, nested within the wrapper's two levels. Each instance's own "{"
    # and the wrapper's two brackets nest 3 deep at most; only the brackets beyond those can
    # nest deeper. (A body of flat instances is not walked.)
    single = instances[0] is document
    above = 0 if single else 2
    bound = openings if single else openings - len(instances) + 1
    if bound > MAX_DEPTH + above:
        deep = too_deep(document, bound, above)
        if deep is not None:
            raise _too_deep(document, deep)
    if surrogates:
        surrogate = lone_surrogate(document)
        if surrogate is not None:
            raise _not_unicode(document, *surrogate)


def _too_deep(document: Any, path: tuple[str | int, ...]) -> ApiError:
    where = f" at {path_text(path)}" if path else ""
    return ApiError(
        400,
        f"an instance nests arrays and objects more than {MAX_DEPTH} deep{where}",
        [
            Problem(
                f"nested more than {MAX_DEPTH} deep{where}",
                *_instance_and_field(document, path),
                expected=f"arrays and objects at most {MAX_DEPTH} deep",
                found=f"deeper{where}",
            )
        ],
    )


def _not_unicode(document: Any, path: tuple[str | int, ...], text: str) -> ApiError:
    where = path_text(path)
    return ApiError(
        400,
        f"the body holds text that is not Unicode at {where}: half of a surrogate pair",
        [
            Problem(
                f"half of a surrogate pair at {where}",
                *_instance_and_field(document, path),
                expected="Unicode text (a character beyond U+FFFF as both halves of its pair)",
                found=text,  # shown as its escape
            )
        ],
    )


def _instance_and_field(
    document: Any, path: tuple[str | int, ...]
) -> tuple[int | None, str | None]:
    """Which instance and field a path in the body goes through, as a contract problem names
    them; None where it goes through none."""
    if not isinstance(document, dict):
        return None, None
    if isinstance(document.get("instances"), list):
        if len(path) < 2 or path[0] != "instances" or not isinstance(path[1], int):
            return None, None
        instance, rest = path[1], path[2:]
    else:
        instance, rest = 0, path  # a single instance
    return instance, rest[0] if rest and isinstance(rest[0], str) else None


_DECODER: Final = json.JSONDecoder(parse_constant=refuse_constant)
_JSON_WHITESPACE: Final = " \t\n\r"
# orjson reads an integer beyond 64 bits as a float, where `json` keeps it an int (2**63 has 19
# digits): a body with 19 digits in a row anywhere is left to `json`.
_DIGITS_AS_NUL: Final = bytes.maketrans(b"0123456789", bytes(10))
_LONG_DIGIT_RUN: Final = bytes(19)
# orjson reads arrays and objects nested up to 1024 deep, where `json` stops at Python's
# recursion limit, less the depth of the server's own stack: a body that may nest deeper than
# this (it has more opening brackets) is left to `json` too, which refuses what it refused.
_ORJSON_MAX_OPENINGS: Final = 500


def _json_document(body: bytes, openings: int) -> tuple[Any, bool]:
    """`json.loads(body, parse_constant=...)`: the same document, or the same error; and
    whether its text can hold half a surrogate pair.

    orjson reads the common body in a third of the time. Whatever it refuses is read again by
    `json`, which accepts some of it (a byte order mark, UTF-16, lone surrogates, numbers beyond
    a double's range) and words the error of the rest, with its position. Where both accept a
    body they read the same values, to the type and the bit (tests hold them together), except
    integers beyond 64 bits and deep nesting, which are kept from orjson. `openings` is how
    many "[" and "{" the body holds. orjson refuses every lone surrogate, so only a document
    `json` read may hold one."""
    shallow = openings <= _ORJSON_MAX_OPENINGS
    if shallow and _LONG_DIGIT_RUN not in body.translate(_DIGITS_AS_NUL):
        try:
            return orjson.loads(body), False
        except orjson.JSONDecodeError:
            pass
    return _json_read(body), may_hold_surrogates(body)


def _json_read(body: bytes) -> Any:
    """`json.loads(body, parse_constant=...)` to the same result and errors, without building a
    decoder per call, and with the whitespace around the document skipped by `str.lstrip`
    rather than the regular expression `JSONDecoder.decode` runs twice."""
    text = body.decode(json.detect_encoding(body), "surrogatepass")
    start = len(text) - len(text.lstrip(_JSON_WHITESPACE))
    document, end = _DECODER.raw_decode(text, start)
    rest = text[end:]
    end += len(rest) - len(rest.lstrip(_JSON_WHITESPACE))
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    return document


# How much of a found value an answer echoes: enough to recognise it, never the whole body again.
SHOWN_CHARS: Final = 200


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


_EXACT: Final = 2**53


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
