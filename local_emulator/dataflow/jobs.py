"""The local Dataflow's jobs: each a record on disk and, while it runs, a process of its own.

A job is the pipeline (`python -m cloudscore.pipeline`) on Beam's DirectRunner, started with the
template's parameters as its options and the worker account's endpoints (its permission-layer
proxy), so its Cloud Storage and BigQuery calls are judged as the Dataflow workers' would be.
Records survive a restart of the local Dataflow, so a redelivered event still finds its job; a
job that was running when the local Dataflow stopped is recorded as failed, saying so.

States follow Dataflow's (google.dataflow.v1beta3.JobState): QUEUED when launched, RUNNING once
its process started, then DONE (exit status 0), FAILED or CANCELLED.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

ACTIVE: Final = frozenset({"JOB_STATE_QUEUED", "JOB_STATE_RUNNING", "JOB_STATE_CANCELLING"})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_job_id() -> str:
    """An id shaped as Dataflow's: the launch time, then 19 digits."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d_%H_%M_%S")
    return f"{stamp}-{random.randrange(10**18, 10**19)}"


@dataclass(frozen=True)
class JobRecord:
    id: str
    project: str
    location: str
    name: str
    options: dict[str, str]  # the pipeline's --NAME=VALUE options
    service_account: str
    state: str
    create_time: str
    state_time: str
    labels: dict[str, str] = field(default_factory=dict)
    pid: int | None = None
    exit_status: int | None = None
    message: str = ""  # why it failed, for people reading the record

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def as_api(self) -> dict[str, Any]:
        """The job as the Dataflow API answers it (google.dataflow.v1beta3.Job, in JSON)."""
        return {
            "id": self.id,
            "projectId": self.project,
            "name": self.name,
            "type": "JOB_TYPE_BATCH",
            "currentState": self.state,
            "currentStateTime": self.state_time,
            "createTime": self.create_time,
            "startTime": self.create_time,
            "location": self.location,
            "labels": self.labels,
            "environment": {"serviceAccountEmail": self.service_account},
        }


class JobStore:
    """The records, one JSON file per job under `folder`, and the processes of those running."""

    def __init__(self, folder: Path, logs: Path, command: Sequence[str], env: Mapping[str, str]):
        self.folder = folder
        self.logs = logs
        self.command = list(command)
        self.env = dict(env)
        self._lock = threading.RLock()
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        folder.mkdir(parents=True, exist_ok=True)
        logs.mkdir(parents=True, exist_ok=True)
        for record in self.all():
            if record.active:
                # Its process went with the local Dataflow that ran it.
                self._save(
                    replace(
                        record,
                        state="JOB_STATE_FAILED",
                        state_time=_now(),
                        message="the local Dataflow stopped while the job ran",
                    )
                )

    # --- records -------------------------------------------------------------------------------
    def all(self) -> list[JobRecord]:
        records = []
        for path in sorted(self.folder.glob("*.json")):
            with contextlib.suppress(OSError, ValueError, TypeError):
                records.append(JobRecord(**json.loads(path.read_text())))
        return sorted(records, key=lambda r: r.create_time)

    def get(self, job_id: str) -> JobRecord | None:
        try:
            return JobRecord(**json.loads((self.folder / f"{job_id}.json").read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _save(self, record: JobRecord) -> None:
        path = self.folder / f"{record.id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(record), indent=1))
        tmp.replace(path)

    def log_of(self, job_id: str) -> Path:
        return self.logs / f"{job_id}.log"

    # --- launching and running -----------------------------------------------------------------
    def create(
        self,
        *,
        project: str,
        location: str,
        name: str,
        options: Mapping[str, str],
        service_account: str,
        labels: Mapping[str, str],
    ) -> JobRecord | None:
        """A new job, started; None when a job of that name is active (Dataflow's rule)."""
        with self._lock:
            if any(r.name == name and r.location == location and r.active for r in self.all()):
                return None
            now = _now()
            record = JobRecord(
                id=new_job_id(),
                project=project,
                location=location,
                name=name,
                options=dict(options),
                service_account=service_account,
                state="JOB_STATE_QUEUED",
                create_time=now,
                state_time=now,
                labels=dict(labels),
            )
            self._save(record)
            return self._start(record)

    def _start(self, record: JobRecord) -> JobRecord:
        argv = [*self.command, *(f"--{key}={value}" for key, value in record.options.items())]
        with self.log_of(record.id).open("ab") as out:
            out.write(f"$ {' '.join(argv[:3])} … ({record.name})\n".encode())
            out.flush()
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                # Its own group: cancelling stops the pipeline and whatever workers it started.
                start_new_session=True,
            )
        self._processes[record.id] = process
        running = replace(record, state="JOB_STATE_RUNNING", state_time=_now(), pid=process.pid)
        self._save(running)
        threading.Thread(
            target=self._follow, args=(record.id, process), name=f"job-{record.id}", daemon=True
        ).start()
        return running

    def _follow(self, job_id: str, process: subprocess.Popen[bytes]) -> None:
        status = process.wait()
        with self._lock:
            self._processes.pop(job_id, None)
            record = self.get(job_id)
            if record is None or not record.active:
                return  # stopped with the local Dataflow: recorded so already
            if record.state == "JOB_STATE_CANCELLING":
                state, message = "JOB_STATE_CANCELLED", "cancelled"
            elif status == 0:
                state, message = "JOB_STATE_DONE", ""
            else:
                state = "JOB_STATE_FAILED"
                message = f"the pipeline exited with status {status}; see {self.log_of(job_id)}"
            self._save(
                replace(record, state=state, state_time=_now(), exit_status=status, message=message)
            )

    def cancel(self, job_id: str) -> JobRecord | None:
        with self._lock:
            record = self.get(job_id)
            if record is None or not record.active:
                return record
            process = self._processes.get(job_id)
            if process is None:
                cancelled = replace(record, state="JOB_STATE_CANCELLED", state_time=_now())
                self._save(cancelled)
                return cancelled
            cancelling = replace(record, state="JOB_STATE_CANCELLING", state_time=_now())
            self._save(cancelling)
            _signal_group(process.pid, signal.SIGTERM)
            return cancelling

    def stop_all(self, grace_s: float = 10.0) -> None:
        """Stop the running jobs (the local Dataflow is stopping): recorded as failed."""
        with self._lock:
            running = dict(self._processes)
            for job_id in running:
                record = self.get(job_id)
                if record is not None and record.state == "JOB_STATE_RUNNING":
                    self._save(
                        replace(
                            record,
                            state="JOB_STATE_FAILED",
                            state_time=_now(),
                            message="the local Dataflow stopped while the job ran",
                        )
                    )
        for process in running.values():
            _signal_group(process.pid, signal.SIGTERM)
        for process in running.values():
            try:
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
