"""Score rows with a model stored as an ONNX graph (an XGBoost booster: `shared.onnx_export`).

    scorer = OnnxScorer(graph_bytes)
    scorer.scores(matrix)          # float64 probability of the positive class, one per row

One session per model version, one thread per call (requests run concurrently on the instance's
threads; onnxruntime allows concurrent `run` calls on one session).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

# The classifier's outputs as the converter names them: the label, then [P(0), P(1)] per row.
_PROBABILITIES: Final = "probabilities"


class OnnxScorer:
    def __init__(self, graph: bytes) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            graph, options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name

    def scores(self, matrix: npt.ArrayLike) -> npt.NDArray[np.float64]:
        rows = np.asarray(matrix, dtype=np.float32)
        [probabilities] = self._session.run([_PROBABILITIES], {self._input: rows})
        return np.asarray(probabilities[:, 1], dtype=np.float64)
