"""The training spec of the demo's loan-default data (cloudscore.demo_data)."""

from __future__ import annotations

from typing import Any

from cloudscore import demo_data
from shared.model import FeatureSpec
from shared.training.spec import Cost, TrainingSpec

_CATEGORIES: dict[str, tuple[str, ...]] = {
    "home_ownership": demo_data.HOME,
    "loan_purpose": demo_data.PURPOSES,
    "employment_type": demo_data.EMPLOYMENT,
    "region": demo_data.REGIONS,
    "application_channel": demo_data.CHANNELS,
}
DEMO_FEATURES: tuple[FeatureSpec, ...] = tuple(
    FeatureSpec(name, "categorical", _CATEGORIES[name])
    if name in _CATEGORIES
    else FeatureSpec(name, "numeric")
    for name in demo_data.FEATURE_COLUMNS
)
# Approving a loan that defaults loses about five times the margin a wrongly refused good
# applicant would have brought.
DEMO_COST = Cost(false_positive=1.0, false_negative=5.0)


def demo_training_spec(**overrides: Any) -> TrainingSpec:
    settings: dict[str, Any] = {
        "target": demo_data.LABEL_COLUMN,
        "features": DEMO_FEATURES,
        "positive_label": 1,
        "cost": DEMO_COST,
        "primary_metric": "roc_auc",
    }
    return TrainingSpec(**(settings | overrides))
