"""What a JSON record may hold beyond JSON's grammar, for every reader of JSON records: the HTTP
API's bodies and the batch path's JSONL lines.

    MAX_DEPTH                        arrays and objects within each other, the record's own
                                     level counted
    too_deep(document, bound, above) the path to the first value nested deeper, or None
    may_hold_surrogates(raw)         whether JSON text can hold a lone surrogate (cheap, on bytes)
    lone_surrogate(document)         the path to the first text holding one, and the text, or None
    path_text(path)                  a path as JSONPath writes it: instances[0].tags[1]
    refuse_constant                  json.loads's parse_constant: NaN and Infinity are not JSON
    read_record_json(text)           json.loads as records are read: NaN and Infinity refused,
                                     a key named twice in one object refused (`RepeatedKey`)
    decode_error_text(error)         why a reader of text refused it, in words for the sender

Nothing tabular nests deeply, and what writes and shows values (`json.dumps`, `repr`, `str`)
recurses once per level: a value nested some hundreds deep, which `json.loads` still reads,
would overflow the stack later, far from where it came in.

JSON leaves open what an object that names a key twice means (RFC 8259, section 4), and
Python's reader keeps the last value: which of the two the sender meant is not known, so the
record is refused, as a CSV header that names a column twice is.

JSON allows the escape of half a surrogate pair ("\\ud800"), which `json.loads` reads into a
string that no UTF-8 writer takes (BigQuery's loads, Arrow, Parquet): text that is not Unicode,
as bytes that are not UTF-8 are in a CSV. Both are refused where they are read, saying where.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Sequence
from typing import Any, Final

MAX_DEPTH: Final = 64


def too_deep(
    document: Any, depth_bound: int, levels_above: int = 0
) -> tuple[str | int, ...] | None:
    """The keys and indexes that lead to the first array or object in `document` nested more
    than MAX_DEPTH deep within its record, or None. The record starts `levels_above` levels
    down (the HTTP API's {"instances": [...]} wraps its records in two). `depth_bound` is how
    deep the document can nest at most, as its text tells cheaply (how many "[" and "{" it
    holds will do): within the limit, the document is not walked."""
    limit = MAX_DEPTH + levels_above
    if depth_bound <= limit or not isinstance(document, dict | list):
        return None
    # Level by level, counting only: most documents with nested values are shallow, and are
    # done with after a look at each value. (A stack of its own, not recursion: the document
    # may be deeper than Python's stack.)
    level: list[Any] = [document]
    for _ in range(limit):
        below: list[Any] = []
        for container in level:
            values = container.values() if type(container) is dict else container
            below += [v for v in values if type(v) is dict or type(v) is list]
        if not below:
            return None
        level = below
    return _first_path_deeper_than(document, limit)


def _first_path_deeper_than(document: Any, limit: int) -> tuple[str | int, ...] | None:
    # Depth first, children in order: the first too-deep value as the document reads.
    pending: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while pending:
        value, path = pending.pop()
        children = list(value.items() if isinstance(value, dict) else enumerate(value))
        for key, child in reversed(children):
            if isinstance(child, dict | list):
                # The document itself is the first level: a child at `path` is len(path) + 2.
                if len(path) + 2 > limit:
                    return (*path, key)
                pending.append((child, (*path, key)))
    return None


# A lone surrogate reaches a string through an escape (\ud800 to \udfff), through UTF-8 bytes
# of one that `json` reads with "surrogatepass" (ED A0 80 to ED BF BF), or in a UTF-16 or UTF-32
# text (with NUL bytes): a text with none of these holds none, and is not walked.
_SURROGATE_SIGN: Final = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]|\x00")


def may_hold_surrogates(raw: bytes) -> bool:
    return _SURROGATE_SIGN.search(raw) is not None


def lone_surrogate(document: Any) -> tuple[tuple[str | int, ...], str] | None:
    """The path to a key or text in `document` that holds a lone surrogate (the first met going
    down the document in order), and that text; None when no text holds one."""
    for path, text in _texts(document):
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return path, text
    return None


def _texts(document: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    pending: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while pending:
        value, path = pending.pop()
        if isinstance(value, str):
            yield path, value
        elif isinstance(value, dict):
            items = list(value.items())
            for key, _ in items:
                yield (*path, key), key
            pending.extend((child, (*path, key)) for key, child in reversed(items))
        elif isinstance(value, list):
            pending.extend((value[i], (*path, i)) for i in range(len(value) - 1, -1, -1))


class RepeatedKey(ValueError):
    """A JSON object named `key` more than once; `path` leads to that object in `document`
    (the text as read keeping the last value of each key)."""

    def __init__(self, key: str, path: tuple[str | int, ...], document: Any) -> None:
        where = f" at {path_text(path)}" if path else ""
        super().__init__(f"found {json.dumps(key)} twice{where}")
        self.key = key
        self.path = path
        self.document = document


class _Twice(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) < len(pairs):
        raise _Twice
    return document


class _Repeated(dict[str, Any]):
    """An object that named `key` twice, as the second reading of a refused text marks it."""

    key: str


def _marking(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) == len(pairs):
        return document
    marked = _Repeated(document)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            marked.key = key
            break
        seen.add(key)
    return marked


def read_record_json(text: str) -> Any:
    """`text` read as JSON by the rules of records (see the module's docstring). Raises
    ValueError (RepeatedKey for a key named twice) and RecursionError as `json.loads` does."""
    try:
        return json.loads(text, parse_constant=refuse_constant, object_pairs_hook=_unique_keys)
    except _Twice:
        pass
    # Read again, marking instead of refusing, to say where: only for a text already refused.
    document = json.loads(text, parse_constant=refuse_constant, object_pairs_hook=_marking)
    for path, value in _containers(document):
        if isinstance(value, _Repeated):
            raise RepeatedKey(value.key, path, document)
    raise AssertionError("a key named twice was not found again")


def _containers(document: Any) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    # Depth first, children in order: as the document reads.
    pending: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while pending:
        value, path = pending.pop()
        if isinstance(value, dict | list):
            yield path, value
            items = list(value.items() if isinstance(value, dict) else enumerate(value))
            pending.extend((child, (*path, key)) for key, child in reversed(items))


def refuse_constant(name: str) -> Any:
    """`json.loads(text, parse_constant=refuse_constant)`: Python's json reads NaN and Infinity,
    which are not JSON; a sender that writes them has a bug (and "nan" text in a CSV is refused
    as NOT_FINITE, not read as missing)."""
    raise ValueError(f"{name} is not a JSON value")


def decode_error_text(error: ValueError) -> str:
    """Why a reader of text (`json.loads`, `tomllib`) refused it, in its words, but for an
    integer beyond Python's digit limit, which both leave to int(), whose error names a setting
    of the interpreter rather than the number."""
    if "integer string conversion" in str(error) and not isinstance(error, json.JSONDecodeError):
        return f"a number of more than {sys.get_int_max_str_digits()} digits"
    return str(error)


def path_text(path: Sequence[str | int], shown: int = 4) -> str:
    """A path as JSONPath writes it without the "$": instances[0].tags[1], its first `shown`
    steps followed by "…" when there are more."""
    text = "".join(_step(key) for key in path[:shown]).removeprefix(".")
    return text + "…" if len(path) > shown else text


def _step(key: str | int) -> str:
    if isinstance(key, int):
        return f"[{key}]"
    if key.isidentifier():
        return f".{key}"
    return f"[{json.dumps(key)}]"
