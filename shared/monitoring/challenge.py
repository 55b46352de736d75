"""Retrain, then let the challenger replace the champion only if it is really better.

    training.source (recent window) ─► train_and_register (contract, search, baseline gate)
        ─► a new immutable version ─► champion and challenger scored on the challenger's test
        split (fresh rows neither trained on) ─► paired bootstrap of the primary metric's
        difference ─► the interval clears the margin: champion; otherwise: challenger alias

A crash anywhere leaves the registry consistent: a version is visible only once complete, and
the champion moves last, on the generation the check read at its start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from shared.errors import AliasConflict, DataError, UsageError
from shared.metric_table import higher_is_better
from shared.monitoring.record import Decision
from shared.project_config import ProjectConfig
from shared.registration import train_and_register
from shared.sources import read_source
from shared.timestamps import utc_moments
from shared.training import GateRefused
from shared.training.evaluation import (
    bootstrap_difference,
    bootstrap_metric_difference,
    score_metrics,
)
from shared.training.labels import binary_target, label_texts, value_target
from shared.training.task_metrics import output_metrics
from shared.values import BLANKS

if TYPE_CHECKING:
    from google.cloud import bigquery, storage

    from shared.audit import AuditLog
    from shared.registry import AliasPointer, ModelRegistry, ModelVersion


@dataclass(frozen=True)
class ChallengeOutcome:
    decision: Decision
    reason: str
    challenger_version: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)  # the `challenger_metrics` column
    promoted: bool = False


@dataclass(frozen=True)
class Comparison:
    metric: str
    margin: float
    champion: dict[str, float]
    challenger: dict[str, float]
    mean: float
    low: float
    high: float
    rows: int

    @property
    def challenger_wins(self) -> bool:
        """The whole 95% interval of (challenger - champion) is better by more than the margin."""
        if higher_is_better(self.metric):
            return self.low > self.margin
        return self.high < -self.margin

    def record(self, version: str) -> dict[str, Any]:
        return {
            "version": version,
            "holdout_rows": self.rows,
            "primary_metric": self.metric,
            "margin": self.margin,
            "champion": self.champion,
            "challenger": self.challenger,
            "difference": {"mean": self.mean, "low": self.low, "high": self.high},
        }

    def verdict(self) -> str:
        interval = f"[{self.low:+.4f}, {self.high:+.4f}]"
        a, b = self.challenger[self.metric], self.champion[self.metric]
        said = (
            f"on the same {self.rows} fresh holdout rows the challenger's {self.metric} is "
            f"{a:.4f} against the champion's {b:.4f}; the 95% interval of the difference is "
            f"{interval}"
        )
        if self.challenger_wins:
            return f"{said}, clear of the margin {self.margin:g}"
        return f"{said}, which does not clear the margin {self.margin:g}: not better enough"


def recent_rows(frame: pd.DataFrame, config: ProjectConfig) -> pd.DataFrame:
    """The source's last `training_window_days` by the time column (all rows when unset)."""
    days = config.monitoring.training_window_days
    if days is None or config.time_column is None:
        return frame
    if config.time_column not in frame.columns:
        raise DataError(
            f"training.source has no {config.time_column!r} column (model.time_column) to take "
            f"the last {days} days by"
        )
    times = _moments(frame[config.time_column])
    if times.isna().all():
        raise DataError(f"training.source: no {config.time_column!r} value reads as a time")
    recent: pd.DataFrame = frame[times >= times.max() - timedelta(days=days)]
    return recent


def compare(
    holdout: pd.DataFrame, champion: Any, challenger: Any, config: ProjectConfig
) -> Comparison:
    """Both models on the same rows: their metrics and the paired bootstrap of the difference."""
    if config.task != "binary_classification":
        return _compare_outputs(holdout, champion, challenger, config)
    y = binary_target(holdout, config.target, config.positive_label)
    cost = config.cost
    champion_scores = champion.predict_scores(holdout)
    challenger_scores = challenger.predict_scores(holdout)
    metric = config.promotion_metric
    mean, low, high = bootstrap_metric_difference(
        y,
        challenger_scores,
        champion_scores,
        metric,
        rounds=config.monitoring.bootstrap_rounds,
        seed=config.seed,
        cost=cost,
        thresholds=(challenger.threshold, champion.threshold),
    )
    return Comparison(
        metric=metric,
        margin=config.monitoring.promotion_margin,
        champion=_rounded(score_metrics(y, champion_scores, champion.threshold, cost)),
        challenger=_rounded(score_metrics(y, challenger_scores, challenger.threshold, cost)),
        mean=round(mean, 6),
        low=round(low, 6),
        high=round(high, 6),
        rows=len(y),
    )


def _compare_outputs(
    holdout: pd.DataFrame, champion: Any, challenger: Any, config: ProjectConfig
) -> Comparison:
    """`compare` for multiclass and regression models, on their outputs
    (`shared.training.task_metrics`)."""
    metric = config.promotion_metric
    champion_outputs = champion.predict_outputs(holdout)
    challenger_outputs = challenger.predict_outputs(holdout)
    classes: tuple[str, ...] = ()
    if config.task == "regression":
        y: npt.NDArray[Any] = value_target(holdout, config.target)
    else:
        y, classes = _class_indices(holdout, config.target, champion.classes, challenger.classes)
        champion_outputs = _aligned(champion_outputs, champion.classes, classes)
        challenger_outputs = _aligned(challenger_outputs, challenger.classes, classes)
    mean, low, high = bootstrap_difference(
        config.task,
        y,
        challenger_outputs,
        champion_outputs,
        metric,
        rounds=config.monitoring.bootstrap_rounds,
        seed=config.seed,
    )
    return Comparison(
        metric=metric,
        margin=config.monitoring.promotion_margin,
        champion=_rounded(output_metrics(config.task, y, champion_outputs, classes=classes)),
        challenger=_rounded(output_metrics(config.task, y, challenger_outputs, classes=classes)),
        mean=round(mean, 6),
        low=round(low, 6),
        high=round(high, 6),
        rows=len(y),
    )


def _class_indices(
    frame: pd.DataFrame, target: str, *model_classes: tuple[str, ...]
) -> tuple[npt.NDArray[np.intp], tuple[str, ...]]:
    """Each row's class index among every class either model knows or a label names (a class
    a model does not know gets probability 0 from it), and those classes."""
    texts = label_texts(frame, target)
    missing = int((texts == "").sum())
    if missing:
        raise DataError(f"target column {target!r} has {missing} missing value(s)")
    known = [name for classes in model_classes for name in classes]
    classes = tuple(dict.fromkeys([*known, *(str(v) for v in pd.unique(texts))]))
    index = pd.Index(classes).get_indexer(pd.Index(texts))
    return np.asarray(index, dtype=np.intp), classes


def _aligned(
    probabilities: npt.NDArray[np.float64], own: tuple[str, ...], classes: tuple[str, ...]
) -> npt.NDArray[np.float64]:
    """A model's probabilities with one column per class of `classes` (0 for a class it does
    not know)."""
    aligned = np.zeros((len(probabilities), len(classes)), dtype=np.float64)
    aligned[:, [classes.index(name) for name in own]] = probabilities
    return aligned


def challenge(
    champion: ModelVersion,
    pointer: AliasPointer,
    config: ProjectConfig,
    *,
    registry: ModelRegistry,
    audit: AuditLog,
    storage_client: storage.Client,
    bigquery_client: bigquery.Client,
    actor: str,
    why: str,
) -> ChallengeOutcome:
    if config.training_source is None:
        raise UsageError(
            f"{config.where('training.source')} is not set: a retrain needs labelled data to "
            "train on (a bq:// table or query, or a gs:// file)"
        )
    frame, source = read_source(config.training_source, storage_client, bigquery_client)
    frame = recent_rows(frame, config)
    try:
        trained = train_and_register(
            frame, source, config, registry, None, promote=False, actor=actor
        )
    except GateRefused as refused:
        metrics: dict[str, Any] = {"refused": str(refused)}
        if refused.outcome is not None:
            metrics["test"] = refused.outcome.test_metrics
            metrics["baseline"] = refused.outcome.baseline_metrics
        return ChallengeOutcome(Decision.CHALLENGER_REFUSED, f"{why}. {refused}", None, metrics)
    comparison = compare(trained.holdout, champion.model, trained.outcome.model, config)
    record = comparison.record(trained.version)
    reason = f"{why}. Retrained {trained.version}: {comparison.verdict()}"
    if comparison.challenger_wins:
        try:
            move = registry.move_alias(
                "champion", trained.version, actor=actor, reason=reason, expected=pointer
            )
        except AliasConflict as conflict:
            kept = f"{reason}; but {conflict}"
            _move_challenger(registry, audit, trained.version, actor, kept)
            return ChallengeOutcome(Decision.KEPT_CHAMPION, kept, trained.version, record)
        audit.record(move)
        return ChallengeOutcome(Decision.PROMOTED, reason, trained.version, record, promoted=True)
    _move_challenger(registry, audit, trained.version, actor, reason)
    return ChallengeOutcome(Decision.KEPT_CHAMPION, reason, trained.version, record)


def _move_challenger(
    registry: ModelRegistry, audit: AuditLog, version: str, actor: str, reason: str
) -> None:
    current = registry.alias("challenger")
    move = registry.move_alias(
        "challenger", version, actor=actor, reason=reason, expected=current,
        create_only=current is None,
    )  # fmt: skip
    audit.record(move)


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {name: round(float(v), 6) for name, v in values.items() if np.isfinite(v)}


def _moments(column: pd.Series) -> pd.Series:
    """A time column as UTC moments (NaT where none): text by the contract's timestamp grammar
    (`shared.timestamps`), as scoring reads it; typed times as they are."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return pd.to_datetime(column, utc=True)
    if pd.api.types.is_numeric_dtype(column.dtype):
        return pd.to_datetime(column, errors="coerce", utc=True)
    texts = [None if pd.isna(v) else str(v).strip(BLANKS) for v in column.to_numpy(dtype=object)]
    return utc_moments(pa.array(texts, pa.large_string())).set_axis(column.index)
