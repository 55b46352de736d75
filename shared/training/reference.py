"""Reference statistics of the training data: what drift detection later compares against.

The document is plain JSON (no NaN, no infinities)::

    {
      "format": 1,
      "rows": 60000,                      # training rows the feature statistics describe
      "features": {
        "age": {                          # numeric
          "kind": "numeric",
          "edges": [27.0, 31.0, ...],     # inner bin edges, ascending, at most 9
          "shares": [0.1, 0.1, ...],      # len(edges) + 1 bins, share of ALL rows in each
          "missing_share": 0.0            # shares + missing_share == 1
        },
        "region": {                       # categorical
          "kind": "categorical",
          "shares": {"northeast": 0.18, ...},   # every declared category, share of ALL rows
          "missing_share": 0.0            # missing or unknown
        }
      },
      "score": {"rows": 20000, "edges": [...], "shares": [...]},  # winning model, test split
      "sampling": {"rows": 20000, "rounds": 100, "std": {"roc_auc": 0.004, ...}}
    }

`sampling` (added by the training pipeline; absent from versions trained before it): the
standard deviation of each metric over bootstrap resamples of the test split, from which a
monitoring check states the sampling error of a period's metrics (`shared.monitoring.estimation`).

Numeric bins come from the deciles of the non-missing training values (each an observed value,
not an interpolation between two); the outer bins are open
(bin 0 is everything below edges[0], the last bin everything from edges[-1] up) and bin i holds
edges[i-1] <= x < edges[i]. Repeated deciles (a mostly-zero count, say) are merged, so a feature
can have fewer than 10 bins. `numeric_shares` and `category_shares` bin new data the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from shared.model import FeatureSpec, FloatArray, category_codes

REFERENCE_FORMAT = 1
BINS = 10


def reference_statistics(
    train_features: pd.DataFrame, features: tuple[FeatureSpec, ...], test_scores: FloatArray
) -> dict[str, Any]:
    described: dict[str, Any] = {}
    for feature in features:
        column = train_features[feature.name]
        if feature.kind == "numeric":
            values = column.to_numpy(dtype=np.float64)
            edges = quantile_edges(values)
            shares, missing = numeric_shares(values, edges)
            described[feature.name] = {
                "kind": "numeric",
                "edges": edges,
                "shares": shares,
                "missing_share": missing,
            }
        else:
            shares_by_category, missing = category_shares(column, feature.categories or ())
            described[feature.name] = {
                "kind": "categorical",
                "shares": shares_by_category,
                "missing_share": missing,
            }
    score_edges = quantile_edges(test_scores)
    score_shares, _ = numeric_shares(test_scores, score_edges)
    return {
        "format": REFERENCE_FORMAT,
        "rows": len(train_features),
        "features": described,
        "score": {"rows": len(test_scores), "edges": score_edges, "shares": score_shares},
    }


def quantile_edges(values: FloatArray, bins: int = BINS) -> list[float]:
    # Infinities still land in the open outer bins, but must not become edges (JSON has none).
    present = values[np.isfinite(values)]
    if not len(present):
        return []
    # Observed values as edges ("higher", not interpolated): a count gets edges at its counts.
    inner = np.quantile(present, np.arange(1, bins) / bins, method="higher")
    return [float(edge) for edge in np.unique(inner)]


def numeric_shares(values: FloatArray, edges: list[float]) -> tuple[list[float], float]:
    """Share of all rows in each bin of `edges` (module docstring) and the missing share."""
    if not len(values):
        return [0.0] * (len(edges) + 1), 0.0
    missing = np.isnan(values)
    bins = np.searchsorted(np.asarray(edges, dtype=np.float64), values[~missing], side="right")
    counts = np.bincount(bins, minlength=len(edges) + 1)
    return [float(count) / len(values) for count in counts], float(missing.mean())


def category_shares(
    column: pd.Series, categories: tuple[str, ...]
) -> tuple[dict[str, float], float]:
    """Share of all rows per declared category, and the share missing or outside them."""
    if not len(column):
        return dict.fromkeys(categories, 0.0), 0.0
    codes = category_codes(column, categories)
    counts = np.bincount(codes[codes >= 0], minlength=len(categories))
    shares = {
        category: float(count) / len(column)
        for category, count in zip(categories, counts, strict=True)
    }
    return shares, float((codes < 0).mean())
