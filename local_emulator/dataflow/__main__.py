"""`python -m local_emulator.dataflow --state-dir DIR`: serve the stack's local Dataflow."""

from __future__ import annotations

import logging
import os
import sys
import threading
import urllib.error
import urllib.request
from urllib.parse import quote

from local_emulator.dataflow.jobs import JobStore
from local_emulator.dataflow.server import LocalDataflow
from local_emulator.iam.hcl import INFRA
from local_emulator.settings import HOST, WORKER_ACCOUNT, StackSettings
from local_emulator.worker import component_main
from shared.clients import CLIENT_LIBRARY_ENVIRONMENT

_log = logging.getLogger("local_emulator.dataflow")

# What a job's process keeps of this one's environment: enough to run Python, nothing that
# would point it elsewhere.
_PASSTHROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "TZ")


def job_environment(settings: StackSettings) -> dict[str, str]:
    """A job's environment: the worker account's endpoints (its permission-layer proxy)."""
    return {
        **{k: os.environ[k] for k in _PASSTHROUGH if k in os.environ},
        "PYTHONUNBUFFERED": "1",
        **CLIENT_LIBRARY_ENVIRONMENT,
        **settings.emulator_env(WORKER_ACCOUNT),
    }


# The Flex Template's own program, on Beam's in-process DirectRunner (Beam's Prism runner
# downloads a binary at first use, which an offline machine cannot do).
PIPELINE_COMMAND = (sys.executable, str(INFRA / "pipeline" / "main.py"), "--runner=DirectRunner")


def read_object(settings: StackSettings, bucket: str, name: str) -> bytes | None:
    url = (
        f"{settings.url('gcs')}/storage/v1/b/{quote(bucket, safe='')}/o/"
        f"{quote(name, safe='')}?alt=media"
    )
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            data: bytes = response.read()
            return data
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def run(settings: StackSettings, stop: threading.Event) -> None:
    from local_emulator.iam.grants import account_email

    jobs = JobStore(
        settings.state_dir / "data" / "dataflow" / "jobs",
        settings.logs_dir / "dataflow-jobs",
        PIPELINE_COMMAND,
        job_environment(settings),
    )
    server = LocalDataflow(
        (HOST, settings.ports["dataflow"]),
        jobs=jobs,
        read_object=lambda bucket, name: read_object(settings, bucket, name),
        worker_account=account_email(WORKER_ACCOUNT, settings.project, settings.infra()),
    )
    thread = threading.Thread(target=server.serve_forever, name="dataflow", daemon=True)
    thread.start()
    _log.info("the local Dataflow serves on %s", settings.url("dataflow"))
    stop.wait()
    server.shutdown()
    server.server_close()
    jobs.stop_all()


def main(argv: list[str] | None = None) -> None:
    component_main("dataflow", "The local cloud's Dataflow.", run, argv)


if __name__ == "__main__":
    main()
