"""Score rows with a model stored as an ONNX graph (an XGBoost booster: `shared.onnx_export`).

    scorer = OnnxScorer(graph_bytes)
    scorer.outputs(matrix)   # float64: P(positive) per row, (rows, classes) probabilities, or
                             # the value per row: what XGBoost's `inplace_predict` gives

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

# The outputs as the converter names them: a classifier's label, then [P(class)…] per row; a
# regressor's value per row.
_PROBABILITIES: Final = "probabilities"
_VALUE: Final = "variable"


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
        names = {output.name for output in self._session.get_outputs()}
        self._output = _PROBABILITIES if _PROBABILITIES in names else _VALUE

    def outputs(self, matrix: npt.ArrayLike) -> npt.NDArray[np.float64]:
        rows = np.asarray(matrix, dtype=np.float32)
        [found] = self._session.run([self._output], {self._input: rows})
        if self._output == _VALUE:
            return np.asarray(found, dtype=np.float64).reshape(-1)
        probabilities = np.asarray(found, dtype=np.float64)
        return probabilities[:, 1] if probabilities.shape[1] == 2 else probabilities
