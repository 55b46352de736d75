"""Drift of new data against a model's reference statistics, measured on the reference's own
bins with the population stability index (PSI) and the Jensen-Shannon distance (base 2, the
square root of the divergence: 0 for equal shares, 1 for shares with no bin in common; the
statistic nannyml and Vertex AI use).

    counts = DriftCounts(reference)           # reference.json of the model version
    counts.add(features, scores, days)        # any number of batches; `days` files each row
                                              # under its UTC day (shared.periods.day_number)
    counts.summary()                          # {"rows", "psi", "jensen_shannon", "drifted", ...}
    counts.daily()                            # {day number: DriftCounts of that day's rows}
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


def jensen_shannon(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Jensen-Shannon distance, base 2, of `actual` against `expected` shares (same bins); an
    empty bin needs no floor here (0 log 0 is 0). Equals scipy's `jensenshannon(e, a, base=2)`."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    e, a = e / e.sum(), a / a.sum()
    middle = (e + a) / 2

    def divergence(p: npt.NDArray[np.float64]) -> float:
        present = p > 0
        return float(np.sum(p[present] * np.log2(p[present] / middle[present])))

    value = (divergence(e) + divergence(a)) / 2
    return float(np.sqrt(max(value, 0.0)))


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
        # The same counts per UTC day of the rows (days since 1970-01-01), when days are given.
        self.days: dict[int, DriftCounts] = {}
        self.reference = reference

    def add(
        self,
        features: pd.DataFrame,
        scores: npt.NDArray[np.float64],
        days: npt.NDArray[np.int64] | None = None,
    ) -> None:
        """Count a batch; with `days` (one per row), also per day. Each feature and the scores
        are binned once for the batch, and counted per day by one bincount."""
        self.rows += len(features)
        row_day: npt.NDArray[np.intp] | None = None
        daily: list[DriftCounts] = []
        if days is not None and len(days):
            distinct, row_day = np.unique(days, return_inverse=True)
            daily = [self._day(int(day)) for day in distinct]
        if row_day is not None:
            for position, rows in enumerate(np.bincount(row_day, minlength=len(daily))):
                daily[position].rows += int(rows)
        for name, described in self.features.items():
            if name not in features.columns:
                continue
            bins = _bin_indices(features[name], described)
            width = len(self.counts[name])
            self.counts[name] = _added(self.counts[name], np.bincount(bins, minlength=width))
            if row_day is not None:
                per_day = np.bincount(row_day * width + bins, minlength=len(daily) * width)
                for position, counts in enumerate(daily):
                    found = per_day[position * width : (position + 1) * width]
                    counts.counts[name] = _added(counts.counts[name], found)
        if self.score:
            edges = np.asarray(self.score["edges"], dtype=np.float64)
            present = ~np.isnan(scores)
            bins = np.searchsorted(edges, scores[present], side="right")
            width = len(edges) + 1
            self.score_counts = _added(self.score_counts, np.bincount(bins, minlength=width))
            if row_day is not None:
                per_day = np.bincount(row_day[present] * width + bins, minlength=len(daily) * width)
                for position, counts in enumerate(daily):
                    found = per_day[position * width : (position + 1) * width]
                    counts.score_counts = _added(counts.score_counts, found)

    def _day(self, day: int) -> DriftCounts:
        if day not in self.days:
            self.days[day] = DriftCounts(self.reference)
        return self.days[day]

    def daily(self) -> dict[int, DriftCounts]:
        """The counts of each UTC day the rows were filed under (empty when no day was given)."""
        return dict(self.days)

    def absorb(self, state: Mapping[str, Any]) -> None:
        """Add the counts of another stream's `state()` (same reference): files add up exactly."""
        for day, day_state in state.get("days", {}).items():
            self._day(int(day)).absorb(day_state)
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

    def summary(self, threshold: float = DRIFT_PSI, *, statistic: str = "psi") -> dict[str, Any]:
        """PSI and Jensen-Shannon distance per feature and of the scores; `drifted` lists the
        features whose `statistic` ("psi" or "jensen_shannon") is at or above `threshold`,
        worst first."""
        if not self.rows:
            return {
                "rows": 0, "psi": {}, "jensen_shannon": {}, "score_psi": None,
                "score_jensen_shannon": None, "drifted": [], "threshold": threshold,
                "statistic": statistic,
            }  # fmt: skip
        # A feature is judged on the rows that had it (every row, once validated).
        by_feature = {
            name: round(psi(_expected(described), _shares(self.counts[name])), 4)
            for name, described in self.features.items()
            if sum(self.counts[name])
        }
        distances = {
            name: round(jensen_shannon(_expected(described), _shares(self.counts[name])), 4)
            for name, described in self.features.items()
            if sum(self.counts[name])
        }
        scored = bool(self.score and sum(self.score_counts))
        score_psi = (
            round(psi(self.score["shares"], _shares(self.score_counts)), 4) if scored else None
        )
        score_js = (
            round(jensen_shannon(self.score["shares"], _shares(self.score_counts)), 4)
            if scored
            else None
        )
        judged = distances if statistic == "jensen_shannon" else by_feature
        drifted = sorted(
            (name for name, value in judged.items() if value >= threshold),
            key=lambda name: -judged[name],
        )
        return {
            "rows": self.rows,
            "psi": by_feature,
            "jensen_shannon": distances,
            "score_psi": score_psi,
            "score_jensen_shannon": score_js,
            "drifted": drifted,
            "threshold": threshold,
            "statistic": statistic,
        }

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "rows": self.rows, "counts": self.counts, "score_counts": self.score_counts
        }  # fmt: skip
        if self.days:
            state["days"] = {str(day): counts.state() for day, counts in sorted(self.days.items())}
        return state

    @classmethod
    def from_state(cls, reference: Mapping[str, Any], state: Mapping[str, Any]) -> DriftCounts:
        counts = cls(reference)
        counts.rows = int(state["rows"])
        counts.counts.update({k: list(v) for k, v in state["counts"].items()})
        counts.score_counts = list(state["score_counts"])
        for day, day_state in state.get("days", {}).items():
            counts.days[int(day)] = cls.from_state(reference, day_state)
        return counts


def _added(counts: Sequence[int], found: npt.NDArray[np.int64]) -> list[int]:
    return [int(x) + int(y) for x, y in zip(counts, found, strict=True)]


def _expected(described: Mapping[str, Any]) -> list[float]:
    """The reference shares in bin order, the missing (or unseen) share last."""
    shares = described["shares"]
    listed = list(shares.values()) if isinstance(shares, Mapping) else list(shares)
    return [*listed, described["missing_share"]]


def _shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [count / total for count in counts]


def _bin_indices(column: pd.Series, described: Mapping[str, Any]) -> npt.NDArray[np.int64]:
    """Each row's bin, in the order of `_expected`: the missing (or unseen) bin last."""
    if described["kind"] == "numeric":
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
        edges = np.asarray(described["edges"], dtype=np.float64)
        bins = np.searchsorted(edges, values, side="right").astype(np.int64)
        bins[np.isnan(values)] = len(edges) + 1
        return bins
    categories = tuple(described["shares"])
    codes = category_codes(column.astype(object), categories).astype(np.int64)
    codes[codes < 0] = len(categories)
    return codes
