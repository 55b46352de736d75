"""The settings of one local stack: where its state lives, its ports and its resource names.

`cloudscore local up` resolves them once and writes them to `<state dir>/stack.json`; every other
command and every process of the stack reads them back from there, so a stack started with other
ports or another state folder is found again without repeating the options.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

from shared.clients import Endpoints
from shared.config import (
    BIGQUERY_EMULATOR_HOST,
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

# Well-known defaults of each emulator, used when no port base is given.
DEFAULT_PORTS: Final = {
    "pubsub": 8085,
    "gcs": 4443,
    "bigquery": 9050,
    "bigquery_grpc": 9060,
    "score_file": 8081,
    "predict_rows": 8082,
    "retrain_model": 8083,
}
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
class BridgePolicy:
    """How the local Eventarc bridge retries a delivery the function did not accept."""

    max_attempts: int = 5
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    # Eventarc waits for the function as long as the function's own timeout (540 s at most).
    request_timeout_s: float = 600.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return float(min(self.initial_backoff_s * 2 ** (attempt - 1), self.max_backoff_s))


@dataclass(frozen=True)
class StackSettings:
    state_dir: Path
    ports: dict[str, int]
    project: str = "cloudscore-local"
    region: str = "us-central1"
    inbox_bucket: str = "cloudscore-local-inbox"
    models_bucket: str = "cloudscore-local-models"
    dataset: str = "cloudscore"
    model_name: str = "loan-default"
    notifications_topic: str = "cloudscore-inbox-notifications"
    bridge_subscription: str = "cloudscore-eventarc-bridge"
    retrain_subscription: str = "cloudscore-retrain-push"
    retrain_topic: str = "cloudscore-retrain"
    retrain_schedule: str = "0 3 * * *"
    bridge: BridgePolicy = field(default_factory=BridgePolicy)

    @classmethod
    def resolve(
        cls,
        state_dir: Path | None = None,
        port_base: int | None = None,
        bridge: BridgePolicy | None = None,
    ) -> StackSettings:
        base = port_base if port_base is not None else default_port_base()
        if base is not None and not 1024 <= base <= 65535 - len(DEFAULT_PORTS):
            raise ConfigError("--port-base", f"expected a port from 1024 to 65528, found {base}")
        ports = (
            dict(DEFAULT_PORTS)
            if base is None
            else {name: base + i for i, name in enumerate(DEFAULT_PORTS)}
        )
        stack = StackConfig.from_env()
        from croniter import croniter

        if not croniter.is_valid(stack.retrain_schedule):
            raise ConfigError(
                "CLOUDSCORE_RETRAIN_SCHEDULE",
                f"not a valid cron expression: {stack.retrain_schedule!r}",
            )
        return cls(
            state_dir=(state_dir or default_state_dir()).resolve(),
            ports=ports,
            retrain_topic=stack.retrain_topic,
            retrain_schedule=stack.retrain_schedule,
            bridge=bridge or BridgePolicy(),
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

    def emulator_env(self) -> dict[str, str]:
        return {
            STORAGE_EMULATOR_HOST: self.url("gcs"),
            PUBSUB_EMULATOR_HOST: f"{HOST}:{self.ports['pubsub']}",
            BIGQUERY_EMULATOR_HOST: self.url("bigquery"),
        }

    def endpoints(self) -> Endpoints:
        return Endpoints.from_env(self.emulator_env())

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
            data["state_dir"] = Path(data["state_dir"])
            data["bridge"] = BridgePolicy(**data["bridge"])
            return cls(**data)
        except (KeyError, TypeError) as exc:
            raise LocalStackError(
                "stack",
                f"{path} was written by another version of cloudscore ({exc}); "
                "`cloudscore local down` still stops it, then `up` starts it anew",
            ) from exc
