"""Score rows with a model stored as an ONNX graph (an XGBoost booster: `shared.onnx_export`).

    scorer = OnnxScorer(graph_bytes)
    scorer.scores(matrix)          # float64 probability of the positive class, one per row

One session per model version, one thread per call (requests run concurrently on the instance's
threads; onnxruntime allows concurrent `run` calls on one session).

A graph is loaded from its bytes, never from a path: an initializer that names a file to read its
values from (ONNX's external data) then has no folder to be read in, and onnxruntime refuses the
graph instead of reading a file of the instance's machine (a test holds it to that). cloudscore's
graphs hold all their data; any graph onnxruntime refuses is a `ModelFormatError`.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from shared.errors import ModelFormatError

# The classifier's outputs as the converter names them: the label, then [P(0), P(1)] per row.
_PROBABILITIES: Final = "probabilities"


class OnnxScorer:
    def __init__(self, graph: bytes) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self._session = onnxruntime.InferenceSession(
                graph, options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime's own exceptions derive from Exception alone
            raise ModelFormatError(f"the model's ONNX graph cannot be loaded: {exc}") from exc
        self._input = self._session.get_inputs()[0].name

    def scores(self, matrix: npt.ArrayLike) -> npt.NDArray[np.float64]:
        rows = np.asarray(matrix, dtype=np.float32)
        [probabilities] = self._session.run([_PROBABILITIES], {self._input: rows})
        return np.asarray(probabilities[:, 1], dtype=np.float64)
