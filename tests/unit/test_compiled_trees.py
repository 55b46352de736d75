"""XGBoost trees compiled to NumPy arrays score exactly as `Booster.inplace_predict` does: on the
project's own models and on hand-made ones with every kind of split, value and model shape; a
model the compiler cannot reproduce is refused, and the predictor then scores with XGBoost."""

from __future__ import annotations

import ctypes
import functools
import json
import math
import sys
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import xgboost as xgb
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from shared.model import FeatureSpec, ScoringModel, feature_matrix
from shared.serving import leaf_bits
from shared.serving.compiled_trees import (
    _LIBM_EXPF,
    CompiledTrees,
    NotCompilable,
    _expf,
    sigmoid32,
)
from shared.serving.leaf_bits import MAX_BITS_NODES
from shared.serving.predictor import Predictor
from shared.training import train_model
from tests.unit.training_data import demo_frame, quick_demo_spec

Matrix = npt.NDArray[np.float32]
# What the compiled trees must match inplace_predict's probabilities to.
TOLERANCE = 1e-6


def assert_scores_match(booster: xgb.Booster, rows: Any) -> None:
    """Compiled probabilities within TOLERANCE of XGBoost's, margins to float32 rounding."""
    matrix = np.asarray(rows, dtype=np.float32)
    trees = compiled(booster)
    expected = booster.inplace_predict(matrix)
    got = trees.predict(matrix)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)
    margin = booster.inplace_predict(matrix, predict_type="margin")
    np.testing.assert_allclose(trees.margin(matrix), margin, rtol=1e-6, atol=1e-6)
    # One row at a time, given as Python numbers: the predictor's path for one-row requests,
    # through the bit masks (small models) or the arrays (large ones), the same to the bit.
    by_arrays = arrays_only(booster)
    for row, wanted, wanted_margin in list(zip(matrix.tolist(), expected, margin, strict=True))[
        :50
    ]:
        assert trees.predict_one(row) == pytest.approx(float(wanted), rel=0, abs=TOLERANCE)
        assert trees.margin_one(row) == pytest.approx(float(wanted_margin), rel=1e-6, abs=1e-6)
        assert _same_float(trees.margin_one(row), by_arrays.margin_one(row))
        assert _same_float(trees.predict_one(row), by_arrays.predict_one(row))


def _same_float(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def train(
    x: Matrix,
    y: Any,
    rounds: int = 20,
    feature_types: list[str] | None = None,
    **params: Any,
) -> xgb.Booster:
    data = xgb.DMatrix(x, y, feature_types=feature_types, enable_categorical=True)
    settings = {"objective": "binary:logistic", "tree_method": "hist", "seed": 0, "nthread": 1}
    chosen = {name: value for name, value in (settings | params).items() if value is not None}
    return xgb.train(chosen, data, num_boost_round=rounds)


def numeric_data(rows: int = 600, features: int = 5, missing: float = 0.2, seed: int = 0) -> Any:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype(np.float32)
    logit = x[:, 0] - 0.7 * x[:, 1] + 0.5 * x[:, 2] * x[:, 3]
    y = (logit + rng.normal(scale=0.5, size=rows) > 0).astype(np.float32)
    x[rng.random(x.shape) < missing] = np.nan
    return x, y


def categorical_data(rows: int = 800, seed: int = 1) -> Any:
    """Two numeric features, then categorical codes 0..7 and 0..2, with gaps."""
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [
            rng.normal(size=rows),
            rng.normal(size=rows),
            rng.integers(0, 8, rows),
            rng.integers(0, 3, rows),
        ]
    ).astype(np.float32)
    effect = np.array([1.5, -1.0, 0.2, 2.0, -2.0, 0.5, -0.3, 1.1])
    logit = x[:, 0] + effect[x[:, 2].astype(int)] - (x[:, 3] == 1)
    y = (logit + rng.normal(scale=0.5, size=rows) > 0.3).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = np.nan
    return x, y


CATEGORICAL_TYPES = ["q", "q", "c", "c"]


@functools.cache
def numeric_booster() -> xgb.Booster:
    x, y = numeric_data()
    return train(x, y, rounds=30, max_depth=4)


@functools.cache
def categorical_booster(one_hot: bool = False) -> xgb.Booster:
    x, y = categorical_data()
    return train(
        x,
        y,
        rounds=30,
        feature_types=CATEGORICAL_TYPES,
        max_depth=4,
        # 1: partition-based splits (several categories per split); 16: one-hot splits.
        max_cat_to_onehot=16 if one_hot else 1,
    )


@functools.cache
def compiled(booster: xgb.Booster) -> CompiledTrees:
    return CompiledTrees.of(booster)


def arrays_only(booster: xgb.Booster) -> CompiledTrees:
    """The same trees without the bit masks: one row goes through the arrays."""
    return CompiledTrees(json.loads(bytes(booster.save_raw("json"))), bits=False)


@functools.cache
def split_conditions(booster: xgb.Booster) -> dict[int, list[float]]:
    """Each numeric split's condition, by feature."""
    model = json.loads(bytes(booster.save_raw("json")))
    found: dict[int, list[float]] = {}
    for tree in model["learner"]["gradient_booster"]["model"]["trees"]:
        for node, left in enumerate(tree["left_children"]):
            if left != -1 and tree["split_type"][node] == 0:
                found.setdefault(tree["split_indices"][node], []).append(
                    tree["split_conditions"][node]
                )
    return found


# --- the project's own models -----------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_model() -> ScoringModel:
    spec = quick_demo_spec(candidates=("xgboost",), max_trials=1)
    return train_model(demo_frame(2500, seed=31), spec).model


@pytest.fixture(scope="module")
def demo_matrix(demo_model: ScoringModel) -> Matrix:
    # Drifted rows with gaps and unknown categories, encoded as the serving path encodes them.
    frame = demo_frame(400, seed=32)
    return feature_matrix(frame, demo_model.features)


def test_a_model_trained_by_the_pipeline_scores_the_same(
    demo_model: ScoringModel, demo_matrix: Matrix
) -> None:
    booster = demo_model.estimator
    assert CompiledTrees.of(booster).cat_nodes.size > 0  # it has categorical splits
    assert np.isnan(demo_matrix).any()

    assert_scores_match(booster, demo_matrix)
    assert_scores_match(booster, demo_matrix[:1])
    for row in demo_matrix[:20]:
        assert_scores_match(booster, row[None, :])


@pytest.mark.parametrize("bits", [True, False], ids=["bit masks", "arrays"])
def test_the_margin_is_added_up_as_xgboost_adds_it(
    demo_model: ScoringModel, demo_matrix: Matrix, bits: bool
) -> None:
    # float32, the base margin then one tree after another: not merely close, the same bits.
    booster = demo_model.estimator
    trees = CompiledTrees.of(booster) if bits else arrays_only(booster)
    assert (trees.bits is not None) is bits

    margin = trees.margin(demo_matrix)

    np.testing.assert_array_equal(
        margin, booster.inplace_predict(demo_matrix, predict_type="margin")
    )
    np.testing.assert_array_equal(trees.margin(demo_matrix[:1]), margin[:1])
    ones = [trees.margin_one(row) for row in demo_matrix.astype(np.float64).tolist()]
    np.testing.assert_array_equal(np.array(ones, dtype=np.float32), margin)


@pytest.mark.skipif(sys.platform != "linux", reason="XGBoost's expf is glibc's here")
@pytest.mark.parametrize("bits", [True, False], ids=["bit masks", "arrays"])
def test_scores_are_xgboosts_to_the_bit_with_the_c_librarys_expf(
    demo_model: ScoringModel, demo_matrix: Matrix, bits: bool
) -> None:
    # XGBoost's sigmoid calls expf: exp in float64 rounded to float32 differs from it now and
    # then, by one unit in the last place.
    booster = demo_model.estimator
    trees = CompiledTrees.of(booster) if bits else arrays_only(booster)
    expected = booster.inplace_predict(demo_matrix)

    np.testing.assert_array_equal(trees.predict(demo_matrix), expected)
    ones = [trees.predict_one(row) for row in demo_matrix.astype(np.float64).tolist()]
    np.testing.assert_array_equal(np.array(ones, dtype=np.float32), expected)


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's expf")
def test_the_c_librarys_expf_is_called_with_the_gil_held() -> None:
    # A CDLL function releases the GIL for each call, and so wakes the worker's other request
    # threads in the middle of every one-row request.
    assert _LIBM_EXPF is not None
    assert type(_LIBM_EXPF)._flags_ & ctypes._FUNCFLAG_PYTHONAPI  # type: ignore[attr-defined]


def test_the_predictor_serves_the_compiled_trees_for_a_few_rows_and_xgboost_for_many(
    demo_model: ScoringModel, demo_matrix: Matrix
) -> None:
    counting = _CountingBooster(demo_model.estimator)
    model = ScoringModel(
        family="xgboost",
        features=demo_model.features,
        estimator=counting,
        calibrator=demo_model.calibrator,
    )
    predictor = Predictor.of(model)
    counting.calls = 0  # compiling checked the trees against XGBoost on probe rows
    assert predictor.compiled_trees is not None and 3 < predictor.compiled_max_rows < 300
    rows = demo_matrix.astype(np.float64).tolist()

    few = predictor.scores(rows[:3])
    one = predictor.scores(rows[:1])
    assert counting.calls == 0
    many = predictor.scores(rows * 300)
    assert counting.calls == 1

    np.testing.assert_allclose(few, many[:3], rtol=0, atol=TOLERANCE)
    np.testing.assert_array_equal(one, few[:1])
    batch_path = demo_model.predict_scores(demo_frame(400, seed=32))
    np.testing.assert_allclose(few, batch_path[:3], rtol=1e-6, atol=1e-9)


class _CountingBooster:
    def __init__(self, booster: xgb.Booster) -> None:
        self.booster = booster
        self.calls = 0

    def save_raw(self, raw_format: str) -> bytearray:
        return self.booster.save_raw(raw_format)

    def inplace_predict(self, data: Any, **options: Any) -> Any:
        self.calls += 1
        return self.booster.inplace_predict(data, **options)


# --- hand-made models: splits, values, shapes ----------------------------------------------------


def test_missing_values_take_each_splits_default_direction() -> None:
    booster = numeric_booster()
    model = json.loads(bytes(booster.save_raw("json")))
    defaults = {
        bool(d)
        for tree in model["learner"]["gradient_booster"]["model"]["trees"]
        for node, d in enumerate(tree["default_left"])
        if tree["left_children"][node] != -1
    }
    assert defaults == {True, False}  # both directions are exercised
    x, _ = numeric_data(seed=5, missing=0.0)
    rows = np.repeat(x[:40], 6, axis=0)
    for feature in range(5):  # each feature missing alone, then all of them
        rows[feature * 40 : (feature + 1) * 40, feature] = np.nan
    rows[200:, :] = np.nan

    assert_scores_match(booster, rows)
    assert_scores_match(booster, rows[-1:])


def test_values_at_on_and_around_each_split_condition() -> None:
    booster = numeric_booster()
    x, _ = numeric_data(seed=6, missing=0.0)
    rows = []
    for feature, conditions in split_conditions(booster).items():
        for condition in conditions:
            at = np.float32(condition)
            for value in (at, np.nextafter(at, np.float32(-np.inf)), np.nextafter(at, np.inf)):
                row = x[len(rows) % len(x)].copy()
                row[feature] = value
                rows.append(row)

    assert_scores_match(booster, np.array(rows))


def test_float64_values_are_rounded_to_float32_as_xgboost_rounds_them() -> None:
    # A float64 just below a condition may round up to it in float32 and so go right: both
    # the compiled trees and XGBoost compare float32(value) < condition.
    booster = numeric_booster()
    x, _ = numeric_data(seed=7, missing=0.0)
    rows = []
    for feature, conditions in split_conditions(booster).items():
        for condition in conditions:
            at = np.float32(condition)
            below = float(at) - abs(float(np.spacing(at))) / 4
            assert np.float32(below) == at and below < float(at)
            row = x[len(rows) % len(x)].astype(np.float64)
            row[feature] = below
            rows.append(row)
    matrix = np.array(rows, dtype=np.float64)
    model = ScoringModel(
        family="xgboost",
        features=tuple(FeatureSpec(f"x{i}", "numeric") for i in range(5)),
        estimator=booster,
    )

    served = Predictor.of(model).scores(matrix.tolist())

    np.testing.assert_allclose(served, booster.inplace_predict(matrix), rtol=0, atol=TOLERANCE)


def test_extreme_values() -> None:
    booster = numeric_booster()
    big = np.finfo(np.float32).max
    values = [np.inf, -np.inf, big, -big, 1e30, -1e30, 0.0, -0.0, 1e-45, np.nan]
    rows = np.array([[v] * 5 for v in values] + [[v, -v, v, -v, v] for v in values])

    assert_scores_match(booster, rows.astype(np.float32))


@pytest.mark.parametrize("one_hot", [False, True], ids=["partition", "one-hot"])
def test_categorical_splits_send_their_categories_right(one_hot: bool) -> None:
    booster = categorical_booster(one_hot)
    trees = CompiledTrees.of(booster)
    assert trees.cat_nodes.size > 0
    x, _ = categorical_data(seed=8)

    assert_scores_match(booster, x)
    assert_scores_match(booster, x[:1])


@pytest.mark.parametrize(
    "value",
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1000, 2.0**24, 2.0**31, 1e30, np.inf, -np.inf, np.nan,
     -1, -0.5, -0.0, 1e-30, 0.5, 2.5, 3.999, 7.5, 8.5],
)  # fmt: skip
def test_categorical_values_of_every_kind(value: float) -> None:
    # Categories, missing, negative, non-integer (truncated), beyond every category, infinite.
    for booster in (categorical_booster(False), categorical_booster(True)):
        x, _ = categorical_data(seed=9)
        rows = x[:30].copy()
        rows[:, 2] = value
        rows[10:20, 3] = value

        assert_scores_match(booster, rows)
        assert_scores_match(booster, rows[:1])


def test_that_a_categorical_split_sends_its_categories_right() -> None:
    # Read off a one-split model rather than assumed: the categories a split lists go right.
    x, y = categorical_data()
    booster = train(
        x[:, 2:3], y, rounds=1, feature_types=["c"], max_depth=1, max_cat_to_onehot=1,
        base_score=0.5, learning_rate=1.0,
    )  # fmt: skip
    tree = json.loads(bytes(booster.save_raw("json")))["learner"]["gradient_booster"]["model"][
        "trees"
    ][0]
    listed = set(tree["categories"])
    right_leaf = tree["split_conditions"][tree["right_children"][0]]
    left_leaf = tree["split_conditions"][tree["left_children"][0]]
    assert left_leaf != right_leaf
    for category in range(8):
        expected = right_leaf if category in listed else left_leaf
        margin = booster.inplace_predict(np.array([[category]], np.float32), predict_type="margin")
        assert margin[0] == pytest.approx(expected, abs=1e-6)
        assert CompiledTrees.of(booster).margin([[category]])[0] == margin[0]


@pytest.mark.parametrize("base_score", [1e-9, 1e-7, 1e-6, 3e-6, 0.999999, 0.9999999])
def test_an_extreme_base_score_gives_xgboosts_margins_to_the_bit(base_score: float) -> None:
    # XGBoost takes the logit of a base score kept within [1e-6, 1 - 1e-6].
    x, y = numeric_data(rows=600, missing=0.1, seed=3)
    booster = train(x, y, rounds=10, max_depth=3, base_score=base_score)
    test_x, _ = numeric_data(rows=100, missing=0.1, seed=4)

    trees = CompiledTrees.of(booster)

    margins = booster.inplace_predict(test_x, predict_type="margin")
    np.testing.assert_array_equal(trees.margin(test_x), margins)
    ones = [trees.margin_one(row) for row in test_x.astype(np.float64).tolist()]
    np.testing.assert_array_equal(np.array(ones, dtype=np.float32), margins)


def test_trees_whose_margins_differ_from_xgboosts_by_an_ulp_are_not_compiled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shared.serving import compiled_trees

    x, y = numeric_data(rows=600, missing=0.1, seed=3)
    booster = train(x, y, rounds=10, max_depth=3, base_score=0.3)
    exact = compiled_trees._base_margin

    def an_ulp_off(base_score: float, transform: str) -> np.float32:
        return np.nextafter(exact(base_score, transform), np.float32(np.inf))

    monkeypatch.setattr(compiled_trees, "_base_margin", an_ulp_off)
    with pytest.raises(NotCompilable, match="margins differ"):
        CompiledTrees.of(booster)


@pytest.mark.parametrize(
    "params",
    [
        {"max_depth": 1},  # stumps
        {"max_depth": 12, "min_child_weight": 0.0, "reg_lambda": 0.0},  # deep trees
        {"max_depth": 6, "rounds": 1},  # a single tree
        {"max_depth": 3, "base_score": 0.2},
        {"max_depth": 3, "base_score": 0.93, "rounds": 3},
        {"max_depth": 3, "objective": "reg:logistic"},
        {"max_depth": 3, "objective": "binary:logitraw"},
        {"max_depth": 3, "objective": "binary:logitraw", "base_score": 0.3},
        {"max_depth": 4, "num_parallel_tree": 3, "subsample": 0.8, "colsample_bynode": 0.7},
        {"max_depth": 0, "grow_policy": "lossguide", "max_leaves": 24},
    ],
    ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()),
)
def test_model_shapes(params: dict[str, Any]) -> None:
    x, y = numeric_data(rows=1500, missing=0.1, seed=3)
    rounds = params.pop("rounds", 25)
    booster = train(x, y, rounds=rounds, **params)
    test_x, _ = numeric_data(rows=300, missing=0.1, seed=4)

    assert_scores_match(booster, test_x)
    assert_scores_match(booster, test_x[:1])
    assert_scores_match(booster, test_x[:7])
    trees = CompiledTrees.of(booster)
    assert trees.n_trees == rounds * params.get("num_parallel_tree", 1)
    assert trees.depth >= min(params["max_depth"] or 5, 8)


@pytest.mark.parametrize(
    ("rounds", "params", "lane_bits"),
    [
        # More than 256 lanes: lanes of 32 bits.
        (300, {"max_depth": 1}, 32),
        # Many lanes a tree.
        (12, {"max_depth": 8, "min_child_weight": 0.0, "reg_lambda": 0.0}, 16),
        # 9 leaves: the last in a second lane.
        (30, {"max_depth": 0, "grow_policy": "lossguide", "max_leaves": 9}, 16),
    ],
    ids=["many trees", "deep trees", "a leaf past one lane"],
)
def test_the_bit_masks_score_ensembles_of_every_size_as_xgboost(
    rounds: int, params: dict[str, Any], lane_bits: int
) -> None:
    x, y = numeric_data(rows=2000, missing=0.1, seed=12)
    booster = train(x, y, rounds=rounds, **params)
    trees = CompiledTrees.of(booster)

    assert trees.bits is not None and trees.bits.lane_bits == lane_bits
    test_x, _ = numeric_data(rows=300, missing=0.1, seed=13)
    margins = booster.inplace_predict(test_x, predict_type="margin")
    ones = [trees.margin_one(row) for row in test_x.astype(np.float64).tolist()]
    np.testing.assert_array_equal(np.array(ones, dtype=np.float32), margins)
    assert_scores_match(booster, test_x)


def test_an_ensemble_whose_masks_would_be_too_large_scores_one_row_through_the_arrays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    booster = numeric_booster()
    size = CompiledTrees.of(booster).bits
    assert size is not None
    monkeypatch.setattr(leaf_bits, "MAX_MASK_BYTES", size.mask_bytes - 1)
    trees = CompiledTrees.of(booster)

    assert trees.bits is None
    x, _ = numeric_data(rows=50, seed=5)
    assert_scores_match(booster, x[:5])


def test_a_categorical_input_of_many_categories_split_often_scores_one_row_through_the_arrays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    booster = categorical_booster()
    monkeypatch.setattr(leaf_bits, "MAX_CATEGORY_STEPS", 0)
    trees = CompiledTrees.of(booster)

    assert trees.bits is None
    x, _ = categorical_data(rows=50, seed=5)
    assert_scores_match(booster, x[:5])


def test_an_ensemble_of_many_nodes_has_no_bit_masks_however_few_its_trees() -> None:
    # Its masks would take seconds to build when the model loads.
    x, y = numeric_data(rows=3000, missing=0.0, seed=6)
    booster = train(x, y, rounds=20, max_depth=10, min_child_weight=0.0, reg_lambda=0.0)
    trees = CompiledTrees.of(booster)

    assert trees.n_nodes > MAX_BITS_NODES
    assert trees.bits is None
    assert_scores_match(booster, x[:5])


def test_many_rows_are_scored_in_blocks() -> None:
    booster = categorical_booster()
    x, _ = categorical_data(rows=3000, seed=10)

    assert_scores_match(booster, x)


def test_an_early_stopped_booster_scores_every_tree_as_inplace_predict_does() -> None:
    x, y = numeric_data(rows=1000, seed=11)
    train_set = xgb.DMatrix(x[:700], y[:700])
    valid = xgb.DMatrix(x[700:], y[700:])
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 5, "eta": 0.8},
        train_set,
        200,
        evals=[(valid, "v")],
        early_stopping_rounds=3,
        verbose_eval=False,
    )
    assert booster.best_iteration + 1 < booster.num_boosted_rounds()

    assert_scores_match(booster, x[700:])


@functools.cache
def probe_values(booster: xgb.Booster) -> st.SearchStrategy[float]:
    """Random values, NaN, infinities, category-like values, and each split condition with the
    float32 values either side of it."""
    near = sorted(
        {
            float(v)
            for found in split_conditions(booster).values()
            for c in found
            for at in [np.float32(c)]
            for v in (at, np.nextafter(at, np.float32(-np.inf)), np.nextafter(at, np.inf))
        }
    )
    special = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, 3.0, 7.0, 8.0, -1.0, 2.5, 2.0**100]
    return st.one_of(st.floats(-10, 10, width=32), st.sampled_from(special), st.sampled_from(near))


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_random_matrices_score_the_same(data: st.DataObject) -> None:
    for booster in (numeric_booster(), categorical_booster(False), categorical_booster(True)):
        rows = data.draw(st.integers(1, 40))
        shape = (rows, booster.num_features())
        matrix = data.draw(hnp.arrays(np.float32, shape, elements=probe_values(booster)))
        assert_scores_match(booster, matrix)


# --- refused models, and the predictor's fallback -------------------------------------------------


def _refused_boosters() -> dict[str, xgb.Booster]:
    x, y = numeric_data(rows=300)
    three = np.arange(300) % 3
    two_labels = np.column_stack([y, 1 - y])
    return {
        "gblinear": train(x, y, rounds=3, booster="gblinear", tree_method=None),
        "dart": train(x, y, rounds=5, booster="dart", rate_drop=0.3, max_depth=2),
        "multi:softprob": train(x, three, rounds=3, objective="multi:softprob", num_class=3),
        "multi-output": train(x, two_labels, rounds=3, max_depth=2),
        "reg:squarederror": train(x, y, rounds=3, objective="reg:squarederror"),
        "vector leaves": train(
            x, two_labels, rounds=3, max_depth=2, multi_strategy="multi_output_tree"
        ),
    }


@pytest.fixture(scope="module")
def refused() -> dict[str, xgb.Booster]:
    return _refused_boosters()


@pytest.mark.parametrize(
    "kind",
    ["gblinear", "dart", "multi:softprob", "multi-output", "reg:squarederror", "vector leaves"],
)
def test_models_the_compiler_cannot_reproduce_are_refused(
    refused: dict[str, xgb.Booster], kind: str
) -> None:
    with pytest.raises(NotCompilable):
        CompiledTrees.of(refused[kind])


def edited(booster: xgb.Booster, edit: Any) -> dict[str, Any]:
    model: dict[str, Any] = json.loads(bytes(booster.save_raw("json")))
    edit(model["learner"]["gradient_booster"]["model"]["trees"][0])
    return model


def test_hand_edited_trees_it_cannot_be_sure_of_are_refused() -> None:
    booster = numeric_booster()

    def infinite_condition(tree: dict[str, Any]) -> None:
        tree["split_conditions"][0] = float("-inf")

    def swapped_children(tree: dict[str, Any]) -> None:
        tree["left_children"][0], tree["right_children"][0] = (
            tree["right_children"][0],
            tree["left_children"][0],
        )

    def cycle(tree: dict[str, Any]) -> None:
        tree["left_children"][1], tree["right_children"][1] = 0, 1

    def unknown_feature(tree: dict[str, Any]) -> None:
        tree["split_indices"][0] = 99

    for edit in (infinite_condition, swapped_children, cycle, unknown_feature):
        with pytest.raises(NotCompilable):
            CompiledTrees(edited(booster, edit))


def test_a_refused_model_is_scored_by_xgboost(refused: dict[str, xgb.Booster]) -> None:
    x, _ = numeric_data(rows=50, seed=12)
    for kind in ("dart", "reg:squarederror"):
        booster = refused[kind]
        model = ScoringModel(
            family="xgboost",
            features=tuple(FeatureSpec(f"x{i}", "numeric") for i in range(5)),
            estimator=booster,
        )
        predictor = Predictor.of(model)
        assert predictor.compiled_trees is None

        scores = predictor.scores(x.astype(np.float64).tolist())

        np.testing.assert_allclose(scores, booster.inplace_predict(x), rtol=0, atol=0)


def test_a_compiled_model_that_disagrees_with_xgboost_on_probe_rows_is_refused() -> None:
    class Drifted(_CountingBooster):
        def inplace_predict(self, data: Any, **options: Any) -> Any:
            scores = self.booster.inplace_predict(data, **options)
            scores[-1] += 1e-5  # as if XGBoost's semantics had moved for one kind of value
            return scores

    with pytest.raises(NotCompilable, match="probe rows"):
        CompiledTrees.of(Drifted(numeric_booster()))
    probes = compiled(categorical_booster()).probe_rows()
    assert np.isnan(probes).any() and np.isinf(probes).any()
    assert {0.0, 1.0, 7.0, 8.0, -0.5} <= set(probes[:, 2].tolist())


def test_a_model_the_compiler_fails_on_is_scored_by_xgboost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(booster: Any) -> CompiledTrees:
        raise KeyError("something the compiler did not expect")

    monkeypatch.setattr(CompiledTrees, "of", broken)
    booster = numeric_booster()
    model = ScoringModel(
        family="xgboost",
        features=tuple(FeatureSpec(f"x{i}", "numeric") for i in range(5)),
        estimator=booster,
    )
    x, _ = numeric_data(rows=5, seed=13)

    predictor = Predictor.of(model)

    assert predictor.compiled_trees is None
    np.testing.assert_array_equal(predictor.scores(x.tolist()), booster.inplace_predict(x))


def test_no_rows_give_no_scores() -> None:
    assert compiled(numeric_booster()).predict(np.empty((0, 5), np.float32)).shape == (0,)


def test_rows_of_the_wrong_width_are_refused() -> None:
    trees = CompiledTrees.of(numeric_booster())
    with pytest.raises(ValueError, match="5 features"):
        trees.predict(np.zeros((2, 4), np.float32))


def test_the_sigmoid_of_one_margin_is_numpys_float32_sigmoid_to_the_bit() -> None:
    # The one-row path computes it in doubles rounded to float32 after each operation.
    rng = np.random.default_rng(12)
    edges = [0.0, -0.0, 1e-30, -1e-30, 1e-8, 16.11, -16.11, 88.7, 88.8, 89.0, 104.0, 1e5, 3.4e38]
    margins = np.concatenate(
        [
            np.array(edges + [-m for m in edges], dtype=np.float32),
            rng.uniform(-30, 30, 20_000).astype(np.float32),
            rng.uniform(-120, 120, 5_000).astype(np.float32),
        ]
    )
    one = np.float32(1.0)

    for margin in margins.tolist():
        # The same expf (the C library's), then NumPy's float32 addition and division.
        expected = float(one / (np.float32(_expf(-margin)) + one))
        assert sigmoid32(margin) == expected, margin
