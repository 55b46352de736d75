"""The local Dataflow: the part of the Dataflow v1b3 REST API that cloudscore's launcher and
`cloudscore backfill` call, served on 127.0.0.1.

    POST /v1b3/projects/P/locations/L/flexTemplates:launch   launch the template's pipeline
    GET  /v1b3/projects/P/locations/L/jobs[?name=N&filter=F] list jobs (of a name)
    GET  /v1b3/projects/P/locations/L/jobs/ID                a job
    PUT  /v1b3/projects/P/locations/L/jobs/ID                cancel it (requestedState CANCELLED)

A launch reads the template's spec from Cloud Storage (as Dataflow's own service agent does),
checks the parameters against its metadata, refuses a second active job of a name (409, as
Dataflow does) and runs the job as the worker account (`jobs`). Errors have Google's JSON shape,
so the client library raises what it raises against Dataflow. Who may call what is the
permission layer's business: the functions reach this server through their account's proxy.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qsl, unquote

from local_emulator.dataflow.jobs import ACTIVE, JobStore
from local_emulator.dataflow.template import parameter_problems

_log = logging.getLogger("local_emulator.dataflow")

HEALTH_PATH: Final = "/__local/healthz"
_PREFIX = re.compile(r"^/v1b3/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/")
# Dataflow's rule for job names.
_JOB_NAME = re.compile(r"[a-z]([-a-z0-9]{0,1022}[a-z0-9])?")
# ListJobsRequest.Filter, by number (the client sends enums as numbers) and by name.
_FILTERS: Final = {"0": "ALL", "1": "ALL", "2": "TERMINATED", "3": "ACTIVE"}
# JobState numbers, for a requested state sent as a number.
_STATES: Final = {"5": "JOB_STATE_CANCELLED"}


class DataflowError(Exception):
    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message

    def document(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


class LocalDataflow(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        jobs: JobStore,
        read_object: Any,  # (bucket, name) -> bytes | None, as the project's owner
        worker_account: str,
    ) -> None:
        super().__init__(address, _Handler)
        self.jobs = jobs
        self.read_object = read_object
        self.worker_account = worker_account

    # --- the API --------------------------------------------------------------------------------
    def launch(self, project: str, location: str, body: Mapping[str, Any]) -> dict[str, Any]:
        launch = body.get("launchParameter") or {}
        name = str(launch.get("jobName") or "")
        if not _JOB_NAME.fullmatch(name):
            raise DataflowError(
                400,
                "INVALID_ARGUMENT",
                f"(job name {name!r}): the name must consist of only the characters [-a-z0-9], "
                "starting with a letter and ending with a letter or number",
            )
        spec = self._template(str(launch.get("containerSpecGcsPath") or ""))
        parameters = {str(k): str(v) for k, v in (launch.get("parameters") or {}).items()}
        problems = parameter_problems(spec, parameters)
        if problems:
            raise DataflowError(400, "INVALID_ARGUMENT", "; ".join(problems))
        environment = launch.get("environment") or {}
        labels = environment.get("additionalUserLabels") or {}
        account = environment.get("serviceAccountEmail") or self.worker_account
        if account != self.worker_account:
            raise DataflowError(
                400,
                "INVALID_ARGUMENT",
                f"the local Dataflow runs workers as {self.worker_account} only (infra/'s "
                f"worker account), not {account}",
            )
        record = self.jobs.create(
            project=project,
            location=location,
            name=name,
            options=parameters,
            service_account=account,
            labels={str(k): str(v) for k, v in labels.items()},
        )
        if record is None:
            raise DataflowError(
                409,
                "ALREADY_EXISTS",
                f"(job {name}): The workflow could not be created. Causes: There is already an "
                f"active job named {name}. If you want to submit a second job, try again by "
                "setting a different name.",
            )
        _log.info("launched job %s (%s): %s", record.id, name, parameters.get("sources"))
        return {"job": record.as_api()}

    def _template(self, path: str) -> dict[str, Any]:
        match = re.fullmatch(r"gs://([^/]+)/(.+)", path)
        if match is None:
            raise DataflowError(
                400, "INVALID_ARGUMENT", f"containerSpecGcsPath must be gs://…, found {path!r}"
            )
        data = self.read_object(match.group(1), match.group(2))
        if data is None:
            raise DataflowError(400, "INVALID_ARGUMENT", f"template file {path} does not exist")
        try:
            spec: dict[str, Any] = json.loads(data)
        except ValueError as exc:
            raise DataflowError(
                400, "INVALID_ARGUMENT", f"template file {path} is not JSON: {exc}"
            ) from exc
        return spec

    def list(self, project: str, location: str, query: Mapping[str, str]) -> dict[str, Any]:
        kind = _FILTERS.get(query.get("filter", "1"), query.get("filter", "ALL"))
        name = query.get("name")
        jobs = [
            r
            for r in self.jobs.all()
            if r.project == project
            and r.location == location
            and (name is None or r.name == name)
            and (kind == "ALL" or (r.state in ACTIVE) == (kind == "ACTIVE"))
        ]
        # Newest first, as Dataflow lists them.
        return {"jobs": [r.as_api() for r in reversed(jobs)]}

    def get(self, project: str, location: str, job_id: str) -> dict[str, Any]:
        record = self.jobs.get(job_id)
        if record is None or record.project != project or record.location != location:
            raise DataflowError(
                404, "NOT_FOUND", f"(job {job_id}): Requested entity was not found."
            )
        return record.as_api()

    def update(
        self, project: str, location: str, job_id: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        self.get(project, location, job_id)
        requested = str(body.get("requestedState", ""))
        if _STATES.get(requested, requested) != "JOB_STATE_CANCELLED":
            raise DataflowError(
                400,
                "INVALID_ARGUMENT",
                f"the local Dataflow only cancels jobs; requestedState {requested!r}",
            )
        record = self.jobs.cancel(job_id)
        if record is None:
            raise DataflowError(
                404, "NOT_FOUND", f"(job {job_id}): Requested entity was not found."
            )
        return record.as_api()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LocalDataflow

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug(format, *args)

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_GET

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path, _, query_text = self.path.partition("?")
        if path == HEALTH_PATH:
            self._reply(200, {"ok": True})
            return
        query = dict(parse_qsl(query_text, keep_blank_values=True))
        try:
            body = json.loads(raw) if raw else {}
            self._reply(200, self._route(unquote(path), query, body))
        except DataflowError as exc:
            self._reply(exc.code, exc.document())
        except ValueError as exc:
            self._reply(400, DataflowError(400, "INVALID_ARGUMENT", str(exc)).document())

    def _route(self, path: str, query: Mapping[str, str], body: Any) -> dict[str, Any]:
        match = _PREFIX.match(path)
        if match is None:
            raise DataflowError(404, "NOT_FOUND", f"the local Dataflow does not serve {path}")
        project, location = match["project"], match["location"]
        rest = path[match.end() :]
        server, method = self.server, self.command
        if rest == "flexTemplates:launch" and method == "POST":
            return server.launch(project, location, body)
        if rest == "jobs" and method == "GET":
            return server.list(project, location, query)
        if rest.startswith("jobs/") and "/" not in rest[5:]:
            if method == "GET":
                return server.get(project, location, rest[5:])
            if method == "PUT":
                return server.update(project, location, rest[5:], body)
        raise DataflowError(404, "NOT_FOUND", f"the local Dataflow does not serve {method} {path}")

    def _reply(self, status: int, document: Mapping[str, Any]) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
