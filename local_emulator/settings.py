"""The settings of one local stack: where its state lives, its ports, its resource names and how
events are delivered.

`cloudscore local up` resolves them once and writes them to `<state dir>/stack.json`; every other
command and every process of the stack reads them back from there, so a stack started with other
ports or another state folder is found again without repeating the options.

What the stack serves is the project's, as a deployment's is: the model name and the training
source come from the project configuration (./cloudscore.toml, or `[tool.cloudscore]` in
./pyproject.toml), the dataset, buckets and region from `CLOUDSCORE_*` variables when they are set
(else the stack's own defaults), and the delivery of events from infra/ (`deployment`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Final

from local_emulator.deployment import Capacity, DeliveryPolicy, event_delivery
from local_emulator.iam.hcl import INFRA, read_module
from shared.clients import Endpoints
from shared.config import (
    BIGQUERY_EMULATOR_HOST,
    DATAFLOW_EMULATOR_HOST,
    PUBSUB_EMULATOR_HOST,
    STORAGE_EMULATOR_HOST,
    FunctionConfig,
    StackConfig,
)
from shared.errors import ConfigError, LocalStackError

DEFAULT_STATE_DIR: Final = Path(".cloudscore/local")
STATE_DIR_VARIABLE: Final = "CLOUDSCORE_LOCAL_DIR"
PORT_BASE_VARIABLE: Final = "CLOUDSCORE_LOCAL_PORT_BASE"
PREDICT_URL_VARIABLE: Final = "CLOUDSCORE_PREDICT_URL"
LOCAL_PROJECT: Final = "cloudscore-local"

# Well-known defaults of each emulator, used when no port base is given. Each function reaches
# Cloud Storage and BigQuery through the permission layer on its own port (`iam_<function>`).
DEFAULT_PORTS: Final = {
    "pubsub": 8085,
    "gcs": 4443,
    "bigquery": 9050,
    "bigquery_grpc": 9060,
    "score_file": 8081,
    "predict_rows": 8082,
    "retrain_model": 8083,
    "iam_score_file": 8091,
    "iam_predict_rows": 8092,
    "iam_retrain_model": 8093,
    "dataflow": 8094,
    "iam_dataflow_worker": 8095,
}
FUNCTIONS: Final = ("score_file", "predict_rows", "retrain_model")
# The account the pipeline's Dataflow workers run as (infra/iam.tf's dataflow_worker).
WORKER_ACCOUNT: Final = "dataflow_worker"
# Every account whose calls the permission layer judges, each through a proxy of its own.
ACCOUNTS: Final = (*FUNCTIONS, WORKER_ACCOUNT)
HOST: Final = "127.0.0.1"


def default_state_dir() -> Path:
    return Path(os.environ.get(STATE_DIR_VARIABLE) or DEFAULT_STATE_DIR).resolve()


def default_port_base() -> int | None:
    raw = os.environ.get(PORT_BASE_VARIABLE)
    if not raw:
        return None
    if not raw.isdigit() or not 1024 <= int(raw) <= 65000:
        raise ConfigError(PORT_BASE_VARIABLE, f"expected a port from 1024 to 65000, found {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class Trigger:
    """An Eventarc Pub/Sub trigger: a topic's messages delivered to a function."""

    function: str
    topic: str
    subscription: str


@dataclass(frozen=True)
class StackSettings:
    state_dir: Path
    ports: dict[str, int]
    model_name: str
    delivery: DeliveryPolicy
    capacity: dict[str, Capacity]
    project: str = LOCAL_PROJECT
    region: str = "us-central1"
    inbox_bucket: str = f"{LOCAL_PROJECT}-inbox"
    models_bucket: str = f"{LOCAL_PROJECT}-models"
    pipeline_bucket: str = f"{LOCAL_PROJECT}-pipeline"
    dataset: str = "cloudscore"
    training_source: str | None = None
    project_file: str | None = None  # where the model name came from, for messages
    inbox_topic: str = "cloudscore-inbox-events"
    retrain_topic: str = "cloudscore-retrain"
    retrain_schedule: str = "0 3 * * *"
    retry_time_scale: float = 1.0  # the delivery delays are infra's times this
    # The Terraform whose grants and delivery the stack enforces: the checkout's infra/, or a
    # copy with a change to try before applying it.
    infra_dir: str = str(INFRA)

    @classmethod
    def resolve(
        cls,
        state_dir: Path | None = None,
        port_base: int | None = None,
        *,
        retry_time_scale: float = 1.0,
        max_instances: Mapping[str, int] | None = None,
        project_file: Path | None = None,
        infra_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> StackSettings:
        """The settings of a stack started now, in the current directory."""
        env = os.environ if env is None else env
        base = port_base if port_base is not None else default_port_base()
        if base is not None and not 1024 <= base <= 65535 - len(DEFAULT_PORTS):
            raise ConfigError(
                "--port-base",
                f"expected a port from 1024 to {65535 - len(DEFAULT_PORTS)}, found {base}",
            )
        ports = (
            dict(DEFAULT_PORTS)
            if base is None
            else {name: base + i for i, name in enumerate(DEFAULT_PORTS)}
        )
        stack = StackConfig.from_env(env)
        from croniter import croniter

        if not croniter.is_valid(stack.retrain_schedule):
            raise ConfigError(
                "CLOUDSCORE_RETRAIN_SCHEDULE",
                f"not a valid cron expression: {stack.retrain_schedule!r}",
            )
        if retry_time_scale <= 0:
            raise ConfigError(
                "--retry-time-scale", f"expected more than 0, found {retry_time_scale}"
            )
        infra = (infra_dir or INFRA).resolve()
        if not (infra / "iam.tf").is_file():
            raise ConfigError(
                "--infra", f"expected a folder of the deployment's Terraform, found {infra}"
            )
        delivery = event_delivery(read_module(infra))
        capacity = dict(delivery.capacity)
        for function, instances in (max_instances or {}).items():
            if function not in capacity or instances < 1:
                raise ConfigError(
                    "--max-instances",
                    f"expected FUNCTION=N with N >= 1 and FUNCTION one of {sorted(capacity)}, "
                    f"found {function}={instances}",
                )
            capacity[function] = replace(capacity[function], max_instances=instances)
        model_name, training_source, found_in = _project(project_file, env)
        names = FunctionConfig.from_env(
            {
                "CLOUDSCORE_PROJECT": LOCAL_PROJECT,
                "CLOUDSCORE_INBOX_BUCKET": f"{LOCAL_PROJECT}-inbox",
                "CLOUDSCORE_MODELS_BUCKET": f"{LOCAL_PROJECT}-models",
                "CLOUDSCORE_DATASET": "cloudscore",
                **{k: v for k, v in env.items() if k in _NAMES_FROM_ENV},
                "CLOUDSCORE_MODEL_NAME": model_name,
            }
        )
        return cls(
            state_dir=(state_dir or default_state_dir()).resolve(),
            ports=ports,
            model_name=names.model_name,
            delivery=delivery.policy.scaled(retry_time_scale),
            capacity=capacity,
            region=names.region,
            inbox_bucket=names.inbox_bucket,
            models_bucket=names.models_bucket,
            dataset=names.dataset,
            training_source=training_source,
            project_file=found_in,
            retrain_topic=stack.retrain_topic,
            retrain_schedule=stack.retrain_schedule,
            retry_time_scale=retry_time_scale,
            infra_dir=str(infra),
        )

    # --- where things are -------------------------------------------------------------------
    @property
    def file(self) -> Path:
        return self.state_dir / "stack.json"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def dead_letter_file(self) -> Path:
        return self.state_dir / "dead-letter.jsonl"

    @property
    def gcloud_token_file(self) -> Path:
        # gcloud insists on credentials even for an emulator; any token will do.
        return self.state_dir / "run" / "gcloud-access-token"

    def url(self, component: str) -> str:
        return f"http://{HOST}:{self.ports[component]}"

    def infra(self) -> dict[str, Any]:
        """The Terraform the stack enforces, parsed."""
        return read_module(Path(self.infra_dir))

    def triggers(self) -> list[Trigger]:
        """The event functions' triggers, as infra/functions.tf declares them."""
        return [
            Trigger("score_file", self.inbox_topic, "eventarc-score-file"),
            Trigger("retrain_model", self.retrain_topic, "eventarc-retrain-model"),
        ]

    # --- the environment each part sees ---------------------------------------------------
    def function_config(self) -> FunctionConfig:
        return FunctionConfig(
            project=self.project,
            region=self.region,
            inbox_bucket=self.inbox_bucket,
            models_bucket=self.models_bucket,
            dataset=self.dataset,
            model_name=self.model_name,
            log_level="INFO",
        )

    def emulator_env(self, account: str | None = None) -> dict[str, str]:
        """The emulators' endpoints: an account's (a function's, the Dataflow workers') are its
        own permission layer, anyone else's (people using the CLI, who act as the project's
        owner) the emulators themselves."""
        proxy = self.url(f"iam_{account}") if account else None
        return {
            STORAGE_EMULATOR_HOST: proxy or self.url("gcs"),
            PUBSUB_EMULATOR_HOST: f"{HOST}:{self.ports['pubsub']}",
            BIGQUERY_EMULATOR_HOST: proxy or self.url("bigquery"),
            DATAFLOW_EMULATOR_HOST: proxy or self.url("dataflow"),
        }

    def endpoints(self, account: str | None = None) -> Endpoints:
        """Endpoints as the project's owner, or as `account`'s service account."""
        return Endpoints.from_env(self.emulator_env(account))

    def pipeline_settings(self) -> dict[str, str]:
        """What infra/ sets on the batch function for its hand-off: the pipeline's bucket and
        the account its workers run as."""
        from local_emulator.iam.grants import account_email

        return {
            "CLOUDSCORE_PIPELINE_BUCKET": self.pipeline_bucket,
            "CLOUDSCORE_PIPELINE_SERVICE_ACCOUNT": account_email(
                WORKER_ACCOUNT, self.project, self.infra()
            ),
        }

    def client_env(self) -> dict[str, str]:
        """What a user's shell or a test needs to reach the stack (`cloudscore local env`)."""
        return {
            **self.emulator_env(),
            **self.function_config().to_env(),
            "CLOUDSCORE_RETRAIN_TOPIC": self.retrain_topic,
            STATE_DIR_VARIABLE: str(self.state_dir),
            PREDICT_URL_VARIABLE: self.url("predict_rows"),
            # For `gcloud storage …` (gsutil cannot be pointed at an emulator).
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE": self.url("gcs") + "/",
            "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE": str(self.gcloud_token_file),
            "CLOUDSDK_CORE_PROJECT": self.project,
        }

    # --- persistence ------------------------------------------------------------------------
    def save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data = asdict(self)
        data["state_dir"] = str(self.state_dir)
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.file)
        self.gcloud_token_file.parent.mkdir(parents=True, exist_ok=True)
        self.gcloud_token_file.write_text("local-emulator-token\n")

    @classmethod
    def load(cls, state_dir: Path | None = None) -> StackSettings:
        directory = (state_dir or default_state_dir()).resolve()
        path = directory / "stack.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise LocalStackError(
                "stack", f"no local stack was started in {directory} (run `cloudscore local up`)"
            ) from None
        except ValueError as exc:
            raise LocalStackError("stack", f"{path} is not valid JSON: {exc}") from exc
        try:
            return cls(**_typed(data))
        except (KeyError, TypeError) as exc:
            raise LocalStackError(
                "stack",
                f"{path} was written by another version of cloudscore ({exc}); "
                "`cloudscore local down` still stops it, then `up` starts it anew",
            ) from exc


# The stack's names a user may choose, as a deployment's: set in the environment `up` runs in.
_NAMES_FROM_ENV: Final = frozenset(
    {
        "CLOUDSCORE_REGION",
        "CLOUDSCORE_INBOX_BUCKET",
        "CLOUDSCORE_MODELS_BUCKET",
        "CLOUDSCORE_DATASET",
    }
)


def _typed(data: dict[str, Any]) -> dict[str, Any]:
    return {
        **data,
        "state_dir": Path(data["state_dir"]),
        "delivery": DeliveryPolicy(**data["delivery"]),
        "capacity": {name: Capacity(**c) for name, c in data["capacity"].items()},
    }


def _project(
    project_file: Path | None, env: Mapping[str, str]
) -> tuple[str, str | None, str | None]:
    """The model name and training source of the project being run, and the file they came
    from: the project configuration, found as `cloudscore train` finds it."""
    from shared.project_config import find_project_file, load_project_config

    path = project_file or find_project_file()
    named = (env.get("CLOUDSCORE_MODEL_NAME") or "").strip()
    if path is None:
        if named:
            return named, None, None
        raise ConfigError(
            "cloudscore.toml",
            "the local cloud serves the project's model, but no project configuration was found "
            f"in {Path.cwd()} (./cloudscore.toml, or [tool.cloudscore] in ./pyproject.toml): run "
            "`cloudscore local up` in the project's folder, or set CLOUDSCORE_MODEL_NAME",
        )
    config = load_project_config(path)
    if named and named != config.model_name:
        raise ConfigError(
            "CLOUDSCORE_MODEL_NAME",
            f"is {named!r} but {path} names the model {config.model_name!r}: the stack would serve "
            "a model that `cloudscore train` does not register; unset one or make them agree",
        )
    return config.model_name, config.training_source, str(path)
