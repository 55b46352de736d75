"""The decision threshold: the cut point that minimises expected cost (or, with no cost, maximises
F1) on the validation split.

Every distinct way to split the sorted validation scores is a candidate: flag none, flag the top
group of tied scores, the top two groups, ... flag all. Each cut's threshold lies halfway between
the lowest flagged score and the next lower one, so a fresh score near a validation score is
decided like its neighbour. The rule is `score >= threshold`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from shared.model import FloatArray
from shared.training.spec import Cost


@dataclass(frozen=True)
class CutPoints:
    """For each cut, highest threshold first: the threshold and the counts it produces."""

    thresholds: FloatArray
    true_positive: FloatArray
    false_positive: FloatArray
    positives: int
    negatives: int

    def expected_cost(self, cost: Cost) -> FloatArray:
        false_negative = self.positives - self.true_positive
        true_negative = self.negatives - self.false_positive
        total = (
            cost.true_positive * self.true_positive
            + cost.false_positive * self.false_positive
            + cost.false_negative * false_negative
            + cost.true_negative * true_negative
        )
        return np.asarray(total / (self.positives + self.negatives))

    def f1(self) -> FloatArray:
        denominator = self.true_positive + self.positives + self.false_positive
        return np.asarray(
            np.divide(
                2 * self.true_positive,
                denominator,
                out=np.zeros_like(self.true_positive),
                where=denominator > 0,
            )
        )


def cut_points(y: npt.NDArray[np.integer], scores: FloatArray) -> CutPoints:
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], y[order]
    # Index of the last row of each group of equal scores.
    group_ends = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
    true_positive = np.concatenate([[0.0], np.cumsum(hits)[group_ends].astype(np.float64)])
    false_positive = np.concatenate([[0.0], group_ends + 1.0]) - true_positive
    distinct = ranked[group_ends]
    return CutPoints(
        thresholds=_thresholds(distinct),
        true_positive=true_positive,
        false_positive=false_positive,
        positives=int(hits.sum()),
        negatives=int(len(hits) - hits.sum()),
    )


def _thresholds(distinct: FloatArray) -> FloatArray:
    """Cut k flags the k highest distinct scores; cut 0 flags none, the last cut flags all."""
    top, bottom = float(distinct[0]), float(distinct[-1])
    above = max((top + 1.0) / 2, float(np.nextafter(top, np.inf)))
    upper = np.concatenate([[above], distinct])
    lower = np.concatenate([distinct, [min(0.0, bottom)]])
    midpoint = (upper + lower) / 2
    # With adjacent floats the midpoint can round onto the lower score and flag it too; the
    # last cut may have lower == upper (a lowest score of 0), where the midpoint flags it.
    return np.asarray(np.where((midpoint > lower) | (lower == upper), midpoint, upper))


def choose_threshold(y: npt.NDArray[np.integer], scores: FloatArray, cost: Cost | None) -> float:
    """The cost-minimising cut (lowest cost, then fewest flagged rows); max F1 without a cost."""
    cuts = cut_points(y, scores)
    if cost is not None:
        best = int(np.argmin(cuts.expected_cost(cost)))
    else:
        best = int(np.argmax(cuts.f1()))
    return float(cuts.thresholds[best])


def minimum_expected_cost(y: npt.NDArray[np.integer], scores: FloatArray, cost: Cost) -> float:
    return float(cut_points(y, scores).expected_cost(cost).min())
