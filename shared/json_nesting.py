"""How deep JSON values may nest, for every reader of JSON records: the HTTP API's bodies and the
batch path's JSONL lines.

    MAX_DEPTH                       arrays and objects within each other, the record's own counted
    too_deep(document, bound)       the path to the first value nested deeper, or None
    path_text(path)                 that path as JSONPath writes it: instances[0].tags[1]

Nothing tabular nests deeply, and what writes and shows values (`json.dumps`, `repr`, `str`)
recurses once per level: a value nested some hundreds deep, which `json.loads` still reads,
would overflow the stack later, far from where it came in. It is refused where it is read,
saying where it is.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

MAX_DEPTH: Final = 64


def too_deep(document: Any, depth_bound: int) -> tuple[str | int, ...] | None:
    """The keys and indexes that lead to the first array or object nested deeper than
    MAX_DEPTH in `document`, or None. `depth_bound` is how deep it can nest at most, as its
    text tells cheaply (how many "[" and "{" it holds will do): within MAX_DEPTH, the
    document is not walked."""
    if depth_bound <= MAX_DEPTH or not isinstance(document, dict | list):
        return None
    # A stack of its own, not recursion: the document may be deeper than Python's stack.
    pending: list[tuple[dict[Any, Any] | list[Any], tuple[str | int, ...]]] = [(document, ())]
    while pending:
        value, path = pending.pop()
        children = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in children:
            if isinstance(child, dict | list):
                # The document itself is the first level: a child at `path` is len(path) + 2.
                if len(path) + 2 > MAX_DEPTH:
                    return (*path, key)
                pending.append((child, (*path, key)))
    return None


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
