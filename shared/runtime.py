"""What a function instance sets up once: its validated configuration and its logging."""

from __future__ import annotations

import atexit
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from shared.config import BatchConfig, FunctionConfig, PredictConfig
from shared.errors import CloudscoreError
from shared.structured_log import configure_logging, labels_of, log_labels

if TYPE_CHECKING:
    from shared.dataflow import PipelineLauncher
    from shared.model_cache import ModelCache
    from shared.monitoring.check import Cloud
    from shared.scoring.handoff import Handoff
    from shared.serving.service import PredictionService

# How long an HTTP request may wait on Cloud Storage retrying a read of the registry, before it
# is answered 503 (a client retries that): well within the function's request timeout (60 s by
# default, infra/variables.tf), where the client's own policy would retry for 120 s and the
# caller would get the platform's 504 instead. An instance that read the champion once keeps it
# meanwhile (`ModelCache.resolve`).
REGISTRY_READ_DEADLINE_S = 5.0


@functools.cache
def instance_config(component: str) -> FunctionConfig:
    """Read and validate the configuration on first use (not at import, so `import` is cheap
    and a test can set the environment first); a bad setting fails every call with its name."""
    configure_logging(component)
    config = FunctionConfig.from_env()
    configure_logging(component, config.log_level)
    return config


@functools.cache
def batch_config() -> BatchConfig:
    """The batch scorer's own settings, read once per instance."""
    return BatchConfig.from_env()


@functools.cache
def pipeline_handoff(config: FunctionConfig, settings: BatchConfig) -> Handoff | None:
    """How this instance hands a large file to the pipeline; None when no pipeline is deployed
    (CLOUDSCORE_PIPELINE_BUCKET empty) or hand-off is off."""
    from shared.scoring.handoff import Handoff

    above = settings.handoff_bytes
    if above is None:
        return None

    def launcher() -> PipelineLauncher:
        from shared.clients import dataflow_clients, storage_client
        from shared.dataflow import PipelineLauncher, PipelineLocation

        where = PipelineLocation(
            config.project,
            config.region,
            settings.pipeline_bucket,
            settings.pipeline_service_account,
        )
        return PipelineLauncher(where, *dataflow_clients(), storage_client(config.project))

    # The workers read what a function reads, with this instance's chunk size.
    worker_settings = {
        **config.to_env(),
        "CLOUDSCORE_BATCH_CHUNK_ROWS": str(settings.chunk_rows),
    }
    return Handoff(above, functools.cache(launcher), worker_settings)


def run_event_handler(component: str, handler: Callable[[], None]) -> None:
    """Run the work of an event function with the platform's retry semantics.

    A permanent error (bad event, bad file) is logged and acknowledged: retrying it would fail the
    same way for up to a day. A transient error and anything unexpected is raised, so the platform
    delivers the event again.
    """
    log = logging.getLogger(component)
    try:
        handler()
    except CloudscoreError as exc:
        with log_labels(**labels_of(exc)):
            if exc.retryable:
                # Said here, in the structured log, before the platform's own report of it.
                log.warning("%s: %s (the event will be delivered again)", type(exc).__name__, exc)
                raise
            log.error("%s: %s (acknowledged, not retried)", type(exc).__name__, exc)


@functools.cache
def model_cache(
    config: FunctionConfig, refresh_s: float = 30.0, read_deadline_s: float | None = None
) -> ModelCache:
    """One cache per instance: models stay loaded across requests and events."""
    from shared.clients import storage_client
    from shared.model_cache import ModelCache
    from shared.registry import ModelRegistry

    registry = ModelRegistry(
        storage_client(config.project), config.models_bucket, config.model_name, read_deadline_s
    )
    return ModelCache(registry, refresh_s=refresh_s)


@functools.cache
def prediction_service() -> PredictionService:
    """The HTTP predictor of this instance, built on its first request."""
    from shared.serving.prediction_log import PredictionLog, bigquery_writer
    from shared.serving.service import PredictionService

    config = instance_config("predict_rows")
    settings = PredictConfig.from_env()
    log = PredictionLog(
        bigquery_writer(config.project, config.dataset, config.region),
        sample_rate=settings.log_sample_rate,
    )
    models = model_cache(config, settings.model_refresh_s, REGISTRY_READ_DEADLINE_S)
    service = PredictionService(models, settings, log)
    # At exit (the platform stops an instance with SIGTERM, and gunicorn's worker exits):
    # shadow predictions under way are finished and the log is flushed.
    atexit.register(service.close)
    return service


@functools.cache
def monitoring_cloud() -> Cloud:
    """What the retrain function's checks work against, built on its first tick."""
    from shared.clients import bigquery_client, storage_client
    from shared.monitoring.check import Cloud

    config = instance_config("retrain_model")
    return Cloud.of(
        config, storage_client(config.project), bigquery_client(config.project), "retrain_model"
    )
