"""Train a model on a table and register it: the use case behind `cloudscore train` (and, later,
the retrain function).

    data ─► contract (inferred, then the configuration's reviewed overrides)
         ─► validation (malformed training rows are left out and counted)
         ─► train_model (search, calibration, threshold, test metrics, baseline gate)
         ─► a new immutable registry version ─► optionally the champion
"""

from __future__ import annotations

import dataclasses
import getpass
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from shared.audit import AuditLog
from shared.contract import DataContract, ValidationResult, infer_contract, validate
from shared.errors import DataError
from shared.model import ScoringModel
from shared.model_format import model_files
from shared.project_config import ProjectConfig, project_config_tables
from shared.registry import AliasMove, ModelRegistry, NewVersion, new_version_id
from shared.sources import SourceInfo, fingerprint
from shared.training import FeatureSpec, TrainingOutcome, TrainingSpec, train_model

# Kinds of contract column a model can take as features; text and timestamps are not encoded.
_NUMERIC_KINDS = ("numeric", "integer", "boolean")

# More malformed training rows than this means the data, not a few rows, is wrong.
MAX_REJECTED_SHARE = 0.5


@dataclass(frozen=True)
class Registration:
    version: str
    outcome: TrainingOutcome
    contract: DataContract
    rows_rejected: int
    ignored_features: tuple[str, ...]
    parent_version: str | None
    promotion: AliasMove | None
    # The test split's rows (every column), never trained on: where a retrain measures the
    # champion against this version.
    holdout: pd.DataFrame


def default_actor() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def training_spec(config: ProjectConfig, contract: DataContract) -> tuple[TrainingSpec, list[str]]:
    """The training spec of a configuration and contract, and the features left out."""
    features, ignored = [], []
    for column in contract.features():
        if column.kind in _NUMERIC_KINDS:
            features.append(FeatureSpec(column.name, "numeric", None))
        elif column.kind == "categorical":
            features.append(FeatureSpec(column.name, "categorical", column.categories))
        else:
            ignored.append(column.name)
    spec = TrainingSpec(
        target=config.target,
        features=tuple(features),
        positive_label=config.positive_label,
        time_column=config.time_column,
        task=config.task,
        candidates=config.candidates,
        primary_metric=config.primary_metric,
        cost=config.cost,
        time_budget_s=config.time_budget_s,
        seed=config.seed,
        test_fraction=config.test_fraction,
        validation_fraction=config.validation_fraction,
    )
    if config.max_trials is not None:  # a fixed number of trials, whatever the time
        spec = dataclasses.replace(spec, max_trials=config.max_trials, time_bounded=False)
    return spec, ignored


def train_and_register(
    frame: pd.DataFrame,
    source: SourceInfo,
    config: ProjectConfig,
    registry: ModelRegistry,
    audit: AuditLog | None,
    *,
    promote: bool = False,
    actor: str | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> Registration:
    actor = actor or default_actor()
    # Read before training: a champion that moves meanwhile makes the promotion fail, not race.
    parent = registry.alias("champion")
    contract = infer_contract(frame, config, json_values=source.json_values)
    checked = validate(frame, contract, json_values=source.json_values)
    unreadable = len({bad.row_number for bad in source.unreadable})
    rejected = checked.rows_rejected + unreadable
    rows_in = checked.rows_in + unreadable
    if rejected > MAX_REJECTED_SHARE * rows_in:
        raise DataError(
            f"{source.uri}: {rejected} of {rows_in} training rows break the inferred contract "
            f"or cannot be read; first problems: {_first_problems(frame, checked, source)}"
        )
    valid = checked.valid[checked.valid[config.target].notna()]
    spec, ignored = training_spec(config, contract)
    outcome = train_model(valid, spec, progress)

    files = stored_model_files(outcome.model, valid)
    version = new_version_id(b"".join(files.values()))
    holdout = valid.iloc[outcome.test_positions]
    new = NewVersion(
        model_files=files,
        contract=contract.to_json(),
        metrics=_metrics(outcome) | {"measured_on": measured_on(source, config, holdout)},
        reference=outcome.reference,
        project_config=project_config_tables(config),
        lineage=_lineage(
            source=source,
            config=config,
            outcome=outcome,
            rejected=rejected,
            ignored=ignored,
            parent=parent,
            actor=actor,
            version=version,
        ),
    )
    registry.write_version(version, new)
    promotion = None
    if promote:
        promotion = registry.move_alias(
            "champion",
            version,
            actor=actor,
            reason="trained and promoted by `cloudscore train --promote`",
            expected=parent,
            create_only=parent is None,
        )
        if audit is not None:
            audit.record(promotion)
    return Registration(
        version=version,
        outcome=outcome,
        contract=contract,
        rows_rejected=rejected,
        ignored_features=tuple(ignored),
        parent_version=parent.version if parent else None,
        promotion=promotion,
        holdout=holdout,
    )


def measured_on(source: SourceInfo, config: ProjectConfig, holdout: pd.DataFrame) -> dict[str, Any]:
    """Which rows a version's test metrics were measured on: its training source's test split.
    `test_set` is a digest of those rows: two versions with the same one were measured on the
    same rows, and only then are their test metrics comparable."""
    return {
        "data_source": source.uri,
        "data_fingerprint": source.fingerprint,
        "split": "by time (the last rows)" if config.time_column else "random, stratified",
        "seed": config.seed,
        "rows": len(holdout),
        "test_set": fingerprint(holdout)[:16],
    }


def _first_problems(
    frame: pd.DataFrame, checked: ValidationResult, source: SourceInfo, shown: int = 5
) -> str:
    """The first problems, each with the row it is in: the file's row number when the frame
    carries them (a file), else the row's position."""
    file_rows = frame.index.tolist()
    lines = [
        f"row {file_rows[position - 1]}, column {column!r}: {reason}"
        for position, column, reason in checked.rejections[["row_number", "column_name", "reason"]]
        .head(shown)
        .itertuples(index=False)
    ]
    lines += [f"row {bad.row_number}: {bad.reason}" for bad in source.unreadable[:shown]]
    return "; ".join(lines[:shown])


# Rows of the training data the ONNX graph is checked on, besides its probe rows.
_ONNX_CHECK_ROWS = 5000


def stored_model_files(model: ScoringModel, frame: pd.DataFrame | None = None) -> dict[str, bytes]:
    """The files that store a trained model; an XGBoost booster also as ONNX (checked on
    probe rows and on rows of `frame`, when given), for the HTTP function."""
    from shared.model import feature_matrix
    from shared.training.onnx_export import booster_onnx

    scorer = None
    if model.family == "xgboost":
        rows = None
        if frame is not None:
            rows = feature_matrix(frame.head(_ONNX_CHECK_ROWS), model.features)
        scorer = booster_onnx(model.estimator, rows)
    return model_files(model, scorer)


def _metrics(outcome: TrainingOutcome) -> dict[str, Any]:
    return {
        "task": outcome.model.task,
        "primary_metric": outcome.primary_metric,
        "threshold": outcome.threshold,
        "test": outcome.test_metrics,
        "validation": outcome.validation_metrics,
        "baseline": outcome.baseline_metrics,
        "family": outcome.model.family,
        "calibrated": outcome.model.calibrated,
    }


def _lineage(
    *,
    source: SourceInfo,
    config: ProjectConfig,
    outcome: TrainingOutcome,
    rejected: int,
    ignored: list[str],
    parent: Any,
    actor: str,
    version: str,
) -> dict[str, Any]:
    winner = next(c for c in outcome.candidates if c.family == outcome.model.family)
    return {
        "version": version,
        "data_source": source.uri,
        "data_kind": source.kind,
        "data_fingerprint": source.fingerprint,
        "rows": {"read": source.rows, "rejected": rejected, **outcome.rows},
        "features_ignored": ignored,
        "code_version": _code_version(),
        "parameters": winner.params,
        "candidates": [
            {
                "family": c.family,
                "validation_score": c.validation_score,
                "trials": c.trials,
                "seconds": round(c.seconds, 2),
                "stopped_by_time": c.stopped_by_time,
            }
            for c in outcome.candidates
        ],
        "seed": outcome.seed,
        "time_budget_s": config.time_budget_s,
        "max_trials": config.max_trials,
        "parent_version": parent.version if parent else None,
        "created_at": datetime.now(UTC).isoformat(),
        "created_by": actor,
    }


def _code_version() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = {"cloudscore": version("cloudscore")}
    except PackageNotFoundError:
        found = {"cloudscore": "unknown"}
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        found["git_commit"] = commit
    except (OSError, subprocess.SubprocessError):
        pass
    return found
