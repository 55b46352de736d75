"""What the tests on nannyml's synthetic datasets share: nannyml's side run in its own
environment (`make nannyml`, `tests/nannyml_side/datasets.py`), a model trained on the
reference period and promoted, the analysis period dropped in the local cloud's inbox one file
per period in timestamp order, its targets loaded as labels, and the retrain function's check.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from google.cloud import bigquery

from local_emulator.inbox import drop, wait_for_runs
from local_emulator.settings import StackSettings
from shared import clients
from shared.monitoring.check import CheckRequest, Cloud, run_check
from shared.monitoring.labels import label_frame, load_labels
from shared.monitoring.record import MonitoringRun
from shared.project_config import ProjectConfig
from shared.registration import train_and_register
from shared.sources import SourceInfo, fingerprint

ROOT = Path(__file__).resolve().parents[2]
NANNYML_PYTHON = ROOT / ".cloudscore" / "tools" / "nannyml" / "bin" / "python"
NANNYML_SIDE = ROOT / "tests" / "nannyml_side" / "datasets.py"
TARGET = "y_true"  # nannyml's name for the target of its datasets (car loan: "repaid")


def nannyml_side(dataset: str, out: Path, period: str) -> Path:
    """nannyml's data and its drift results for `dataset`, chunked by `period` (a pandas
    offset), written to `out` by nannyml's own environment."""
    if not os.access(NANNYML_PYTHON, os.X_OK):
        pytest.fail(f"{NANNYML_PYTHON} is missing: `make nannyml` installs it (`make test` too)")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(out), "NML_DISABLE_USAGE_LOGGING": "1"}
    done = subprocess.run(
        [str(NANNYML_PYTHON), str(NANNYML_SIDE), dataset, str(out), period],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def owner_cloud(settings: StackSettings) -> Cloud:
    """A person's view (`cloudscore train`, `labels load`): the project's owner."""
    return Cloud.of(
        settings.function_config(),
        clients.storage_client(settings.project, settings.endpoints()),
        clients.bigquery_client(settings.project, settings.endpoints()),
        "test",
    )


def retrain_cloud(settings: StackSettings) -> Cloud:
    """What the retrain function works against, as its own account."""
    return Cloud.of(
        settings.function_config(),
        clients.storage_client(settings.project, settings.endpoints("retrain_model")),
        clients.bigquery_client(settings.project, settings.endpoints("retrain_model")),
        "test",
    )


def train_and_promote(settings: StackSettings, frame: pd.DataFrame, config: ProjectConfig) -> str:
    owner = owner_cloud(settings)
    source = SourceInfo("memory://reference", "file", len(frame), fingerprint(frame))
    trained = train_and_register(frame, source, config, owner.registry, owner.audit, promote=True)
    return trained.version


def score_by_period(
    settings: StackSettings,
    frame: pd.DataFrame,
    folder: Path,
    *,
    periods: pd.Series,
    task: str,
    target: str = TARGET,
) -> None:
    """One Parquet file per period (`periods`: each row's), without the target, dropped in
    timestamp order; then the targets loaded as labels (as `cloudscore labels load`)."""
    folder.mkdir(parents=True, exist_ok=True)
    ordered = frame.assign(_period=periods).sort_values("timestamp", kind="stable")
    dropped = []
    for name, rows in ordered.groupby("_period", sort=True):
        path = folder / f"rows-{name}.parquet"
        rows.drop(columns=[target, "_period"]).to_parquet(path, index=False)
        dropped.append(drop(settings, path))
    runs = wait_for_runs(settings, dropped)
    assert {run["status"] for run in runs} == {"succeeded"}, runs
    labels = folder / "targets.csv"
    ordered[["id", target]].to_csv(labels, index=False)
    owner = owner_cloud(settings)
    loaded = label_frame(labels, id_column="id", label_column=target, task=task)
    load_labels(
        owner.bigquery, settings.dataset, loaded, fingerprint(loaded), location=settings.region
    )


def fill_table(settings: StackSettings, table: str, frame: pd.DataFrame) -> None:
    """A labelled table in the stack's dataset: the training source a retrain reads."""
    bq = clients.bigquery_client(settings.project, settings.endpoints())
    name = f"{settings.project}.{settings.dataset}.{table}"
    bq.delete_table(name, not_found_ok=True)
    config = bigquery.LoadJobConfig(write_disposition="WRITE_TRUNCATE")
    bq.load_table_from_dataframe(frame, name, job_config=config).result()


def check(settings: StackSettings, *, dry_run: bool = True, force: bool = False) -> MonitoringRun:
    request = CheckRequest(trigger="test", dry_run=dry_run, force=force)
    run = run_check(retrain_cloud(settings), request)
    assert run is not None
    return run


def periods_of(run: MonitoringRun) -> dict[str, dict[str, Any]]:
    return {str(row["start"]): row for row in run.periods}


def drift_agreement(run: MonitoringRun, drift: dict[str, Any]) -> tuple[int, int]:
    """(cells that agree, cells) of our per-period drift verdicts against nannyml's, on the
    same chunks; asserts the chunks are the same rows."""
    ours = periods_of(run)
    assert run.periods[0]["drift"]["statistic"] == "jensen_shannon"
    assert [chunk["start"] for chunk in drift["chunks"]] == list(ours)
    cells = agree = 0
    for chunk in drift["chunks"]:
        period = ours[chunk["start"]]
        assert period["drift"]["rows"] == chunk["rows"] == period["rows"]
        for feature in drift["features"]:
            cells += 1
            agree += (feature in period["drift"]["drifted"]) == chunk["alerts"][feature]
    return agree, cells


def read_drift(folder: Path) -> dict[str, Any]:
    drift: dict[str, Any] = json.loads((folder / "drift.json").read_text())
    return drift


def period_starts(timestamps: pd.Series, unit: str) -> np.ndarray:
    """Each row's period start as the check names it (ISO date): "D" days, "W" weeks from
    Monday, "M" calendar months."""
    days = pd.to_datetime(timestamps).dt.normalize()
    if unit == "M":
        return days.dt.strftime("%Y-%m-01").to_numpy()
    if unit == "W":
        days = days - pd.to_timedelta(days.dt.day_of_week, unit="D")
    return days.dt.strftime("%Y-%m-%d").to_numpy()
