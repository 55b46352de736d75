"""One check of the champion: the use case behind the retrain function and `cloudscore retrain`.

    lock ─► champion (version, its configuration and reference) ─► what it scored in the window,
         with the labels that arrived, and the drift counts of its inputs ─► cut into periods of
         the data's time: per period realized and estimated performance, drift, row counts
         ─► decide over the recent periods ─► maybe retrain and challenge
         ─► HTML report (bucket) ─► `monitoring_runs` row ─► tick marked done ─► unlock

A tick is identified by its Pub/Sub message (`tick_id_of`): a redelivered tick that was done
does nothing, and one whose check is still under way elsewhere is retried later (a transient
error), so a tick is checked once even if its first holder crashes. Another tick arriving
during a check is recorded as skipped.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.errors import CloudscoreError, PermissionDenied, TransientError, VersionNotFound
from shared.model_cache import ModelCache
from shared.monitoring.challenge import challenge
from shared.monitoring.history import MonitoringHistory, report_path, store_report
from shared.monitoring.lock import CheckLock, Held
from shared.monitoring.period_table import build_periods, drift_threshold
from shared.monitoring.policy import alert_limit, decide, judge_periods, metric_drop
from shared.monitoring.quality import scored_rows
from shared.monitoring.record import Decision, MonitoringRun
from shared.monitoring.report import render_report
from shared.monitoring.tasks import MetricContext, task_monitoring
from shared.monitoring.window_drift import window_drift
from shared.project_config import ProjectConfig, parse_project_config
from shared.registry import PROJECT_FILE, ModelVersion

if TYPE_CHECKING:
    from google.cloud import bigquery, storage

    # The fields below are named storage and bigquery: in the class these names are taken.
    from google.cloud.bigquery import Client as BigQueryClient
    from google.cloud.storage import Client as StorageClient

    from shared.audit import AuditLog
    from shared.config import FunctionConfig
    from shared.registry import ModelRegistry

_log = logging.getLogger(__name__)


class CheckInProgress(TransientError):
    """The same tick is being checked by another instance: try again after it finishes."""


@dataclass(frozen=True)
class CheckRequest:
    trigger: str = "manual"
    tick_id: str | None = None  # a scheduler tick's (`tick_id_of`); none for a check by hand
    force: bool = False
    dry_run: bool = False  # measure and decide; train, move and record nothing
    config: ProjectConfig | None = None  # default: the one the champion was trained with


@dataclass(frozen=True)
class Cloud:
    """What a check works against."""

    registry: ModelRegistry
    storage: storage.Client
    bigquery: bigquery.Client
    dataset: str
    location: str  # the dataset's: CLOUDSCORE_REGION
    audit: AuditLog
    actor: str
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    @classmethod
    def of(
        cls,
        config: FunctionConfig,
        storage: StorageClient,
        bigquery: BigQueryClient,
        actor: str,
    ) -> Cloud:
        """The cloud a deployment's settings name: its models bucket, model and dataset."""
        from shared.audit import AuditLog
        from shared.registry import ModelRegistry

        return cls(
            registry=ModelRegistry(storage, config.models_bucket, config.model_name),
            storage=storage,
            bigquery=bigquery,
            dataset=config.dataset,
            location=config.region,
            audit=AuditLog(bigquery, config.dataset, location=config.region),
            actor=actor,
        )


def run_check(cloud: Cloud, request: CheckRequest) -> MonitoringRun | None:
    """The check's record; None when the tick was already checked."""
    lock = CheckLock(cloud.registry.bucket, cloud.registry.prefix, clock=cloud.clock)
    started = cloud.clock()
    run_id = _run_id(request, started)
    if request.tick_id and lock.done_run(request.tick_id):
        _log.info("tick %s was already checked; nothing to do", request.tick_id)
        return None
    if request.dry_run:
        return _measure_and_decide(cloud, request, run_id, started)
    held = lock.acquire(run_id, request.tick_id or "")
    if not isinstance(held, Held):
        if request.tick_id and held.tick_id == request.tick_id:
            raise CheckInProgress(
                f"tick {request.tick_id} is being checked by {held.run_id} (since "
                f"{held.acquired_at}); try again after it ends"
            )
        run = MonitoringRun(
            run_id=run_id,
            started_at=started,
            decision=Decision.SKIPPED,
            reason=f"another check ({held.run_id}, since {held.acquired_at}) holds the lock "
            f"until {held.expires_at}",
            trigger=request.trigger,
            ended_at=cloud.clock(),
        )
        return _finish(cloud, lock, request, run)
    try:
        run = _measure_and_decide(cloud, request, run_id, started)
        return _finish(cloud, lock, request, run)
    finally:
        lock.release(held)


def _run_id(request: CheckRequest, started: datetime) -> str:
    if request.tick_id:  # the same tick, the same run: its row is written once
        digest = hashlib.sha256(request.tick_id.encode()).hexdigest()[:12]
        return f"check-{digest}"
    return f"check-{started:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _finish(
    cloud: Cloud,
    lock: CheckLock,
    request: CheckRequest,
    run: MonitoringRun,
) -> MonitoringRun:
    history = MonitoringHistory(cloud.bigquery, cloud.dataset, location=cloud.location)
    path = report_path(cloud.registry.prefix, run.run_id)
    run = replace(run, report_uri=f"gs://{cloud.registry.bucket_name}/{path}")
    html = render_report(
        cloud.registry.model_name,
        [*history.runs(), run],
        generated_at=cloud.clock(),
        focus_run_id=run.run_id,
    )
    store_report(cloud.registry.bucket, path, html)
    history.record(run)
    if request.tick_id:
        lock.mark_done(request.tick_id, run.run_id)
    return run


def _measure_and_decide(
    cloud: Cloud, request: CheckRequest, run_id: str, started: datetime
) -> MonitoringRun:
    base = MonitoringRun(
        run_id=run_id,
        started_at=started,
        decision=Decision.FAILED,
        reason="",
        trigger=request.trigger,
    )
    pointer = cloud.registry.alias("champion")
    if pointer is None:
        return replace(
            base,
            decision=Decision.NO_CHAMPION,
            reason="no champion to check yet (train one with `cloudscore train --promote`)",
            ended_at=cloud.clock(),
        )
    base = replace(base, champion_version=pointer.version)
    try:
        champion = ModelCache(cloud.registry).get_version(pointer.version)
        pointer.check(champion)
        config = request.config or _trained_config(cloud.registry, champion)
        run = _judge(cloud, request, base, champion, config)
        if run.decision is not Decision.WOULD_RETRAIN or request.dry_run:
            return replace(run, ended_at=cloud.clock())
        outcome = challenge(
            champion,
            pointer,
            config,
            registry=cloud.registry,
            audit=cloud.audit,
            storage_client=cloud.storage,
            bigquery_client=cloud.bigquery,
            actor=cloud.actor,
            why=f"retrained because {run.reason}",
        )
        return replace(
            run,
            decision=outcome.decision,
            reason=outcome.reason,
            challenger_version=outcome.challenger_version,
            challenger_metrics=outcome.metrics,
            promoted=outcome.promoted,
            ended_at=cloud.clock(),
        )
    except CloudscoreError as exc:
        # A permission refused is not fixed by redelivering this tick: the check is recorded
        # as failed, with the permission in its reason, and the next tick tries again.
        if exc.retryable and not isinstance(exc, PermissionDenied):
            raise
        # A permanent problem (no training source, bad data, a refused read) is the check's
        # outcome: recorded, and the champion untouched.
        # `check_decision` is what the deployment's log-based metric counts (infra/monitoring.tf).
        _log.error(
            "check %s failed: %s", run_id, exc, extra={"check_decision": Decision.FAILED.value}
        )
        return replace(base, reason=str(exc), ended_at=cloud.clock())


def _trained_config(registry: ModelRegistry, champion: ModelVersion) -> ProjectConfig:
    data = champion.project_config
    where = f"gs://{registry.bucket_name}/{registry.prefix}/versions/{champion.version}"
    if data is None:
        raise VersionNotFound(
            f"{where} has no {PROJECT_FILE} (it was trained by an older cloudscore), so the "
            "check does not know its configuration; retrain it with `cloudscore train`, or run "
            "`cloudscore retrain --config cloudscore.toml`"
        )
    return parse_project_config(data, f"{where}/{PROJECT_FILE}")


def _judge(
    cloud: Cloud,
    request: CheckRequest,
    run: MonitoringRun,
    champion: ModelVersion,
    config: ProjectConfig,
) -> MonitoringRun:
    from shared.values import label_text

    policy = config.monitoring
    now = cloud.clock()
    since = now - timedelta(days=policy.window_days)
    trained: dict[str, Any] = champion.metrics
    metric = config.primary_metric
    test_value = trained.get("test", {}).get(metric)
    monitoring = task_monitoring(config.task)
    context = MetricContext(
        positive_label=label_text(config.positive_label),
        threshold=float(champion.model.threshold),
        cost=config.cost,
        seed=config.seed,
        classes=tuple(champion.model.classes),
    )
    rows = scored_rows(cloud.bigquery, cloud.dataset, champion.version, since)
    drift = window_drift(
        cloud.bigquery,
        cloud.dataset,
        champion.version,
        since,
        reference=champion.reference,
        period=policy.periods,
    )
    periods = build_periods(
        rows,
        drift,
        monitoring=monitoring,
        context=context,
        policy=policy,
        metric=metric,
        sampling=champion.reference.get("sampling"),
    )
    periods = judge_periods(policy, periods, metric=metric, test_value=test_value)
    created = datetime.fromisoformat(champion.manifest["created_at"])
    age_days = (now - created).total_seconds() / 86400
    verdict = decide(policy, periods, metric=metric, age_days=age_days, force=request.force)
    labelled = rows[rows["label"].notna()]
    pooled = (
        monitoring.realized(labelled, context).values
        if len(labelled) >= policy.min_labelled_rows
        else {}
    )
    value = pooled.get(metric)
    metrics = {
        "labelled_rows": len(labelled),
        "window_days": policy.window_days,
        "period": policy.period,
        "primary_metric": metric,
        "values": {name: round(v, 6) for name, v in pooled.items()},
        "test_value": test_value,
        "drop": None
        if value is None or test_value is None
        else round(metric_drop(metric, value, test_value), 6),
        "age_days": round(age_days, 2),
        # What the periods were judged by, for the report's thresholds.
        "alert_limit": alert_limit(policy, metric, test_value),
        "recent_periods": policy.recent_periods,
        "alert_periods": policy.alert_periods,
        "drift_min_features": policy.drift_min_features,
        "task": config.task,
        # Why no period has an estimate, for the report (None: the task has one).
        "no_estimate": monitoring.no_estimate,
    }
    summary = drift.pooled().summary(drift_threshold(policy), statistic=policy.drift_statistic)
    window = {
        "rows": summary["rows"],
        "files": drift.files,
        "online_rows": drift.online_rows,
        **{key: summary[key] for key in _DRIFT_KEYS},
    }
    return replace(
        run,
        decision=verdict.decision,
        reason=verdict.reason,
        metrics=metrics,
        drift=window,
        periods=[row.record() for row in periods],
    )


_DRIFT_KEYS = (
    "threshold", "statistic", "psi", "jensen_shannon", "score_psi", "score_jensen_shannon",
    "drifted",
)  # fmt: skip


def tick_id_of(message_id: str, data: bytes) -> str:
    """A tick's identity: its Pub/Sub message id, and a digest of its body. Redeliveries share
    both; the digest keeps ticks apart where message ids repeat (an emulator restarted counts
    from 1 again, and the local scheduler's body carries the time it was published)."""
    return f"{message_id}-{hashlib.sha256(data).hexdigest()[:12]}"


def tick_request(message_id: str, data: bytes) -> CheckRequest:
    """The check a Pub/Sub tick asks for: its JSON body may name the trigger and force a retrain
    (`{"trigger": "schedule"}` from the scheduler; anything else reads as a scheduled tick)."""
    import json

    try:
        body = json.loads(data) if data else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return CheckRequest(
        trigger=str(body.get("trigger") or "schedule")[:64],
        tick_id=tick_id_of(message_id, data) if message_id else None,
        force=body.get("force") is True,
    )
