"""What an HTTP request to the predictor asks for.

    parse_request(HttpRequest(...), limits) -> PredictRequest | Route     or `ApiError`
    query_parameters(query_string)          -> each parameter's first value, and the repeated

Independent of the web framework: `functions/predict_rows.py` hands it the parts of the request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple
from urllib.parse import parse_qsl

from shared.errors import ApiError, Problem
from shared.serving.answers import shown
from shared.serving.request_body import Limits, instances_of

ALIASES: Final = ("champion", "challenger")
# The health and document routes; every other path is the prediction endpoint's (a function
# URL may be called with a trailing path, which functions-framework passes on as it is).
HEALTH_PATHS: Final = frozenset({"/healthz"})
OPENAPI_PATH: Final = "/openapi.json"


class HttpRequest(NamedTuple):
    """The parts of an HTTP request the API reads."""

    method: str
    path: str
    content_type: str | None
    body: bytes
    query: Mapping[str, str]  # each parameter's first value
    repeated: tuple[str, ...] = ()  # the parameters given more than once
    content_encoding: str | None = None


class PredictRequest(NamedTuple):
    """What a prediction request asks for."""

    instances: list[dict[str, Any]]
    explain: bool = False
    version: str | None = None
    # With a version: None, or the alias the caller expects to point at it (409 when not).
    alias: str | None = "champion"


@dataclass(frozen=True)
class Route:
    """A request that is not a prediction: the health report or the API document."""

    name: Literal["health", "openapi"]


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
    method = request.method
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
    explain, version, alias = _options(request.query, request.repeated)
    content_type = request.content_type
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(
            415,
            f"expected Content-Type application/json, found {shown(content_type or 'none')}",
        )
    instances = instances_of(request.body, request.content_encoding, limits)
    return PredictRequest(instances, explain, version, alias)


def _options(
    query: Mapping[str, str], repeated: Sequence[str]
) -> tuple[bool, str | None, str | None]:
    """(explain, version, alias) from the query string."""
    if not query:
        return False, None, "champion"
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
    if problems:
        raise ApiError(400, "the query parameters are not valid", problems)
    # A version and an alias together: the version, as long as the alias points at it.
    return explain_text in ("true", "1"), version, alias or (None if version else "champion")
