"""The module functions-framework loads (`--source functions/main.py`); in a deployed archive the
same names are exposed by the `main.py` at its root."""

from functions.predict_rows import predict_rows
from functions.retrain_model import retrain_model
from functions.score_file import score_file

__all__ = ["predict_rows", "retrain_model", "score_file"]
