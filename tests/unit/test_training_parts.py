"""The parts of training on their own: metrics, bootstrap, threshold, calibration, split,
reference statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from shared.errors import DataError
from shared.training import Cost, bootstrap_metric_difference, category_shares, numeric_shares
from shared.training.calibration import choose_calibration
from shared.training.metrics import brier, log_loss, pr_auc, roc_auc
from shared.training.reference import quantile_edges
from shared.training.split import split_rows
from shared.training.threshold import choose_threshold, cut_points


def labelled(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True probabilities (rounded, so that scores tie) and labels drawn from them."""
    rng = np.random.default_rng(seed)
    p = np.round(rng.beta(1, 3, rows), 2)
    return (rng.random(rows) < p).astype(np.int8), p


def test_metrics_equal_scikit_learns_with_ties_and_weights() -> None:
    y, p = labelled(3000, seed=0)
    weights = np.random.default_rng(1).integers(0, 4, len(y)).astype(float)
    for w in (None, weights):
        assert roc_auc(y, p, w) == pytest.approx(sk.roc_auc_score(y, p, sample_weight=w))
        assert pr_auc(y, p, w) == pytest.approx(sk.average_precision_score(y, p, sample_weight=w))
        assert log_loss(y, p, w) == pytest.approx(sk.log_loss(y, p, sample_weight=w))
        assert brier(y, p, w) == pytest.approx(sk.brier_score_loss(y, p, sample_weight=w))


def test_bootstrap_interval_excludes_zero_for_a_clearly_better_model() -> None:
    y, p = labelled(2000, seed=2)
    noisy = np.clip(p + np.random.default_rng(3).normal(0, 0.3, len(p)), 0.001, 0.999)
    for metric in ("roc_auc", "log_loss"):
        mean, low, high = bootstrap_metric_difference(y, p, noisy, metric, rounds=300, seed=0)
        assert low <= mean <= high
        assert (low > 0) if metric == "roc_auc" else (high < 0)


def test_bootstrap_interval_includes_zero_for_identical_scores() -> None:
    y, p = labelled(1000, seed=4)
    assert bootstrap_metric_difference(y, p, p.copy(), "pr_auc", rounds=100, seed=0) == (0, 0, 0)


def test_bootstrap_of_expected_cost_compares_decisions() -> None:
    y, p = labelled(2000, seed=5)
    cost = Cost(false_positive=1, false_negative=5)
    # Flagging nobody costs 5 per positive; flagging the likely ones costs much less.
    mean, _, high = bootstrap_metric_difference(
        y, p, p, "expected_cost", rounds=200, seed=0, cost=cost, thresholds=(1 / 6, 2.0)
    )
    assert high < 0 and mean < 0


def brute_force_cost(y: np.ndarray, scores: np.ndarray, cost: Cost) -> float:
    cuts = [*np.unique(scores), np.inf]
    return min(
        float(
            np.where(
                scores >= cut,
                np.where(y == 1, cost.true_positive, cost.false_positive),
                np.where(y == 1, cost.false_negative, cost.true_negative),
            ).mean()
        )
        for cut in cuts
    )


@pytest.mark.parametrize("seed", range(5))
def test_threshold_is_the_brute_force_cost_minimiser(seed: int) -> None:
    y, p = labelled(400, seed=seed)
    cost = Cost(false_positive=1.0, false_negative=4.0, true_positive=-0.5, true_negative=0.1)
    threshold = choose_threshold(y, p, cost)
    flagged = p >= threshold
    chosen = np.where(
        flagged,
        np.where(y == 1, cost.true_positive, cost.false_positive),
        np.where(y == 1, cost.false_negative, cost.true_negative),
    ).mean()
    assert chosen == pytest.approx(brute_force_cost(y, p, cost), abs=1e-12)


def test_threshold_without_cost_maximises_f1() -> None:
    y, p = labelled(500, seed=9)
    threshold = choose_threshold(y, p, None)
    best = max(sk.f1_score(y, p >= cut) for cut in np.unique(p))
    assert sk.f1_score(y, p >= threshold) == pytest.approx(best)


def test_cut_points_cover_flag_none_to_flag_all() -> None:
    scores = np.array([0.9, 0.9, 0.5, 0.0])
    cuts = cut_points(np.array([1, 0, 1, 0]), scores)
    flagged = [int((scores >= t).sum()) for t in cuts.thresholds]
    assert flagged == [0, 2, 3, 4]
    assert list(cuts.true_positive) == [0, 1, 2, 2]


def test_calibration_is_chosen_for_distorted_scores_and_not_for_true_ones() -> None:
    y, p = labelled(4000, seed=6)
    honest = choose_calibration(y, p, seed=0)
    assert honest.calibrator is None
    assert honest.log_loss["none"] <= min(honest.log_loss["sigmoid"], honest.log_loss["isotonic"])
    distorted = choose_calibration(y, np.sqrt(p), seed=0)
    assert distorted.calibrator is not None
    assert distorted.log_loss[distorted.method] < distorted.log_loss["none"]
    assert log_loss(y, distorted.out_of_fold_scores) == distorted.log_loss[distorted.method]


def test_stratified_split_is_deterministic_disjoint_and_keeps_the_label_rate() -> None:
    y, _ = labelled(5000, seed=7)
    frame = pd.DataFrame({"y": y})
    split = split_rows(frame, y, seed=3, test_fraction=0.2, validation_fraction=0.25)
    again = split_rows(frame, y, seed=3, test_fraction=0.2, validation_fraction=0.25)
    other = split_rows(frame, y, seed=4, test_fraction=0.2, validation_fraction=0.25)
    assert np.array_equal(split.test, again.test)
    assert not np.array_equal(split.test, other.test)
    every = np.concatenate([split.train, split.validation, split.test])
    assert np.array_equal(np.sort(every), np.arange(len(y)))
    for part in (split.train, split.validation, split.test):
        assert abs(y[part].mean() - y.mean()) < 0.002
    assert split.counts() == {"train": 2750, "validation": 1250, "test": 1000}


def test_a_split_without_both_classes_is_refused() -> None:
    y = np.zeros(100, dtype=np.int8)
    y[:2] = 1
    with pytest.raises(DataError, match="the training split has 0 positive"):
        split_rows(pd.DataFrame({"y": y}), y, seed=0, test_fraction=0.34, validation_fraction=0.3)


def test_numeric_bins_are_deciles_with_open_outer_bins() -> None:
    values = np.concatenate([np.arange(1000, dtype=float), [np.nan] * 250])
    edges = quantile_edges(values)
    assert len(edges) == 9
    shares, missing = numeric_shares(values, edges)
    assert missing == 0.2
    assert shares == pytest.approx([0.08] * 10)
    beyond, _ = numeric_shares(np.array([-1e9, 1e9, edges[0]]), edges)
    assert beyond[0] == beyond[-1] == beyond[1] == pytest.approx(1 / 3)


def test_repeated_deciles_merge_into_fewer_bins() -> None:
    counts = np.array([0.0] * 700 + [1.0] * 200 + [2.0] * 100)
    edges = quantile_edges(counts)
    assert edges == [0.0, 1.0, 2.0]
    shares, _ = numeric_shares(counts, edges)
    assert shares == [0.0, 0.7, 0.2, 0.1]


def test_category_shares_count_unknown_as_missing() -> None:
    shares, missing = category_shares(pd.Series(["a", "b", "a", None, "zzz"]), ("a", "b", "c"))
    assert shares == {"a": 0.4, "b": 0.2, "c": 0.0}
    assert missing == pytest.approx(0.4)


def test_bootstrap_takes_boolean_labels_and_refuses_other_values() -> None:
    from shared.errors import UsageError

    y, p = labelled(500, seed=10)
    as_bool = bootstrap_metric_difference(y.astype(bool), p, p**2, "brier", rounds=50, seed=1)
    assert as_bool == bootstrap_metric_difference(y, p, p**2, "brier", rounds=50, seed=1)
    with pytest.raises(UsageError, match="0/1 or booleans"):
        bootstrap_metric_difference(y * 2, p, p, "roc_auc", rounds=10)
