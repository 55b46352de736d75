"""An XGBoost booster as an ONNX graph, for the HTTP function to score with onnxruntime.

    scorer = booster_onnx(booster, rows)     # bytes, or None when the graph is not faithful

Why ONNX rather than XGBoost itself on the request path: `inplace_predict` spends ~150 µs on
the set-up of each call, most of a one-row request, and imports in ~1 s; onnxruntime scores the
same trees in ~10 µs for one row and ~0.2 ms for a hundred (bench/online, README). The graph is
made once, when a version is registered, and stored beside the booster (`booster.onnx`).

The conversion (onnxmltools) is checked before it is kept: the graph and the booster score probe
rows — every split condition of every feature and the float32 values either side of it, every
category, missing values — and the rows given; a graph whose scores differ from XGBoost's by
more than `TOLERANCE` anywhere is not kept (the HTTP function then scores with XGBoost).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Final

import numpy as np
import numpy.typing as npt

TOLERANCE: Final = 1e-6
PROBE_ROWS: Final = 512
_log = logging.getLogger(__name__)


def booster_onnx(booster: Any, rows: npt.ArrayLike | None = None) -> bytes | None:
    """The booster as ONNX bytes, held to XGBoost's scores on probe rows and `rows`; None (and
    a log line saying why) when it cannot be converted faithfully."""
    try:
        data = _converted(booster)
    except Exception as exc:  # the converter refuses what it does not know in many ways
        _log.warning("the booster is not converted to ONNX (%s): it is scored by XGBoost", exc)
        return None
    probes = probe_rows(booster)
    if rows is not None:
        probes = np.vstack([probes, np.asarray(rows, dtype=np.float32)])
    expected = np.asarray(booster.inplace_predict(probes), dtype=np.float64)
    from shared.serving.onnx_scorer import OnnxScorer

    found = OnnxScorer(data).outputs(probes)
    worst = float(np.max(np.abs(found - expected), initial=0.0))
    if not worst <= TOLERANCE:
        _log.warning(
            "the booster's ONNX graph differs from XGBoost by %.3g on probe rows: it is not "
            "kept, and the model is scored by XGBoost",
            worst,
        )
        return None
    return data


def _converted(booster: Any) -> bytes:
    from onnxmltools.convert import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    features = booster.num_features()
    # The converter reads features named f0, f1, …: a copy is renamed, the model is not.
    renamed = booster.copy()
    renamed.feature_names = [f"f{i}" for i in range(features)]
    graph = convert_xgboost(renamed, initial_types=[("rows", FloatTensorType([None, features]))])
    return bytes(graph.SerializeToString())


def probe_rows(booster: Any, count: int = PROBE_ROWS) -> npt.NDArray[np.float32]:
    """Rows whose values are drawn, feature by feature, from the split conditions it is
    compared with and the float32 values either side, every category its splits name and one
    beyond, 0 and missing."""
    features = booster.num_features()
    candidates: list[list[float]] = [[0.0, math.nan] for _ in range(features)]
    names = booster.feature_names or [f"f{i}" for i in range(features)]
    position = {name: i for i, name in enumerate(names)}
    trees = booster.trees_to_dataframe()
    splits = trees[trees["Feature"] != "Leaf"]
    categories_of = splits["Category"] if "Category" in splits else [None] * len(splits)
    for name, condition, categories in zip(
        splits["Feature"], splits["Split"], categories_of, strict=True
    ):
        at = position[name]
        if isinstance(categories, list | np.ndarray) and len(categories):
            known = [int(c) for c in categories]
            candidates[at] += [float(c) for c in range(max(known) + 2)]
        elif not math.isnan(condition):
            value = np.float32(condition)
            candidates[at] += [
                float(value),
                float(np.nextafter(value, np.float32(-np.inf))),
                float(np.nextafter(value, np.float32(np.inf))),
            ]
    rng = np.random.default_rng(0)
    rows = np.empty((count, features), dtype=np.float32)
    for feature, values in enumerate(candidates):
        column = np.asarray(values, dtype=np.float32)
        rows[:, feature] = rng.permutation(np.resize(column, count))
    return rows
