"""What the tests on nannyml's synthetic datasets share. A test module describes its dataset as
a project would monitor it (`NannymlDataset`: the model, its task, its training, its period) and
gets from `monitor()` its dataset monitored (`Monitored`): nannyml's side run in its own
environment (`make nannyml`, `tests/nannyml_side/datasets.py`), a local cloud serving the
model, the model trained on the reference period and promoted, the analysis period dropped in
the inbox one file per period in timestamp order, its targets loaded as labels, and the retrain
function's check of it (every call through the permission layer, as that function's account).

Each dataset has a local cloud of its own: a deployment serves one model (its functions read
CLOUDSCORE_MODEL_NAME, and the batch function scores every file in its inbox with that model's
champion), so three models are three deployments, as their users would run them.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
import pytest
from google.cloud import bigquery

from local_emulator import stack
from local_emulator.inbox import drop, wait_for_runs
from local_emulator.settings import LOCAL_PROJECT, StackSettings
from shared import clients
from shared.contract import validate
from shared.model import ScoringModel
from shared.model_cache import ModelCache
from shared.monitoring.check import CheckRequest, Cloud, run_check
from shared.monitoring.labels import label_frame, load_labels
from shared.monitoring.record import Decision, MonitoringRun
from shared.monitoring.report import render_report
from shared.project_config import ProjectConfig, parse_project_config
from shared.registration import train_and_register
from shared.sources import SourceInfo, fingerprint
from tests.conftest import project_file, start_stack

ROOT = Path(__file__).resolve().parents[2]
NANNYML_PYTHON = ROOT / ".cloudscore" / "tools" / "nannyml" / "bin" / "python"
NANNYML_SIDE = ROOT / "tests" / "nannyml_side" / "datasets.py"
# The check's period, and nannyml's chunk_period (a pandas offset) that makes the same chunks.
CHUNK_PERIODS: Final = {"day": "D", "week": "W", "month": "M"}


@dataclass(frozen=True)
class NannymlDataset:
    """One of nannyml's synthetic datasets, as a project monitors it."""

    name: str  # as tests/nannyml_side/datasets.py knows it
    model: str
    task: str
    period: Literal["day", "week", "month"]  # the check's; nannyml's chunks are the same
    training: Mapping[str, Any]  # the project's [training], but for its source
    target: str = "y_true"  # nannyml's name for it (the car loan's: "repaid")
    positive_label: int | None = None
    # A table of the stack's dataset that the project names as its training source: what a
    # forced check retrains on.
    recent_table: str | None = None

    def config(self, settings: StackSettings, **overrides: Any) -> ProjectConfig:
        """The project's configuration; `overrides` replace some of its [training]."""
        model: dict[str, Any] = {
            "name": self.model,
            "task": self.task,
            "target": self.target,
            "id_column": "id",
            "time_column": "timestamp",
        }
        if self.positive_label is not None:
            model["positive_label"] = self.positive_label
        training = {**self.training, **overrides}
        if settings.training_source:
            training["source"] = settings.training_source
        return parse_project_config(
            {
                "model": model,
                "training": training,
                # nannyml's chunks; every other setting its default.
                "monitoring": {"period": self.period},
            },
            f"{self.model}.toml",
        )

    def period_starts(self, timestamps: pd.Series) -> np.ndarray:
        """Each row's period start as the check names it (ISO date): weeks start on Monday,
        months on the 1st."""
        days = pd.to_datetime(timestamps).dt.normalize()
        if self.period == "month":
            return days.dt.strftime("%Y-%m-01").to_numpy()
        if self.period == "week":
            days = days - pd.to_timedelta(days.dt.day_of_week, unit="D")
        return days.dt.strftime("%Y-%m-%d").to_numpy()


@contextmanager
def nannyml_side(dataset: NannymlDataset, out: Path) -> Iterator[Path]:
    """nannyml's data and its results for `dataset`, chunked as the check's periods, written to
    `out` by nannyml's own environment. It runs while the block runs (a stack starts meanwhile)
    and is waited for at the block's end: read `out` after it."""
    if not os.access(NANNYML_PYTHON, os.X_OK):
        pytest.fail(f"{NANNYML_PYTHON} is missing: `make nannyml` installs it (`make test` too)")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(out), "NML_DISABLE_USAGE_LOGGING": "1"}
    chunks = CHUNK_PERIODS[dataset.period]
    with subprocess.Popen(
        [str(NANNYML_PYTHON), str(NANNYML_SIDE), dataset.name, str(out), chunks],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    ) as side:  # fmt: skip
        try:
            yield out
            _, errors = side.communicate(timeout=600)
        except BaseException:
            side.kill()
            raise
    assert side.returncode == 0, errors[-3000:]


@contextmanager
def started_stack(dataset: NannymlDataset, folder: Path) -> Iterator[StackSettings]:
    """A local cloud started with the dataset's project file: it serves the dataset's model, and
    its retrain account may read the training source the project names, as deployed."""
    source = None
    if dataset.recent_table:
        source = f"bq://{LOCAL_PROJECT}.cloudscore.{dataset.recent_table}"
    settings = start_stack(folder, project_file=project_file(folder, dataset.model, source))
    try:
        yield settings
    finally:
        stack.down(settings)


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


def periods_of(run: MonitoringRun) -> dict[str, Mapping[str, Any]]:
    return {str(row["start"]): row for row in run.periods}


def within_band(run: MonitoringRun, metric: str) -> dict[str, bool]:
    """Whether each period's estimate of `metric` is within ± 3 of its sampling errors (its
    stated uncertainty, nannyml's band) of the realized value."""
    found = {}
    for start, row in periods_of(run).items():
        estimate, realized = row["estimated"][metric], row["realized"][metric]
        assert estimate["sampling_error"] > 0
        found[start] = abs(estimate["value"] - realized) <= 3 * estimate["sampling_error"]
    return found


@dataclass(frozen=True)
class DatasetStack:
    """A stack serving a dataset's model, and what a person and the retrain function do with
    it."""

    dataset: NannymlDataset
    settings: StackSettings

    def promote(self, frame: pd.DataFrame, **overrides: Any) -> str:
        """A version trained on `frame` and promoted by a person (as `cloudscore train
        --promote`); `overrides` replace some of the project's [training]."""
        owner = owner_cloud(self.settings)
        config = self.dataset.config(self.settings, **overrides)
        source = SourceInfo("memory://reference", "file", len(frame), fingerprint(frame))
        registered = train_and_register(
            frame, source, config, owner.registry, owner.audit, promote=True
        )
        return registered.version

    def score(self, frame: pd.DataFrame, folder: Path) -> None:
        """`frame` dropped in the inbox as one Parquet file per period, without the target, in
        timestamp order; then its targets loaded as labels (as `cloudscore labels load`)."""
        settings, target = self.settings, self.dataset.target
        folder.mkdir(parents=True, exist_ok=True)
        periods = self.dataset.period_starts(frame["timestamp"])
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
        loaded = label_frame(labels, id_column="id", label_column=target, task=self.dataset.task)
        load_labels(
            owner_cloud(settings).bigquery, settings.dataset, loaded, fingerprint(loaded),
            location=settings.region,
        )  # fmt: skip

    def check(self, *, dry_run: bool = True, force: bool = False) -> MonitoringRun:
        """The retrain function's check, as its own account."""
        request = CheckRequest(trigger="test", dry_run=dry_run, force=force)
        run = run_check(retrain_cloud(self.settings), request)
        assert run is not None
        return run

    def forced_retrain(self, recent: pd.DataFrame) -> MonitoringRun:
        """A forced check after `recent` (labelled rows) filled the project's training source."""
        assert self.dataset.recent_table, "the project names no training source"
        bq = clients.bigquery_client(self.settings.project, self.settings.endpoints())
        name = f"{self.settings.project}.{self.settings.dataset}.{self.dataset.recent_table}"
        bq.delete_table(name, not_found_ok=True)
        config = bigquery.LoadJobConfig(write_disposition="WRITE_TRUNCATE")
        bq.load_table_from_dataframe(recent, name, job_config=config).result()
        return self.check(dry_run=False, force=True)


@dataclass(frozen=True)
class Monitored(DatasetStack):
    """A dataset monitored: its stack serving the model trained on the reference period, after
    the analysis period was scored and labelled, and the retrain function's check of it."""

    files: Path  # nannyml's side: reference.parquet, analysis.parquet, its results
    version: str  # the champion the check judged
    run: MonitoringRun

    def reference(self) -> pd.DataFrame:
        return read_period(self.files, "reference")

    def analysis(self) -> pd.DataFrame:
        return read_period(self.files, "analysis")

    def nannyml_result(self, name: str) -> dict[str, Any]:
        """One of nannyml's results: "drift", "cbpe" (see tests/nannyml_side/datasets.py)."""
        result: dict[str, Any] = json.loads((self.files / f"{name}.json").read_text())
        return result

    def drift_agreement(self) -> tuple[int, int]:
        """(cells that agree, cells) of the check's per-period drift verdicts against nannyml's,
        on the same chunks; asserts the chunks are the same rows."""
        drift = self.nannyml_result("drift")
        ours = periods_of(self.run)
        assert self.run.periods[0]["drift"]["statistic"] == "jensen_shannon"
        assert [chunk["start"] for chunk in drift["chunks"]] == list(ours)
        cells = agree = 0
        for chunk in drift["chunks"]:
            period = ours[chunk["start"]]
            assert period["drift"]["rows"] == chunk["rows"] == period["rows"]
            for feature in drift["features"]:
                cells += 1
                agree += (feature in period["drift"]["drifted"]) == chunk["alerts"][feature]
        return agree, cells

    def champion_on_analysis(self) -> tuple[ScoringModel, pd.DataFrame]:
        """The model the check judged, and the analysis rows (with their targets), every one
        valid under its contract."""
        loaded = ModelCache(owner_cloud(self.settings).registry).get_version(self.version)
        analysis = self.analysis()
        valid = validate(analysis, loaded.contract).valid
        assert len(valid) == len(analysis)
        return loaded.model, valid

    def labelled_periods(
        self, rows: pd.DataFrame
    ) -> Iterator[tuple[Mapping[str, Any], np.ndarray]]:
        """Each period of the check with the mask of `rows` that fall in it; asserts the check's
        periods are those of `rows`, and that each counted all its rows as labelled."""
        starts = self.dataset.period_starts(rows["timestamp"])
        ours = periods_of(self.run)
        assert sorted(ours) == sorted(set(starts))
        for start in np.unique(starts):
            in_period = starts == start
            assert ours[start]["labelled_rows"] == in_period.sum()
            yield ours[start], in_period

    def assert_challenger_compared(
        self, run: MonitoringRun, primary_metric: str, metrics: set[str]
    ) -> Mapping[str, Any]:
        """Asserts that the forced check `run` trained a challenger, measured it and the
        champion on the same holdout rows (`metrics` of each, and the interval of their
        difference on `primary_metric`), and left the champion alias on the one it chose;
        returns the comparison."""
        assert run.decision in (Decision.PROMOTED, Decision.KEPT_CHAMPION), run.reason
        compared = run.challenger_metrics
        assert compared["primary_metric"] == primary_metric
        assert compared["version"] == run.challenger_version != self.version
        for side in ("champion", "challenger"):
            assert metrics <= set(compared[side])
        difference = compared["difference"]
        assert difference["low"] <= difference["mean"] <= difference["high"]
        champion = retrain_cloud(self.settings).registry.alias("champion")
        assert champion is not None
        assert champion.version == (run.challenger_version if run.promoted else self.version)
        return compared

    def report(self, copy_to: str) -> str:
        """The check's HTML report; the environment variable `copy_to`=FILE keeps a copy (the
        README's pictures of it are screenshots of that file)."""
        html = render_report(self.dataset.model, [self.run], generated_at=self.run.started_at)
        out = os.environ.get(copy_to)
        if out:
            Path(out).write_text(html, encoding="utf-8")
        return html


def monitor(dataset: NannymlDataset, tmp: pytest.TempPathFactory) -> Iterator[Monitored]:
    """The dataset monitored, for a module-scoped fixture (its stack stops when the fixture
    ends): the model trained on the reference period and promoted, the analysis period scored
    and labelled, and the check run."""
    with ExitStack() as running:
        with nannyml_side(dataset, tmp.mktemp(f"{dataset.model}-nannyml")) as files:
            folder = tmp.mktemp(f"{dataset.model}-stack")
            served = DatasetStack(dataset, running.enter_context(started_stack(dataset, folder)))
        version = served.promote(read_period(files, "reference"))
        served.score(read_period(files, "analysis"), tmp.mktemp(f"{dataset.model}-analysis"))
        yield Monitored(dataset, served.settings, files, version, served.check())


def read_period(files: Path, name: str) -> pd.DataFrame:
    """nannyml's "reference" or "analysis" period of the dataset; the analysis with its
    targets."""
    return pd.read_parquet(files / f"{name}.parquet")
