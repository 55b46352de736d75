"""The HTTP prediction path: request parsing, per-instance checks, fast scoring, logging.

Kept free of pandas and scikit-learn imports, so that a new instance answers its first request
quickly; see `functions/predict_rows.py`.
"""
