"""The values a numeric feature may take: within its contract's bounds, and within what a float32
holds, since the models compute in float32.

    feature_bounds(role, kind, low, high) -> (low, high)   the bounds a value is held to

A value beyond ±3.4e38 becomes infinite in float32, which scikit-learn's models and XGBoost's
explanations refuse (and which would be scored as no number is): a feature's value beyond is
refused as BELOW_MIN or ABOVE_MAX, by the batch path and the HTTP path alike, whatever bounds the
contract sets (an override may set none). Kept apart from `shared.contract` so the HTTP path reads
it without importing pandas.
"""

from __future__ import annotations

from typing import Final

# numpy.finfo(numpy.float32).max, as a Python float.
FLOAT32_MAX: Final = 3.4028234663852886e38


def feature_bounds(
    role: str, kind: str, low: float | None, high: float | None
) -> tuple[float | None, float | None]:
    """The lowest and highest value a column's values are held to (None: no bound)."""
    if role != "feature" or kind not in ("numeric", "integer"):
        return low, high
    return (
        -FLOAT32_MAX if low is None else max(low, -FLOAT32_MAX),
        FLOAT32_MAX if high is None else min(high, FLOAT32_MAX),
    )
