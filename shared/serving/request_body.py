"""A prediction request's body: its bytes (gzip read within the limit), its JSON, its instances.

    instances_of(body, content_encoding, limits)   the instances, or `ApiError` saying why not

One JSON reader, the standard library's: it keeps integers of any size exact and reports where
a text stops being JSON. What JSON's grammar allows but no record holds (nesting deeper than
`MAX_DEPTH`, half a surrogate pair) is refused here too (`shared.json_values`).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any, Final

from shared.errors import ApiError, Problem
from shared.json_values import (
    MAX_DEPTH,
    RepeatedKey,
    decode_error_text,
    lone_surrogate,
    may_hold_surrogates,
    path_text,
    read_record_json,
    too_deep,
)
from shared.serving.answers import json_kind, shown


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int
    max_instances: int


# Of one kind, in one answer: enough to see the mistake, not one per key of a large body.
_MOST_PROBLEMS: Final = 100
_IDENTITY: Final = ("", "identity")
_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS


def instances_of(body: bytes, content_encoding: str | None, limits: Limits) -> list[dict[str, Any]]:
    """The instances a body holds: {"instances": [{…}, …]} or a single instance {…}."""
    text = _decoded(body, content_encoding, limits)
    try:
        document = read_record_json(text.decode(json.detect_encoding(text), "surrogatepass"))
    except RecursionError as exc:
        raise _too_deep(None, ()) from exc
    except RepeatedKey as exc:
        raise _repeated(exc) from exc
    except ValueError as exc:
        raise ApiError(400, f"the body is not valid JSON: {decode_error_text(exc)}") from exc
    instances = _instances(document, limits)
    _refuse_odd_values(text, document, instances)
    return instances


def _decoded(body: bytes, content_encoding: str | None, limits: Limits) -> bytes:
    """The body as sent, or ungzipped; either way at most `max_body_bytes`."""
    if len(body) > limits.max_body_bytes:
        raise ApiError(
            413, f"the body is {len(body)} bytes; at most {limits.max_body_bytes} are accepted"
        )
    encoding = (content_encoding or "").strip().lower()
    if encoding in _IDENTITY:
        return body
    if encoding != "gzip":
        raise ApiError(
            415,
            f"Content-Encoding {shown(content_encoding)} is not read; send the body as it is "
            "or gzip-compressed (Content-Encoding: gzip)",
        )
    return _gunzipped(body, limits.max_body_bytes)


def _gunzipped(body: bytes, limit: int) -> bytes:
    """Every gzip member of `body`, decompressed no further than `limit` + 1 bytes: a body
    that expands beyond the limit is refused as one that is sent so large would be."""
    parts: list[bytes] = []
    size = 0
    rest = body
    try:
        while True:
            member = zlib.decompressobj(_GZIP_WBITS)
            part = member.decompress(rest, limit + 1 - size)
            size += len(part)
            parts.append(part)
            if size > limit or member.unconsumed_tail:
                raise ApiError(
                    413,
                    f"the gzip body decompresses to more than {limit} bytes; at most {limit} "
                    "are accepted",
                )
            if not member.eof:
                raise ApiError(400, "the gzip body is cut short: its last member has no end")
            rest = member.unused_data
            if not rest:
                return b"".join(parts)
    except zlib.error as exc:
        raise ApiError(400, f"the body is not valid gzip (Content-Encoding: gzip): {exc}") from exc


def _instances(document: Any, limits: Limits) -> list[dict[str, Any]]:
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
        # 400, not 413: the API document states the limit (maxItems), so a request past it is
        # one the document does not allow, as any other invalid request.
        raise ApiError(
            400,
            f"{len(instances)} instances in one request; at most {limits.max_instances} "
            "are accepted",
        )
    not_objects = [
        Problem(
            "an instance must be an object of field: value",
            instance=index,
            expected="an object",
            found=json_kind(item),
        )
        for index, item in enumerate(instances)
        if not isinstance(item, dict)
    ]
    if not_objects:
        raise ApiError(400, "some instances are not objects", not_objects)
    return instances


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


def _refuse_odd_values(text: bytes, document: Any, instances: list[dict[str, Any]]) -> None:
    """What JSON's grammar allows but no record holds (see `shared.json_values`)."""
    # An instance is a record, nested within the wrapper's two levels. How many "[" and "{" the
    # text holds bounds how deep it nests; each instance's own "{" and the wrapper's two
    # brackets nest 3 deep at most, and only the brackets beyond those can nest deeper. (A body
    # of flat instances is not walked.)
    openings = text.count(b"[") + text.count(b"{")
    single = instances[0] is document
    above = 0 if single else 2
    bound = openings if single else openings - len(instances) + 1
    deep = too_deep(document, bound, above)
    if deep is not None:
        raise _too_deep(document, deep)
    # Half a surrogate pair comes from a \u escape, from bytes beyond ASCII, or from a UTF-16
    # or UTF-32 body (NUL bytes): the common body, ASCII without escapes, is not scanned.
    if (not text.isascii() or b"\\u" in text or b"\x00" in text) and may_hold_surrogates(text):
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


def _repeated(error: RepeatedKey) -> ApiError:
    # The path leads to the object that names the key twice: the key itself is one step more.
    instance, field = _instance_and_field(error.document, (*error.path, error.key))
    return ApiError(
        400,
        f"the body names {json.dumps(error.key)} twice in one object"
        f"{f' at {path_text(error.path)}' if error.path else ''}: which value is meant is "
        "unknown; send each key once",
        [
            Problem(
                f"the key {json.dumps(error.key)} twice",
                instance,
                field,
                expected="each key once",
                found=error.key,
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
