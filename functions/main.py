"""The module functions-framework loads (`--source functions/main.py`); in a deployed archive the
same names are exposed by the `main.py` at its root.

The configuration is validated here, at start: a function with a missing or malformed setting
fails to start (and so to deploy) with the variable's name, instead of failing every call.
"""

from functions.predict_rows import predict_rows
from functions.retrain_model import retrain_model
from functions.score_file import score_file
from shared.config import BatchConfig, FunctionConfig, PredictConfig

FunctionConfig.from_env()
BatchConfig.from_env()
PredictConfig.from_env()

__all__ = ["predict_rows", "retrain_model", "score_file"]
