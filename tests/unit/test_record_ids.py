"""One spelling of ids in `record_id`: the batch path's column rule and the HTTP path's scalar
rule agree, so predictions from either join the same labels."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from shared.scoring.core import record_id_texts
from shared.values import record_id as id_text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("007", "007"),
        (" a b ", " a b "),
        (17, "17"),
        (17.0, "17"),
        (-3.0, "-3"),
        (2.5, "2.5"),
        (2.0**53, str(2.0**53)),
        (math.inf, "inf"),
        (math.nan, None),
        (None, None),
        (True, None),  # true/false is no id
        ({"a": 1}, None),  # nor is an object
    ],
)
def test_an_id_is_spelled_once(value: object, text: str | None) -> None:
    assert id_text(value) == text


def test_the_batch_column_rule_is_the_scalar_rule() -> None:
    floats = [17.0, 2.5, math.nan, 2.0**53, -0.0]
    assert record_id_texts(pd.Series(floats)).tolist() == [id_text(x) for x in floats]
    assert record_id_texts(pd.Series([7, 8])).tolist() == ["7", "8"]
    assert record_id_texts(pd.Series(["007", "x"])).tolist() == ["007", "x"]
