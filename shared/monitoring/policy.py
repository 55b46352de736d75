"""The decision of a check: retrain or not, and why, from the configuration's `[monitoring]`.

Retrain when any of these holds (each becomes one reason):
- the primary metric on the labelled window is worse than `metric_floor`;
- it is more than `max_metric_drop` worse than on the test split at training;
- at least `drift_min_features` features have a PSI at or above `drift_psi_threshold`;
- the champion is older than `max_model_age_days`;
- the check was forced.
Quality is only judged on `min_labelled_rows` labelled predictions or more; with fewer, drift and
age still decide, and a check that finds nothing else records "not enough labels".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.metric_table import higher_is_better, worse_by
from shared.monitoring.record import Decision
from shared.project_config import MonitoringPolicy


@dataclass(frozen=True)
class Verdict:
    retrain: bool
    decision: Decision  # HEALTHY or NOT_ENOUGH_LABELS when not retraining
    reasons: tuple[str, ...]  # why retrain; or, when not, what was found

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def metric_drop(metric: str, value: float, test_value: float) -> float:
    """How much worse `value` is than `test_value` (negative: better)."""
    return worse_by(metric, value, test_value)


def decide(
    policy: MonitoringPolicy,
    *,
    metric: str,
    values: Mapping[str, float],
    labelled_rows: int,
    quality_problem: str | None,
    test_value: float | None,
    drift: Mapping[str, Any],
    age_days: float,
    force: bool = False,
) -> Verdict:
    triggers: list[str] = []
    value = values.get(metric)
    judged = value is not None and not math.isnan(value)
    if judged:
        assert value is not None
        triggers.extend(_quality_triggers(policy, metric, value, labelled_rows, test_value))
    drifted: Sequence[str] = drift.get("drifted", [])
    if len(drifted) >= policy.drift_min_features:
        shown = ", ".join(drifted[:6]) + (", …" if len(drifted) > 6 else "")
        triggers.append(
            f"{len(drifted)} features drifted (PSI ≥ {policy.drift_psi_threshold:g}): {shown}; "
            f"{policy.drift_min_features} or more trigger a retrain"
        )
    if age_days > policy.max_model_age_days:
        triggers.append(
            f"the champion is {age_days:.0f} days old (at most {policy.max_model_age_days})"
        )
    if force:
        triggers.append("forced")
    if triggers:
        return Verdict(True, Decision.WOULD_RETRAIN, tuple(triggers))
    found = _findings(metric, value if judged else None, labelled_rows, test_value, drifted)
    if not judged:
        return Verdict(False, Decision.NOT_ENOUGH_LABELS, (quality_problem or "no labels", *found))
    return Verdict(False, Decision.HEALTHY, tuple(found))


def _quality_triggers(
    policy: MonitoringPolicy,
    metric: str,
    value: float,
    rows: int,
    test_value: float | None,
) -> list[str]:
    triggers = []
    higher = higher_is_better(metric)
    floor = policy.metric_floor
    if floor is not None and (value < floor if higher else value > floor):
        bound = "floor" if higher else "ceiling"
        triggers.append(
            f"{metric} {value:.4f} on {rows} labelled rows is past the {bound} {floor:g}"
        )
    if test_value is not None:
        drop = metric_drop(metric, value, test_value)
        if drop > policy.max_metric_drop:
            triggers.append(
                f"{metric} {value:.4f} on {rows} labelled rows is {drop:.4f} worse than at "
                f"training ({test_value:.4f}); at most {policy.max_metric_drop:g} allowed"
            )
    return triggers


def _findings(
    metric: str,
    value: float | None,
    rows: int,
    test_value: float | None,
    drifted: Sequence[str],
) -> list[str]:
    found = []
    if value is not None:
        at_training = f" ({test_value:.4f} at training)" if test_value is not None else ""
        found.append(f"{metric} {value:.4f} on {rows} labelled rows{at_training}")
    found.append(
        f"{len(drifted)} feature{'s' if len(drifted) != 1 else ''} drifted"
        + (f" ({', '.join(drifted[:6])})" if drifted else "")
    )
    return found
