"""Drift against reference statistics: PSI on the reference's bins, counts carried as state."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shared.drift import DRIFT_PSI, DriftCounts, psi

REFERENCE = {
    "features": {
        "age": {
            "kind": "numeric",
            "edges": [30.0, 40.0, 50.0],
            "shares": [0.25, 0.25, 0.25, 0.2],
            "missing_share": 0.05,
        },
        "region": {
            "kind": "categorical",
            "shares": {"north": 0.5, "south": 0.5},
            "missing_share": 0.0,
        },
    },
    "score": {"rows": 100, "edges": [0.5], "shares": [0.5, 0.5]},
}


def batch(ages: list[float], regions: list[str | None]) -> pd.DataFrame:
    return pd.DataFrame({"age": ages, "region": regions})


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift() -> None:
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    small, large = psi([0.5, 0.5], [0.45, 0.55]), psi([0.5, 0.5], [0.1, 0.9])
    assert 0 < small < 0.1 < DRIFT_PSI < large
    # An empty bin is floored, not infinite.
    assert np.isfinite(psi([0.5, 0.5], [0.0, 1.0]))


def test_data_like_the_reference_shows_no_drift() -> None:
    counts = DriftCounts(REFERENCE)
    ages = [25.0] * 25 + [35.0] * 25 + [45.0] * 25 + [55.0] * 20 + [float("nan")] * 5
    counts.add(batch(ages, ["north", "south"] * 50), np.array([0.2, 0.8] * 50))

    summary = counts.summary()

    assert summary["rows"] == 100
    assert summary["psi"] == {"age": 0.0, "region": 0.0}
    assert summary["score_psi"] == 0.0
    assert summary["drifted"] == []


def test_shifted_values_and_unseen_categories_are_drift() -> None:
    counts = DriftCounts(REFERENCE)
    counts.add(batch([60.0] * 100, ["north"] * 50 + ["atlantis"] * 50), np.full(100, 0.9))

    summary = counts.summary()

    # Most drifted first: half the regions unseen outweighs every age in the top bin.
    assert summary["drifted"] == ["region", "age"]
    assert summary["psi"]["region"] > summary["psi"]["age"] > DRIFT_PSI
    assert summary["score_psi"] > DRIFT_PSI


def test_counts_carried_as_state_add_up_across_batches() -> None:
    ages = [25.0, 35.0, 45.0, 55.0, 60.0, 33.0]
    regions: list[str | None] = ["north", "south", None, "south", "north", "west"]
    scores = np.array([0.1, 0.6, 0.7, 0.2, 0.9, 0.4])
    whole = DriftCounts(REFERENCE)
    whole.add(batch(ages, regions), scores)
    first = DriftCounts(REFERENCE)
    first.add(batch(ages[:4], regions[:4]), scores[:4])

    resumed = DriftCounts.from_state(REFERENCE, first.state())
    resumed.add(batch(ages[4:], regions[4:]), scores[4:])

    assert resumed.state() == whole.state()
    assert resumed.summary() == whole.summary()


def test_a_feature_missing_from_the_batch_or_no_rows_at_all_is_not_an_error() -> None:
    counts = DriftCounts(REFERENCE)
    assert counts.summary()["psi"] == {}
    counts.add(pd.DataFrame({"age": [35.0]}), np.array([0.4]))
    assert counts.summary()["rows"] == 1
    assert set(counts.summary()["psi"]) == {"age"}
