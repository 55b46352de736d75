"""`cloudscore models compare A B --data SOURCE`: two versions measured on the same rows.

Each version's test metrics were measured on its own test split, so two versions trained on
different data (or split otherwise) have numbers that do not compare. Here both score the same
labelled rows — those of SOURCE that both versions' contracts accept — and the comparison is
the one a retrain check makes (`shared.monitoring.challenge.compare`): every metric of both,
and the paired-bootstrap interval of (B - A) on the promotion metric of A's configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from shared.contract import validate
from shared.errors import UsageError
from shared.model_cache import ModelCache
from shared.monitoring.challenge import Comparison, compare
from shared.project_config import ProjectConfig, parse_project_config
from shared.registry import PROJECT_FILE

if TYPE_CHECKING:
    from shared.registry import ModelRegistry, ModelVersion


@dataclass(frozen=True)
class VersionComparison:
    comparison: Comparison
    rows_read: int
    rows_compared: int  # accepted by both contracts and labelled


def compare_versions(
    registry: ModelRegistry, version_a: str, version_b: str, frame: pd.DataFrame, source: str
) -> VersionComparison:
    cache = ModelCache(registry)
    first, second = cache.get_version(version_a), cache.get_version(version_b)
    config = _config(registry, first)
    if config.target not in frame.columns:
        raise UsageError(
            f"{source}: has no column {config.target!r} (model.target of {version_a}): a "
            "comparison needs labelled rows"
        )
    rows = frame.reset_index(drop=True)
    both = set(_accepted(rows, first)) & set(_accepted(rows, second))
    labelled = rows.iloc[sorted(both)]
    labelled = labelled[labelled[config.target].notna()]
    if labelled.empty:
        raise UsageError(
            f"{source}: no labelled row is accepted by the contracts of both {version_a} and "
            f"{version_b}"
        )
    comparison = compare(labelled, first.model, second.model, config)
    return VersionComparison(comparison, len(frame), len(labelled))


def _accepted(rows: pd.DataFrame, version: ModelVersion) -> list[int]:
    """Positions of the rows the version's contract accepts."""
    checked = validate(rows, version.contract, first_row_number=0)
    return [int(n) for n in checked.valid["row_number"]]


def _config(registry: ModelRegistry, version: ModelVersion) -> ProjectConfig:
    if version.project_config is None:
        raise UsageError(
            f"{version.version} has no {PROJECT_FILE} (trained by an older cloudscore): its "
            "target and metrics are unknown"
        )
    where = f"{registry.model_name} {version.version}/{PROJECT_FILE}"
    return parse_project_config(version.project_config, where)
