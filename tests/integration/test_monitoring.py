"""The monitoring loop against the local cloud, on a stack of its own (it moves the champion of
the stack's model, which the other stack tests rely on).

    healthy data + labels + a check        → healthy, nothing trained
    drifted data + labels + a scheduler tick through Pub/Sub → retrained and promoted, the next
                                              file scored by the new champion, report stored
    a worse challenger (forced)             → kept as challenger, champion untouched
    two ticks at once                       → one training; the same tick twice → one check
    a crashed lock holder                   → taken over after its expiry
    a training source that cannot be read   → recorded as failed, registry untouched
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.cloud import bigquery

from cloudscore.demo_data import LABEL_COLUMN, iter_demo_frames, write_demo_data
from local_emulator import pubsub, stack
from local_emulator.inbox import drop, wait_for_runs
from local_emulator.settings import LOCAL_PROJECT, StackSettings
from shared import clients
from shared.model_cache import ModelCache
from shared.monitoring.check import CheckInProgress, CheckRequest, Cloud, run_check, tick_id_of
from shared.monitoring.labels import label_frame, load_labels
from shared.monitoring.lock import CheckLock, Held
from shared.monitoring.record import Decision, MonitoringRun
from shared.project_config import ProjectConfig, parse_project_config
from shared.registration import train_and_register
from shared.registry import ModelRegistry
from shared.sources import SourceInfo, fingerprint
from tests.conftest import project_file, start_stack
from tests.log_metrics import counted

pytestmark = pytest.mark.stack

FRESH_TABLE = "fresh_applications"


def project_config(settings: StackSettings, **monitoring: Any) -> ProjectConfig:
    return parse_project_config(
        {
            "model": {
                "name": settings.model_name,
                "target": LABEL_COLUMN,
                "id_column": "application_id",
                "time_column": "application_date",
            },
            "training": {
                "time_budget_s": 6,
                "candidates": ["xgboost"],
                "source": f"bq://{settings.project}.{settings.dataset}.{FRESH_TABLE}",
            },
            "cost": {"false_positive": 1.0, "false_negative": 5.0},
            "monitoring": {
                "min_labelled_rows": 200,
                # Wide: two models' AUCs on a few hundred rows differ by chance.
                "max_metric_drop": 0.1,
                "drift_min_features": 3,
                "bootstrap_rounds": 300,
                **monitoring,
            },
        },
        "test",
    )


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackSettings]:
    folder = tmp_path_factory.mktemp("monitoring-stack")
    # The project's own file: the stack serves its model, and its retrain account may read the
    # training source it names, as `cloudscore deploy` would grant.
    source = f"bq://{LOCAL_PROJECT}.cloudscore.{FRESH_TABLE}"
    settings = start_stack(folder, project_file=project_file(folder, "loan-monitoring", source))
    try:
        yield settings
    finally:
        stack.down(settings)


@pytest.fixture(scope="module")
def cloud(own_stack: StackSettings) -> Cloud:
    """What the retrain function works against, as its own account."""
    return Cloud.of(
        own_stack.function_config(),
        clients.storage_client(own_stack.project, own_stack.endpoints("retrain_model")),
        clients.bigquery_client(own_stack.project, own_stack.endpoints("retrain_model")),
        "test",
    )


@pytest.fixture(scope="module")
def champion(own_stack: StackSettings) -> str:
    # Trained and promoted by a person, as `cloudscore train --promote` does.
    owner = Cloud.of(
        own_stack.function_config(),
        clients.storage_client(own_stack.project, own_stack.endpoints()),
        clients.bigquery_client(own_stack.project, own_stack.endpoints()),
        "test",
    )
    frame = next(iter_demo_frames(4000, seed=51, drift=0.0, bad_rows=0.0, chunk_rows=4000))
    source = SourceInfo("memory://", "file", len(frame), fingerprint(frame))
    # Its stored configuration is the one the retrain function judges it by.
    config = project_config(own_stack, drift_min_features=2)
    trained = train_and_register(frame, source, config, owner.registry, owner.audit, promote=True)
    return trained.version


def score_with_labels(
    settings: StackSettings,
    tmp_path: Path,
    *,
    rows: int,
    seed: int,
    drift: float,
    dates: tuple[str, str],
) -> dict[str, Any]:
    """Drop a demo file of applications dated `dates` in the inbox, wait for its run, then load
    its labels."""
    data, labels = tmp_path / f"apps-{seed}.csv", tmp_path / f"labels-{seed}.csv"
    write_demo_data(data, rows=rows, seed=seed, drift=drift, labels_out=labels, dates=dates)
    (run,) = wait_for_runs(settings, [drop(settings, data)])
    bq = clients.bigquery_client(settings.project, settings.endpoints())
    frame = label_frame(labels, id_column="application_id", label_column=LABEL_COLUMN)
    load_labels(bq, settings.dataset, frame, fingerprint(frame), location=settings.region)
    return run


def fill_fresh_table(settings: StackSettings, *, rows: int, seed: int, drift: float) -> None:
    """The labelled recent data a retrain reads (`training.source`), replaced each time."""
    frame = next(iter_demo_frames(rows, seed=seed, drift=drift, bad_rows=0.0, chunk_rows=rows))
    bq = clients.bigquery_client(settings.project, settings.endpoints())
    table = f"{settings.project}.{settings.dataset}.{FRESH_TABLE}"
    bq.delete_table(table, not_found_ok=True)
    config = bigquery.LoadJobConfig(write_disposition="WRITE_TRUNCATE")
    bq.load_table_from_dataframe(frame, table, job_config=config).result()


def recorded(cloud: Cloud, run_id: str) -> list[MonitoringRun]:
    rows = cloud.bigquery.query(
        f"SELECT * FROM `{cloud.bigquery.project}.{cloud.dataset}.monitoring_runs` "
        f"WHERE run_id = '{run_id}'"
    ).result()
    return [MonitoringRun.from_row(dict(row)) for row in rows]


def all_runs(cloud: Cloud) -> list[MonitoringRun]:
    rows = cloud.bigquery.query(
        f"SELECT * FROM `{cloud.bigquery.project}.{cloud.dataset}.monitoring_runs`"
    ).result()
    return [MonitoringRun.from_row(dict(row)) for row in rows]


def champion_version(cloud: Cloud) -> str:
    pointer = cloud.registry.alias("champion")
    assert pointer is not None
    return pointer.version


def check(cloud: Cloud, settings: StackSettings, **request: Any) -> MonitoringRun:
    request.setdefault("config", project_config(settings))
    run = run_check(cloud, CheckRequest(**request))
    assert run is not None
    return run


def test_healthy_data_is_measured_and_not_retrained(
    own_stack: StackSettings, cloud: Cloud, champion: str, tmp_path: Path
) -> None:
    versions = cloud.registry.versions()
    # One week of applications (Monday to Sunday): one period of the default policy.
    score_with_labels(
        own_stack, tmp_path, rows=1500, seed=61, drift=0.0, dates=("2026-07-06", "2026-07-12")
    )

    run = check(cloud, own_stack)

    assert run.decision is Decision.HEALTHY, run.reason
    (week,) = run.periods
    assert (week["start"], week["end"], week["rows"]) == ("2026-07-06", "2026-07-13", 1500)
    assert week["labelled_rows"] == 1500 and week["alerts"] == {}
    assert week["realized"]["roc_auc"] == run.metrics["values"]["roc_auc"]
    estimated = week["estimated"]["roc_auc"]
    assert abs(estimated["value"] - week["realized"]["roc_auc"]) < 3 * estimated["sampling_error"]
    assert week["drift"]["rows"] == 1500 and week["drift"]["statistic"] == "jensen_shannon"
    assert run.champion_version == champion
    assert run.metrics["labelled_rows"] == 1500
    assert 0.7 < run.metrics["values"]["roc_auc"] < 1.0
    assert "expected_cost" in run.metrics["values"]
    assert run.drift["files"] == 1 and run.drift["rows"] == 1500
    assert run.drift["drifted"] == []
    assert cloud.registry.versions() == versions
    (row,) = recorded(cloud, run.run_id)
    assert row.decision is Decision.HEALTHY and row.metrics == run.metrics
    assert row.report_uri is not None
    bucket, _, name = row.report_uri.removeprefix("gs://").partition("/")
    html = cloud.storage.bucket(bucket).blob(name).download_as_text()
    assert "<svg" in html and run.run_id in html


def test_cloudscore_retrain_dry_run_measures_and_changes_nothing(
    own_stack: StackSettings,
    cloud: Cloud,
    champion: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cloudscore.cli import main

    for name, value in own_stack.client_env().items():
        monkeypatch.setenv(name, value)
    runs, versions = len(all_runs(cloud)), cloud.registry.versions()

    assert main(["retrain", "--dry-run", "--force"]) == 0

    out = capsys.readouterr().out
    assert ": would_retrain" in out
    assert f"champion   {champion}" in out
    assert "roc_auc" in out and "labelled predictions scored in the last 30 days" in out
    assert "week periods by the data's time" in out
    assert "2026-07-06 2026-07-12    1,500    1,500" in out
    assert "forced" in out
    assert len(all_runs(cloud)) == runs
    assert cloud.registry.versions() == versions


def test_too_few_labels_records_not_enough_labels(
    own_stack: StackSettings, cloud: Cloud, champion: str
) -> None:
    run = check(cloud, own_stack, config=project_config(own_stack, min_labelled_rows=100_000))

    assert run.decision is Decision.NOT_ENOUGH_LABELS, run.reason
    assert run.metrics["values"] == {}
    assert "100000 needed" in run.reason


def test_a_worse_challenger_is_kept_as_challenger_and_not_promoted(
    own_stack: StackSettings, cloud: Cloud, champion: str
) -> None:
    # Few rows of the same, undrifted data: the challenger cannot clearly beat the champion.
    fill_fresh_table(own_stack, rows=700, seed=71, drift=0.0)
    before = champion_version(cloud)

    run = check(cloud, own_stack, force=True)

    assert run.decision is Decision.KEPT_CHAMPION, run.reason
    assert not run.promoted
    assert champion_version(cloud) == before
    challenger = cloud.registry.alias("challenger")
    assert challenger is not None and challenger.version == run.challenger_version
    compared = run.challenger_metrics
    assert compared["holdout_rows"] == 140
    low, high = compared["difference"]["low"], compared["difference"]["high"]
    assert not low > 0, compared
    assert low <= compared["difference"]["mean"] <= high
    assert "does not clear the margin" in run.reason


def test_an_unreadable_training_source_fails_the_check_and_leaves_the_registry(
    own_stack: StackSettings, cloud: Cloud, champion: str, caplog: pytest.LogCaptureFixture
) -> None:
    versions, before = cloud.registry.versions(), champion_version(cloud)
    config = project_config(own_stack)
    broken = parse_project_config(
        {
            "model": {"name": config.model_name, "target": LABEL_COLUMN},
            "training": {"source": f"bq://{own_stack.project}.{own_stack.dataset}.missing"},
        },
        "test",
    )

    with caplog.at_level(logging.INFO):
        run = check(cloud, own_stack, force=True, config=broken)

    assert run.decision is Decision.FAILED
    assert "missing" in run.reason
    # The deployment's failed-check alert counts this check's line, once.
    (line,) = counted("failed_checks", caplog.records, "retrain_model")
    assert run.run_id in line
    assert cloud.registry.versions() == versions
    assert champion_version(cloud) == before
    assert recorded(cloud, run.run_id)[0].decision is Decision.FAILED


def test_a_lock_left_by_a_crashed_check_is_taken_over_after_its_expiry(
    own_stack: StackSettings, cloud: Cloud, champion: str
) -> None:
    prefix = cloud.registry.prefix
    past = CheckLock(
        cloud.registry.bucket, prefix, clock=lambda: datetime.now(UTC) - timedelta(hours=2)
    )
    assert isinstance(past.acquire("check-crashed", "m-crashed"), Held)
    config = project_config(own_stack, min_labelled_rows=100_000)

    run = check(cloud, own_stack, config=config)
    assert run.decision is Decision.NOT_ENOUGH_LABELS  # it ran: the old lock had expired

    live = CheckLock(cloud.registry.bucket, prefix)
    held = live.acquire("check-live", "m-live")
    try:
        skipped = check(cloud, own_stack, config=config)
        assert skipped.decision is Decision.SKIPPED
        assert "check-live" in skipped.reason
        with pytest.raises(CheckInProgress):
            run_check(cloud, CheckRequest(tick_id="m-live", config=config))
    finally:
        live.release(held)  # type: ignore[arg-type]


def test_a_crash_before_the_alias_moves_leaves_the_champion_and_frees_the_lock(
    own_stack: StackSettings, cloud: Cloud, champion: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_fresh_table(own_stack, rows=700, seed=73, drift=0.0)
    before, versions = champion_version(cloud), cloud.registry.versions()

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("instance lost")

    monkeypatch.setattr(ModelRegistry, "move_alias", crash)
    with pytest.raises(RuntimeError, match="instance lost"):
        run_check(
            cloud, CheckRequest(tick_id="m-crash", force=True, config=project_config(own_stack))
        )
    monkeypatch.undo()

    assert champion_version(cloud) == before
    # The challenger's version is complete (manifest and all) but no alias points at it.
    (added,) = [v for v in cloud.registry.versions() if v not in versions]
    assert ModelCache(cloud.registry).get_version(added).manifest["version"] == added
    # Not done, and not locked: delivered again, the tick is checked in full.
    again = run_check(
        cloud,
        CheckRequest(
            tick_id="m-crash", config=project_config(own_stack, min_labelled_rows=100_000)
        ),
    )
    assert again is not None and again.decision is not Decision.SKIPPED


def test_two_checks_at_once_train_once(
    own_stack: StackSettings, cloud: Cloud, champion: str
) -> None:
    fill_fresh_table(own_stack, rows=700, seed=72, drift=0.0)
    versions = len(cloud.registry.versions())
    results: list[MonitoringRun | None] = []
    barrier = threading.Barrier(2)

    def one(message_id: str) -> None:
        barrier.wait()
        results.append(
            run_check(
                cloud,
                CheckRequest(tick_id=message_id, force=True, config=project_config(own_stack)),
            )
        )

    threads = [threading.Thread(target=one, args=(f"tick-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    decisions = sorted(run.decision.value for run in results if run is not None)
    assert len(decisions) == 2
    assert decisions.count("skipped") == 1, decisions
    assert len(cloud.registry.versions()) == versions + 1
    # Each tick is done: delivered again, neither checks anything.
    for i in range(2):
        again = run_check(cloud, CheckRequest(tick_id=f"tick-{i}", force=True))
        assert again is None
    assert len(cloud.registry.versions()) == versions + 1


def publish(settings: StackSettings, body: bytes) -> str:
    publisher = pubsub.publisher_client(settings.endpoints())
    topic = publisher.topic_path(settings.project, settings.retrain_topic)
    message_id: str = publisher.publish(topic, body).result(timeout=30)
    return message_id


def wait_for_check(cloud: Cloud, tick_id: str, timeout_s: float = 240) -> MonitoringRun:
    lock = CheckLock(cloud.registry.bucket, cloud.registry.prefix)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run_id = lock.done_run(tick_id)
        if run_id is not None:
            (run,) = recorded(cloud, run_id)
            return run
        time.sleep(1)
    raise AssertionError(f"no check of tick {tick_id} after {timeout_s} s")


def test_drift_and_labels_then_a_tick_retrain_and_promote_and_later_files_use_the_new_model(
    own_stack: StackSettings, cloud: Cloud, champion: str, tmp_path: Path
) -> None:
    # The champion's own configuration (project.json) drives the function's check.
    fresh_start = champion_version(cloud)
    if fresh_start != champion:  # an earlier test's promotion: start from a known champion
        cloud.registry.move_alias("champion", champion, actor="test", reason="reset")
    # Two weeks of a changed population after the healthy week: drift in 2 of the last 3.
    run_before = score_with_labels(
        own_stack, tmp_path, rows=6000, seed=81, drift=1.0, dates=("2026-07-13", "2026-07-26")
    )
    assert run_before["model_version"] == champion
    fill_fresh_table(own_stack, rows=8000, seed=82, drift=1.0)

    body = json.dumps({"trigger": "test", "at": datetime.now(UTC).isoformat()}).encode()
    message_id = publish(own_stack, body)
    run = wait_for_check(cloud, tick_id_of(message_id, body))

    assert run.trigger == "test"
    assert run.decision is Decision.PROMOTED, run.reason
    assert "features drifted" in run.reason
    assert len(run.drift["drifted"]) >= 2
    new = champion_version(cloud)
    assert new == run.challenger_version != champion
    compared = run.challenger_metrics
    assert compared["difference"]["low"] > 0
    assert compared["challenger"]["roc_auc"] > compared["champion"]["roc_auc"]
    loaded = ModelCache(cloud.registry).get_version(new)
    assert loaded.lineage["parent_version"] == champion
    # Read as the project's owner: the retrain function only appends to model_events.
    owner = clients.bigquery_client(own_stack.project, own_stack.endpoints())
    events = list(
        owner.query(
            f"SELECT alias, from_version, to_version, actor FROM "
            f"`{cloud.audit.table}` WHERE to_version = '{new}'"
        ).result()
    )
    assert [(e["alias"], e["from_version"], e["actor"]) for e in events] == [
        ("champion", champion, "retrain_model")
    ]
    # The same tick delivered again (as Pub/Sub may): answered, nothing checked twice.
    envelope = {
        "message": {
            "data": base64.b64encode(body).decode(),
            "messageId": message_id,
            "attributes": {},
        },
        "subscription": "projects/x/subscriptions/y",
    }
    request = urllib.request.Request(
        own_stack.url("retrain_model") + "/",
        data=json.dumps(envelope).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert answer.status in (200, 204)
    assert len(recorded(cloud, run.run_id)) == 1
    assert sum(r.run_id == run.run_id for r in all_runs(cloud)) == 1

    later = tmp_path / "later.csv"
    write_demo_data(later, rows=300, seed=83, drift=1.0)
    (after,) = wait_for_runs(own_stack, [drop(own_stack, later)])
    assert after["model_version"] == new


def test_the_report_lists_every_check(own_stack: StackSettings, cloud: Cloud) -> None:
    from cloudscore.cli import main

    runs = all_runs(cloud)
    assert runs
    out = Path(own_stack.state_dir) / "report.html"
    env = own_stack.client_env()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        assert main(["report", "--out", str(out)]) == 0
    html = out.read_text()
    for run in runs:
        assert run.run_id in html
