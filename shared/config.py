"""Configuration: every `CLOUDSCORE_*` environment variable, declared once, read in one place.

Functions read `FunctionConfig.from_env()` once per instance; Terraform sets the same names on the
deployed functions and the local stack sets them on its function processes, both from
`FunctionConfig.to_env()`. Emulator endpoints use the client libraries' own variables
(`STORAGE_EMULATOR_HOST`, `PUBSUB_EMULATOR_HOST`) plus `BIGQUERY_EMULATOR_HOST`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final, Self

from shared.errors import ConfigError

PREFIX: Final = "CLOUDSCORE_"

# Endpoint variables of the emulators, read by `shared.clients`.
STORAGE_EMULATOR_HOST: Final = "STORAGE_EMULATOR_HOST"
PUBSUB_EMULATOR_HOST: Final = "PUBSUB_EMULATOR_HOST"
BIGQUERY_EMULATOR_HOST: Final = "BIGQUERY_EMULATOR_HOST"
# The Dataflow API's endpoint (with scheme): the local cloud's Dataflow, which runs the pipeline
# on Beam's DirectRunner.
DATAFLOW_EMULATOR_HOST: Final = "DATAFLOW_EMULATOR_HOST"

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variable:
    """One environment variable: its name, what it holds, its default and how to check it."""

    name: str
    help: str
    default: str | None  # None: required
    pattern: str | None = None
    expected: str = ""  # the expected form, said in the error when the pattern does not match
    # "function": set on every function; a function's name: set on that one only;
    # "stack": read by the deployment and the local tools, not by functions.
    scope: str = "function"

    def parse(self, env: Mapping[str, str]) -> str:
        raw = env.get(self.name)
        if raw is None or raw.strip() == "":
            if self.default is None:
                raise ConfigError(self.name, f"is not set; expected {self.expected or self.help}")
            return self.default
        value = raw.strip()
        if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
            raise ConfigError(self.name, f"expected {self.expected}, found {raw!r}")
        return value


_BUCKET = r"[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]"
_BUCKET_FORM = "a bucket name (3-63 of a-z 0-9 - _ ., starting and ending with a letter or digit)"

VARIABLES: Final[tuple[Variable, ...]] = (
    Variable(
        "CLOUDSCORE_PROJECT",
        "Google Cloud project id that holds the buckets, dataset and topics",
        None,
        r"[a-z][a-z0-9-]{4,28}[a-z0-9]",
        "a project id (6-30 of a-z 0-9 -, starting with a letter)",
    ),
    Variable(
        "CLOUDSCORE_REGION",
        "region of the functions and the dataset",
        "us-central1",
        r"[a-z]+-[a-z]+[0-9]+|US|EU",
        "a region such as us-central1 (or the multi-region US / EU)",
    ),
    Variable(
        "CLOUDSCORE_INBOX_BUCKET",
        "bucket whose incoming/ prefix receives the files to score",
        None,
        _BUCKET,
        _BUCKET_FORM,
    ),
    Variable(
        "CLOUDSCORE_MODELS_BUCKET",
        "bucket of the model registry",
        None,
        _BUCKET,
        _BUCKET_FORM,
    ),
    Variable(
        "CLOUDSCORE_DATASET",
        "BigQuery dataset of predictions, rejected rows, runs and audit tables",
        None,
        r"[A-Za-z0-9_]{1,1024}",
        "a dataset id (letters, digits and underscores)",
    ),
    Variable(
        "CLOUDSCORE_MODEL_NAME",
        "name of the model in the registry",
        None,
        r"[a-z][a-z0-9_-]{0,62}",
        "a model name (1-63 of a-z 0-9 _ -, starting with a letter)",
    ),
    Variable(
        "CLOUDSCORE_LOG_LEVEL",
        "lowest severity written to the log",
        "INFO",
        r"DEBUG|INFO|WARNING|ERROR",
        "one of DEBUG, INFO, WARNING, ERROR",
    ),
    Variable(
        "CLOUDSCORE_RETRAIN_TOPIC",
        "Pub/Sub topic the scheduler publishes to and the retrain function is triggered by",
        "cloudscore-retrain",
        r"[A-Za-z][A-Za-z0-9._~%+-]{2,254}",
        "a topic name (3-255 characters, starting with a letter)",
        scope="stack",
    ),
    Variable(
        "CLOUDSCORE_RETRAIN_SCHEDULE",
        "cron expression (5 fields, UTC) of the scheduled retrain check",
        "0 3 * * *",
        r"(\S+\s+){4}\S+",
        "a 5-field cron expression such as '0 3 * * *'",
        scope="stack",
    ),
)

_POSITIVE_INT = r"[1-9][0-9]{0,8}"
_POSITIVE_SECONDS = r"[0-9]{1,5}(\.[0-9]+)?"

BATCH_VARIABLES: Final[tuple[Variable, ...]] = (
    Variable(
        "CLOUDSCORE_BATCH_CHUNK_ROWS",
        "rows read, validated, scored and loaded at a time; bounds the scorer's memory",
        "50000",
        _POSITIVE_INT,
        "a whole number of rows, at least 1",
        scope="score_file",
    ),
    Variable(
        "CLOUDSCORE_BATCH_TIME_BUDGET_S",
        "seconds an attempt scores before it saves its progress and lets a retry carry on; "
        "keep it below the function's timeout (540 s at most for event functions)",
        "480",
        _POSITIVE_SECONDS,
        "a number of seconds such as 480",
        scope="score_file",
    ),
    Variable(
        "CLOUDSCORE_BATCH_HANDOFF_BYTES",
        "files larger than this are scored by the pipeline on Dataflow instead of attempt "
        "after attempt of the function; 'auto': what one attempt scores within "
        "CLOUDSCORE_BATCH_TIME_BUDGET_S at the measured rate; 0: never hand off",
        "auto",
        r"auto|[0-9]{1,15}",
        "'auto' or a whole number of bytes (0: never)",
        scope="score_file",
    ),
    Variable(
        "CLOUDSCORE_PIPELINE_BUCKET",
        "bucket of the pipeline's Flex Template (templates/), staging and temp files; set by "
        "the deployment; empty: no pipeline, every file is scored by the function",
        "",
        r"|" + _BUCKET,
        _BUCKET_FORM,
        scope="score_file",
    ),
    Variable(
        "CLOUDSCORE_PIPELINE_SERVICE_ACCOUNT",
        "service account the pipeline's Dataflow workers run as; set by the deployment",
        "",
        r"|[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9.-]+\.iam\.gserviceaccount\.com",
        "a service account's email (NAME@PROJECT.iam.gserviceaccount.com)",
        scope="score_file",
    ),
)

# What one function attempt scores, to size CLOUDSCORE_BATCH_HANDOFF_BYTES's 'auto': the rows
# per second of the scoring core as the deployed function runs it (one vCPU, the model at one
# thread) and the bytes a row takes in the densest format it reads (Parquet: 19.6 bytes, against
# 26.5 gzipped CSV, 134 CSV, 539 JSONL), so that no file below the size holds more rows than an
# attempt scores. Measured on the demo data (`bench/batch.py --rows 1000000 --threads 1 --no-e2e`,
# 2026-12-06, a shared 2-core machine at load 5-7): (b) on Parquet 103,219 rows/s, the median of
# 3 runs (83,659 to 111,048; a quieter single run 192,578); `bench/pipeline_vcpu.py` puts the
# same work at ~205,000 rows per CPU-second. The lower figure is kept: the BigQuery loads are
# not in it, and a file handed off a little early costs a Dataflow job, one carried over several
# attempts costs a redelivery per attempt. With the default 480 s budget: 960 MB.
MEASURED_BATCH_ROWS_PER_S: Final = 100_000
MEASURED_PARQUET_BYTES_PER_ROW: Final = 20

PREDICT_VARIABLES: Final[tuple[Variable, ...]] = (
    Variable(
        "CLOUDSCORE_PREDICT_MAX_BODY_BYTES",
        "largest request body accepted, in bytes; larger ones are answered 413",
        "1048576",
        _POSITIVE_INT,
        "a whole number of bytes, at least 1",
        scope="predict_rows",
    ),
    Variable(
        "CLOUDSCORE_PREDICT_MAX_INSTANCES",
        "most instances in one request; more are answered 413",
        "1000",
        _POSITIVE_INT,
        "a whole number, at least 1",
        scope="predict_rows",
    ),
    Variable(
        "CLOUDSCORE_PREDICT_LOG_SAMPLE_RATE",
        "share of answered requests logged to BigQuery online_predictions (0 to 1)",
        "1",
        r"0|1|0?\.[0-9]+|1\.0*",
        "a share from 0 to 1 such as 0.1",
        scope="predict_rows",
    ),
    Variable(
        "CLOUDSCORE_PREDICT_SHADOW",
        "also score each request with the challenger, off the response path, and log both",
        "false",
        r"true|false",
        "true or false",
        scope="predict_rows",
    ),
    Variable(
        "CLOUDSCORE_MODEL_REFRESH_S",
        "seconds a served alias is trusted before it is read again: a moved champion is "
        "picked up within this time",
        "30",
        _POSITIVE_SECONDS,
        "a number of seconds such as 30",
        scope="predict_rows",
    ),
)

_BY_NAME: Final = {v.name: v for v in (*VARIABLES, *BATCH_VARIABLES, *PREDICT_VARIABLES)}


def declared_names() -> frozenset[str]:
    return frozenset(_BY_NAME)


def warn_unknown(env: Mapping[str, str], extra_known: frozenset[str] = frozenset()) -> list[str]:
    """Log and return the `CLOUDSCORE_*` names nothing reads (else a typo passes in silence)."""
    known = declared_names() | extra_known
    unknown = sorted(n for n in env if n.startswith(PREFIX) and n not in known)
    for name in unknown:
        _log.warning("unknown setting %s is ignored; known: %s", name, ", ".join(sorted(known)))
    return unknown


def _read(env: Mapping[str, str], name: str) -> str:
    return _BY_NAME[name].parse(env)


@dataclass(frozen=True)
class FunctionConfig:
    """What every function needs to know, validated at start."""

    project: str
    region: str
    inbox_bucket: str
    models_bucket: str
    dataset: str
    model_name: str
    log_level: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FunctionConfig:
        source = os.environ if env is None else env
        warn_unknown(source, _LOCAL_NAMES)
        return cls(**{f.name: _read(source, PREFIX + f.name.upper()) for f in fields(cls)})

    def to_env(self) -> dict[str, str]:
        """The exact `CLOUDSCORE_*` variables a deployed function gets (Terraform sets these)."""
        return {PREFIX + f.name.upper(): str(getattr(self, f.name)) for f in fields(self)}


def _setting(variable: str, kind: type, **bounds: float) -> Any:
    """A field of a function's own settings: read from `variable` as `kind`, its default the
    variable's own (written once, in its `Variable`), with optional bounds: `above`
    (exclusive), `at_least`, `at_most`. The variable's pattern checks the form, the bounds the
    value."""
    default = _parsed(kind, _BY_NAME[variable].default or "")
    return field(default=default, metadata={"variable": variable, "kind": kind, **bounds})


def _parsed(kind: type, raw: str) -> Any:
    return raw.lower() == "true" if kind is bool else kind(raw)


class _OwnSettings:
    """Settings one function reads beside the common ones: each field made by `_setting`."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        source = os.environ if env is None else env
        values: dict[str, object] = {}
        for item in fields(cls):  # type: ignore[arg-type]
            name = item.metadata["variable"]
            raw = _read(source, name)
            value = _parsed(item.metadata["kind"], raw)
            above = item.metadata.get("above")
            at_least = item.metadata.get("at_least")
            at_most = item.metadata.get("at_most")
            if above is not None and value <= above:
                raise ConfigError(name, f"expected more than {above}, found {raw!r}")
            if at_least is not None and value < at_least:
                raise ConfigError(name, f"expected at least {at_least}, found {raw!r}")
            if at_most is not None and value > at_most:
                raise ConfigError(name, f"expected at most {at_most}, found {raw!r}")
            values[item.name] = value
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        return {
            item.metadata["variable"]: _format(getattr(self, item.name))
            for item in fields(self)  # type: ignore[arg-type]
        }


def _format(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@dataclass(frozen=True)
class BatchConfig(_OwnSettings):
    """Settings of the batch scorer only (`score_file`)."""

    chunk_rows: int = _setting("CLOUDSCORE_BATCH_CHUNK_ROWS", int)
    time_budget_s: float = _setting("CLOUDSCORE_BATCH_TIME_BUDGET_S", float, above=0)
    handoff: str = _setting("CLOUDSCORE_BATCH_HANDOFF_BYTES", str)
    pipeline_bucket: str = _setting("CLOUDSCORE_PIPELINE_BUCKET", str)
    pipeline_service_account: str = _setting("CLOUDSCORE_PIPELINE_SERVICE_ACCOUNT", str)

    @property
    def handoff_bytes(self) -> int | None:
        """Files larger than this go to the pipeline; None: none does (no pipeline deployed,
        or hand-off turned off with 0)."""
        if not self.pipeline_bucket or self.handoff == "0":
            return None
        if self.handoff == "auto":
            rows = self.time_budget_s * MEASURED_BATCH_ROWS_PER_S
            return int(rows * MEASURED_PARQUET_BYTES_PER_ROW)
        return int(self.handoff)


@dataclass(frozen=True)
class PredictConfig(_OwnSettings):
    """Settings of the HTTP predictor only (`predict_rows`)."""

    max_body_bytes: int = _setting("CLOUDSCORE_PREDICT_MAX_BODY_BYTES", int)
    max_instances: int = _setting("CLOUDSCORE_PREDICT_MAX_INSTANCES", int)
    log_sample_rate: float = _setting(
        "CLOUDSCORE_PREDICT_LOG_SAMPLE_RATE", float, at_least=0, at_most=1
    )
    shadow: bool = _setting("CLOUDSCORE_PREDICT_SHADOW", bool)
    model_refresh_s: float = _setting("CLOUDSCORE_MODEL_REFRESH_S", float, at_least=0)


@dataclass(frozen=True)
class StackConfig:
    """Settings of the deployment around the functions: topics and schedules."""

    retrain_topic: str
    retrain_schedule: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StackConfig:
        source = os.environ if env is None else env
        return cls(**{f.name: _read(source, PREFIX + f.name.upper()) for f in fields(cls)})


# Names read by the local stack only (local_emulator.settings); listed here so they are not
# reported as unknown.
_LOCAL_NAMES: Final = frozenset(
    {"CLOUDSCORE_LOCAL_DIR", "CLOUDSCORE_LOCAL_PORT_BASE", "CLOUDSCORE_PREDICT_URL"}
)

FUNCTION_VARIABLES: Final = tuple(v.name for v in VARIABLES if v.scope == "function")


def variables_of(function: str) -> tuple[str, ...]:
    """Every `CLOUDSCORE_*` name the function `function` reads: the common ones and its own."""
    own = tuple(v.name for v in _BY_NAME.values() if v.scope == function)
    return FUNCTION_VARIABLES + own
