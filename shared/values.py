"""How a value, given as text (a CSV field) or as JSON (a request, a JSONL line, a Parquet cell),
reads as each kind of the data contract, decided in one place for every path: training, the
batch path, the HTTP function and the labels. Standard library only: the HTTP path imports it
without pandas or Arrow. The batch path runs the same patterns with Arrow's RE2 and the same
word lists with Arrow's look-ups, a column at a time (`shared.contract`); a parity test holds
every path to the verdicts here.

    read_number(raw, whole, text)  -> (float | None, Reason | None)
    read_boolean(raw, text)        -> (1.0 / 0.0 | None, Reason | None)
    category_text(raw)            -> (text | None, Reason | None)   as compared with categories
    read_timestamp(raw)           -> (text | None, Reason | None)   `shared.timestamps`' grammar
    id_text(raw)                  -> (text | None, Reason | None)   as `record_id` spells it
    record_id(raw)                -> text | None                    the same, None when refused
    label_text(raw)               -> text ("" when missing)         as `labels.label` holds it
    json_text(raw)                -> text                           a value echoed in a message

The grammar:
- missing: null (None, a float NaN), or text that is empty or only BLANKS where text is read
  (a JSON string is no number: "" is WRONG_TYPE there). Whether a missing value is allowed is
  the contract's `nullable`.
- text is trimmed of BLANKS (ASCII blanks only: a no-break space is a character) before it is
  read, except an id, which is kept as written;
- number: a number (a JSON number, a typed cell; not true/false), or, where text stands for
  every value (`text=True`: a CSV field, a Parquet string column), text matching NUMBER: digits
  with an optional sign, decimal point and exponent ("42", "-1.5e3", ".5", "5."); the words of
  NOT_FINITE_WORDS ("nan", "inf", "infinity", signed, any case) are NOT_FINITE, as is a number
  beyond a double's range; any other text ("n/a", "12k", "-", "0x10", "1,5") is WRONG_TYPE. A
  whole number is one whose value has no fraction (35, 35.0, "35", "3.5e1").
- boolean: true/false, the numbers 0 and 1, or (`text=True`) a word of TRUE_WORDS / FALSE_WORDS
  in any case;
- JSON (an HTTP instance, a JSONL line) carries its own types (`text=False`): a string there is
  text, never a number or a boolean, so that the JSON Schema of a contract (`shared.schema`)
  describes exactly what is accepted — "42" can be held to a number's bounds by no schema;
- category: text, or a number by VALUE_TEXT (a typed 3.0 matches the category "3");
- timestamp: text of `shared.timestamps`' grammar;
- id: text as written, or a number by VALUE_TEXT;
- true/false where a category, timestamp or id is expected, and an array or object where any
  kind but free text is, are WRONG_TYPE (the text of an object would be no id anyone wrote);
- label: the text of an id, then trimmed, with numbers in their shortest form ("01", 1.0,
  "1.0" are "1") and true/false (any case) as "1"/"0", so a label compares equal whatever
  format carried it.

VALUE_TEXT, a number as text: a whole float as an integer (17.0 → "17") below 2**53, where a
float no longer holds every integer; other floats as Python's shortest repr; integers as
written.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

from shared.reasons import Reason
from shared.timestamps import is_timestamp

# Trimmed around any text before it is read (str.strip and Arrow's utf8_trim take this list).
BLANKS: Final = " \t\n\r\f\v"
# [0-9], never \d: Python's would take any script's digits. RE2 and Python read it alike.
NUMBER: Final = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
WHOLE_NUMBER: Final = r"[+-]?[0-9]+"
NOT_FINITE_WORDS: Final = (
    "nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity",
)  # fmt: skip
TRUE_WORDS: Final = ("true", "t", "yes", "y", "1", "1.0")
FALSE_WORDS: Final = ("false", "f", "no", "n", "0", "0.0")
# Past this a float no longer holds every integer: such a float keeps its float spelling.
EXACT_INTEGERS: Final = 2**53

_NUMBER: Final = re.compile(NUMBER)
_WHOLE: Final = re.compile(WHOLE_NUMBER)
_NOT_FINITE: Final = frozenset(NOT_FINITE_WORDS)
_BOOLEANS: Final = {**dict.fromkeys(TRUE_WORDS, 1.0), **dict.fromkeys(FALSE_WORDS, 0.0)}
_LABEL_WORDS: Final = {"true": "1", "false": "0"}

Verdict = tuple[Any, Reason | None]
_MISSING: Final[Verdict] = (None, None)
_WRONG: Final[Verdict] = (None, Reason.WRONG_TYPE)
_NOT_A_NUMBER: Final[Verdict] = (None, Reason.NOT_FINITE)


def trimmed(text: str) -> str:
    return text.strip(BLANKS)


def value_text(raw: int | float) -> str:
    """A number as text (VALUE_TEXT in the module docstring)."""
    if isinstance(raw, float):
        if math.isfinite(raw) and raw == int(raw) and abs(raw) < EXACT_INTEGERS:
            return str(int(raw))
        return repr(raw)
    return str(raw)


def _is_number(raw: object) -> bool:
    return isinstance(raw, int | float) and not isinstance(raw, bool)


def read_number(raw: object, whole: bool = False, text: bool = False) -> Verdict:
    """The value as a float, or why it is none; (None, None) when missing. `text`: a string is
    read by the text grammar (else it is no number, as in JSON)."""
    if type(raw) is float or _is_number(raw):
        try:
            value = float(raw)  # type: ignore[arg-type]
        except OverflowError:  # an integer beyond a double's range
            return _NOT_A_NUMBER
        if math.isnan(value):
            return _MISSING
    elif isinstance(raw, str):
        if not text:
            return _WRONG
        stripped = trimmed(raw)
        if not stripped:
            return _MISSING
        if _NUMBER.fullmatch(stripped) is None:
            return _NOT_A_NUMBER if stripped.lower() in _NOT_FINITE else _WRONG
        value = float(stripped)
    elif raw is None:
        return _MISSING
    else:  # true/false, an array or an object
        return _WRONG
    if not math.isfinite(value):
        return _NOT_A_NUMBER
    if whole and value != math.floor(value):
        return _WRONG
    return value, None


def read_boolean(raw: object, text: bool = False) -> Verdict:
    """1.0 for true, 0.0 for false, or why it is neither; (None, None) when missing. `text`: a
    string is read by the words (else it is no boolean, as in JSON)."""
    if isinstance(raw, bool):
        return float(raw), None
    if _is_number(raw):
        if isinstance(raw, float) and math.isnan(raw):
            return _MISSING
        return (float(raw), None) if raw in (0, 1) else _WRONG
    if isinstance(raw, str):
        if not text:
            return _WRONG
        stripped = trimmed(raw)
        if not stripped:
            return _MISSING
        found = _BOOLEANS.get(stripped.lower())
        return _WRONG if found is None else (found, None)
    return _MISSING if raw is None else _WRONG


def category_text(raw: object) -> Verdict:
    """The text a value is compared with categories as; (None, None) when missing."""
    if isinstance(raw, str):
        text = trimmed(raw)
        return (text, None) if text else _MISSING
    if _is_number(raw):
        if isinstance(raw, float) and math.isnan(raw):
            return _MISSING
        return value_text(raw), None  # type: ignore[arg-type]
    return _MISSING if raw is None else _WRONG


def read_timestamp(raw: object) -> Verdict:
    """The value's text when it is a timestamp of `shared.timestamps`' grammar."""
    if isinstance(raw, str):
        text = trimmed(raw)
        if not text:
            return _MISSING
        return (text, None) if is_timestamp(text) else _WRONG
    if isinstance(raw, float) and math.isnan(raw):
        return _MISSING
    return _MISSING if raw is None else _WRONG


def id_text(raw: object) -> Verdict:
    """An id as `record_id` holds it: text as written, a typed value by VALUE_TEXT; (None, None)
    when missing (blank text included)."""
    if isinstance(raw, str):
        return (raw, None) if trimmed(raw) else _MISSING
    if _is_number(raw):
        if isinstance(raw, float) and math.isnan(raw):
            return _MISSING
        return value_text(raw), None  # type: ignore[arg-type]
    return _MISSING if raw is None else _WRONG


def record_id(raw: object) -> str | None:
    """The `record_id` of an id value (`id_text`); None when it is missing or no id."""
    text, _ = id_text(raw)
    return text  # type: ignore[no-any-return]


def label_text(raw: object) -> str:
    """A label, or `positive_label`, as `labels.label` holds it and as every path compares it
    (see the module docstring); "" when missing. An array or object is its JSON text."""
    plain = _plain(raw)
    if plain is None or (isinstance(plain, float) and math.isnan(plain)):
        return ""
    if isinstance(plain, bool):
        return "1" if plain else "0"
    if _is_number(plain):
        return value_text(plain)  # type: ignore[arg-type]
    if isinstance(plain, dict | list):
        return json_text(plain)
    text = trimmed(str(plain))
    lowered = text.lower()
    if lowered in _LABEL_WORDS:
        return _LABEL_WORDS[lowered]
    if _WHOLE.fullmatch(text):
        return str(int(text))
    if _NUMBER.fullmatch(text):
        return value_text(float(text))
    return text


def _plain(raw: object) -> object:
    """A NumPy or pandas scalar as the Python value it holds (pandas' missing values as None),
    without importing either."""
    module = type(raw).__module__
    if module.startswith("pandas"):
        return None if type(raw).__name__ in ("NAType", "NaTType") else raw
    if module == "numpy" and hasattr(raw, "item"):
        return raw.item()
    return raw


def json_text(raw: object) -> str:
    """A value as a message echoes it: as JSON writes it (true, 12.5, "text", {"a":1}); a number
    JSON cannot hold as its text (inf, nan)."""
    if isinstance(raw, float) and not math.isfinite(raw):
        return str(raw)
    try:
        return json.dumps(raw, ensure_ascii=False, separators=(",", ":"), default=str)
    except (ValueError, RecursionError):  # nan inside an array; nesting past the stack
        return str(raw)
