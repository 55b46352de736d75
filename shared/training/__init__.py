"""Model training: split, time-bounded search over model families, calibration, a cost-based
threshold, evaluation on held-out data, a gate against the trivial baseline, and the reference
statistics drift detection compares against.

    outcome = train_model(frame, TrainingSpec(target=..., features=(FeatureSpec(...), ...)))
    outcome.model.predict_scores(new_rows)

Importing this package imports neither XGBoost nor scikit-learn; training does, when it runs.
"""

from shared.model import FeatureSpec, ScoringModel
from shared.training.evaluation import bootstrap_metric_difference, evaluate, score_metrics
from shared.training.gate import GateRefused, GateVerdict
from shared.training.pipeline import CandidateResult, TrainingOutcome, train_model
from shared.training.reference import category_shares, numeric_shares, reference_statistics
from shared.training.spec import Cost, TrainingSpec

__all__ = [
    "CandidateResult",
    "Cost",
    "FeatureSpec",
    "GateRefused",
    "GateVerdict",
    "ScoringModel",
    "TrainingOutcome",
    "TrainingSpec",
    "bootstrap_metric_difference",
    "category_shares",
    "evaluate",
    "numeric_shares",
    "reference_statistics",
    "score_metrics",
    "train_model",
]
