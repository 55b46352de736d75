"""Drift of new data against a model's reference statistics, measured with the population
stability index (PSI) on the reference's own bins.

    counts = DriftCounts(reference)           # reference.json of the model version
    counts.add(features, scores)              # any number of batches
    counts.summary()                          # {"rows", "psi", "score_psi", "drifted", ...}
    DriftCounts.from_state(reference, counts.state())   # carried across attempts as JSON

Numeric features are binned on the reference's quantile edges, categorical ones on its declared
categories; a missing value (or, for a categorical, one the model never saw) falls in one extra
bucket, as it does in the reference. Only counts are kept, so the cost is one pass over each
batch and the state is a few hundred numbers whatever the data size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from shared.model import category_codes

# The usual reading of PSI: below 0.1 stable, 0.1-0.2 moderate, above 0.2 a shift to act on.
DRIFT_PSI: Final = 0.2
# Shares of empty bins are floored, so one empty bin does not make the index infinite.
_FLOOR: Final = 1e-4


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of `actual` against `expected` shares (same bins)."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), _FLOOR)
    a = np.maximum(np.asarray(actual, dtype=np.float64), _FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


class DriftCounts:
    """Bin counts of a stream of batches, for each feature of `reference` and for the scores."""

    def __init__(self, reference: Mapping[str, Any]) -> None:
        self.features: dict[str, Mapping[str, Any]] = dict(reference.get("features", {}))
        self.score: Mapping[str, Any] = reference.get("score", {})
        self.rows = 0
        self.counts: dict[str, list[int]] = {
            name: [0] * len(_expected(described)) for name, described in self.features.items()
        }
        self.score_counts = [0] * (len(self.score.get("edges", [])) + 1)

    def add(self, features: pd.DataFrame, scores: npt.NDArray[np.float64]) -> None:
        self.rows += len(features)
        for name, described in self.features.items():
            if name not in features.columns:
                continue
            found = _bin_counts(features[name], described)
            self.counts[name] = [
                int(x) + int(y) for x, y in zip(self.counts[name], found, strict=True)
            ]
        if self.score:
            edges = np.asarray(self.score["edges"], dtype=np.float64)
            bins = np.searchsorted(edges, scores[~np.isnan(scores)], side="right")
            found = np.bincount(bins, minlength=len(edges) + 1)
            self.score_counts = [
                int(x) + int(y) for x, y in zip(self.score_counts, found, strict=True)
            ]

    def absorb(self, state: Mapping[str, Any]) -> None:
        """Add the counts of another stream's `state()` (same reference): files add up exactly."""
        self.rows += int(state["rows"])
        for name, counts in state["counts"].items():
            if name in self.counts and len(counts) == len(self.counts[name]):
                self.counts[name] = [
                    int(x) + int(y) for x, y in zip(self.counts[name], counts, strict=True)
                ]
        if len(state["score_counts"]) == len(self.score_counts):
            self.score_counts = [
                int(x) + int(y)
                for x, y in zip(self.score_counts, state["score_counts"], strict=True)
            ]

    def summary(self, threshold: float = DRIFT_PSI) -> dict[str, Any]:
        """PSI per feature and of the scores; `drifted` lists features at or above `threshold`,
        worst first."""
        if not self.rows:
            return {"rows": 0, "psi": {}, "score_psi": None, "drifted": [], "threshold": threshold}
        # A feature is judged on the rows that had it (every row, once validated).
        by_feature = {
            name: round(psi(_expected(described), _shares(self.counts[name])), 4)
            for name, described in self.features.items()
            if sum(self.counts[name])
        }
        score_psi = (
            round(psi(self.score["shares"], _shares(self.score_counts)), 4)
            if self.score and sum(self.score_counts)
            else None
        )
        drifted = sorted(
            (name for name, value in by_feature.items() if value >= threshold),
            key=lambda name: -by_feature[name],
        )
        return {
            "rows": self.rows,
            "psi": by_feature,
            "score_psi": score_psi,
            "drifted": drifted,
            "threshold": threshold,
        }

    def state(self) -> dict[str, Any]:
        return {"rows": self.rows, "counts": self.counts, "score_counts": self.score_counts}

    @classmethod
    def from_state(cls, reference: Mapping[str, Any], state: Mapping[str, Any]) -> DriftCounts:
        counts = cls(reference)
        counts.rows = int(state["rows"])
        counts.counts.update({k: list(v) for k, v in state["counts"].items()})
        counts.score_counts = list(state["score_counts"])
        return counts


def _expected(described: Mapping[str, Any]) -> list[float]:
    """The reference shares in bin order, the missing (or unseen) share last."""
    shares = described["shares"]
    listed = list(shares.values()) if isinstance(shares, Mapping) else list(shares)
    return [*listed, described["missing_share"]]


def _shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [count / total for count in counts]


def _bin_counts(column: pd.Series, described: Mapping[str, Any]) -> npt.NDArray[np.int64]:
    if described["kind"] == "numeric":
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
        edges = np.asarray(described["edges"], dtype=np.float64)
        missing = np.isnan(values)
        bins = np.searchsorted(edges, values[~missing], side="right")
        counts = np.bincount(bins, minlength=len(edges) + 1)
        return np.append(counts, int(missing.sum()))
    categories = tuple(described["shares"])
    codes = category_codes(column.astype(object), categories)
    counts = np.bincount(codes[codes >= 0], minlength=len(categories))
    return np.append(counts, int((codes < 0).sum()))
