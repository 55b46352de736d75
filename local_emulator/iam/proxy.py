"""One reverse proxy per function account, in front of fake-gcs-server and the BigQuery emulator.

A function's process is given its proxy as both emulator endpoints, so the address a call comes
in on says who makes it. Each call is mapped to the permissions Google checks (`calls`); when the
account's grants hold them all it is forwarded unchanged, otherwise answered 403 with the API's
own error body, naming the permission and the resource, so that the client library raises
`google.api_core.exceptions.Forbidden` exactly as in the cloud.

The emulators' answers name themselves in URLs (an object's mediaLink, a resumable upload's
Location): those are rewritten to the proxy, so that every later call is checked too. The creator
of each BigQuery job is remembered (`run/iam-jobs.jsonl`): BigQuery lets a job's creator read it
with bigquery.jobs.create alone.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from local_emulator.iam.calls import (
    Need,
    Request,
    Unmapped,
    bigquery_needs,
    dataflow_needs,
    is_bigquery,
    is_dataflow,
    job_reference,
    storage_needs,
)
from local_emulator.iam.grants import Policy
from local_emulator.iam.sql import UnreadableSql
from local_emulator.iam.usage import UsageRecorder

_log = logging.getLogger("local_emulator.iam")

HEALTH_PATH = "/__local/healthz"
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade", "host", "content-length"}
)  # fmt: skip
_STREAM_BLOCK = 1 << 20


@dataclass(frozen=True)
class Upstreams:
    storage: str  # http://127.0.0.1:4443
    bigquery: str  # http://127.0.0.1:9050
    dataflow: str = ""  # the local Dataflow

    def of(self, path: str) -> str:
        if is_bigquery(path):
            return self.bigquery
        if is_dataflow(path):
            return self.dataflow
        return self.storage


class JobBook:
    """Who created each BigQuery job, kept across restarts of the layer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._creators: dict[tuple[str, str], str] = {}
        try:
            lines = path.read_text().splitlines()
        except OSError:
            lines = []
        for line in lines:
            project, job_id, principal = line.split("\t")
            self._creators.setdefault((project, job_id), principal)

    def creator(self, project: str, job_id: str) -> str | None:
        return self._creators.get((project, job_id))

    def created(self, project: str, job_id: str, principal: str) -> None:
        with self._lock:
            if (project, job_id) in self._creators:
                return
            self._creators[(project, job_id)] = principal
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as out:
                out.write(f"{project}\t{job_id}\t{principal}\n")


class EmulatorState:
    """What a check must know of the emulators, asked directly (as the project's owner)."""

    def __init__(self, upstreams: Upstreams, jobs: JobBook) -> None:
        self.upstreams = upstreams
        self.jobs = jobs

    def _found(self, base: str, path: str) -> bool:
        status, _, _ = _call(base, "GET", path, {}, b"")
        return status == 200

    def object_exists(self, bucket: str, name: str) -> bool:
        return self.object_generation(bucket, name) is not None

    def object_generation(self, bucket: str, name: str) -> int | None:
        """The live generation of an object; None when there is none."""
        path = f"/storage/v1/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}"
        status, _, body = _call(self.upstreams.storage, "GET", path, {}, b"")
        return int(json.loads(body)["generation"]) if status == 200 else None

    def job_exists(self, project: str, job_id: str) -> bool:
        return self._found(
            self.upstreams.bigquery, f"/bigquery/v2/projects/{project}/jobs/{job_id}"
        )

    def job_creator(self, project: str, job_id: str) -> str | None:
        return self.jobs.creator(project, job_id)


def _call(
    base: str, method: str, target: str, headers: Mapping[str, str], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=600)
    try:
        connection.request(method, target, body=body or None, headers=dict(headers))
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


class AccountProxy(ThreadingHTTPServer):
    """The proxy of one function's account."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        principal: str,
        email: str,
        project: str,
        policy: Policy,
        upstreams: Upstreams,
        state: EmulatorState,
        usage: UsageRecorder,
    ) -> None:
        super().__init__(address, _Handler)
        self.principal = principal
        self.email = email
        self.project = project
        self.policy = policy
        self.upstreams = upstreams
        self.state = state
        self.usage = usage
        self.base = f"http://{address[0]}:{self.server_address[1]}"

    def needs(self, request: Request) -> list[Need]:
        if is_bigquery(request.path):
            return bigquery_needs(request, self.principal, self.state)
        if is_dataflow(request.path):
            return dataflow_needs(request, self.project)
        return storage_needs(request, self.project, self.state)

    def refusal(self, request: Request) -> tuple[int, dict[str, Any]] | None:
        """The error to answer with, or None when the account may make the call."""
        bigquery = is_bigquery(request.path)
        dataflow = is_dataflow(request.path)
        try:
            needs = self.needs(request)
        except (Unmapped, UnreadableSql) as exc:
            message = (
                f"The local cloud refuses a call whose IAM permissions it cannot judge: {exc} "
                "(add it to local_emulator/iam/calls.py with the permissions Google checks)"
            )
            return 403, _error(403, message, "accessDenied" if bigquery else "forbidden")
        for need in needs:
            covering = self.policy.covering(self.principal, need.permission, need.resource)
            if covering:
                self.usage.allowed(self.principal, need, covering)
                continue
            self.usage.refused(self.principal, need)
            _log.warning(
                "refused %s on %s to %s (%s %s)",
                need.permission, need.resource, self.principal, request.method, request.path,
            )  # fmt: skip
            if bigquery:
                return 403, _error(403, _bigquery_denial(need), "accessDenied")
            if dataflow:
                return 403, _dataflow_denial(self.email, need)
            return 403, _error(403, _storage_denial(self.email, need), "forbidden")
        return None if bigquery or dataflow else self.unmet_precondition(request)

    def unmet_precondition(self, request: Request) -> tuple[int, dict[str, Any]] | None:
        """Cloud Storage deletes an object only when its live generation is the one
        ifGenerationMatch names (412 otherwise); fake-gcs-server ignores the condition on a
        delete, so it is checked here, on the functions' deletes. (A write between this check
        and the delete, a matter of milliseconds, is not seen.)"""
        match = request.query.get("ifGenerationMatch")
        parts = request.path.strip("/").split("/")
        if request.method != "DELETE" or match is None or len(parts) != 6 or parts[4] != "o":
            return None
        live = self.state.object_generation(unquote(parts[3]), unquote(parts[5]))
        if live is None or str(live) == match:
            return None
        message = "At least one of the pre-conditions you specified did not hold."
        return 412, _error(412, message, "conditionNotMet")


def _error(code: int, message: str, reason: str) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "errors": [{"message": message, "domain": "global", "reason": reason}],
    }
    if reason == "accessDenied":
        error["status"] = "PERMISSION_DENIED"
    return {"error": error}


def _dataflow_denial(email: str, need: Need) -> dict[str, Any]:
    """Google's error shape (google.rpc.Status in JSON), naming the permission, the resource
    and the caller."""
    message = (
        f"Permission '{need.permission}' denied on resource '{_shown(need.resource)}' for "
        f"{email} (or it may not exist)."
    )
    return {"error": {"code": 403, "message": message, "status": "PERMISSION_DENIED"}}


def _storage_denial(email: str, need: Need) -> str:
    """Worded as Cloud Storage words it."""
    what = "object" if "/objects/" in need.resource else "bucket"
    if need.resource.count("/") == 1:
        what = "project"
    return (
        f"{email} does not have {need.permission} access to the Google Cloud Storage {what} "
        f"{_shown(need.resource)}. Permission '{need.permission}' denied on resource (or it may "
        "not exist)."
    )


def _bigquery_denial(need: Need) -> str:
    """Worded as BigQuery words it: `Access Denied: Table p:d.t: Permission … denied on …`."""
    parts = need.resource.split("/")
    if len(parts) == 2:
        project = parts[1]
        return (
            f"Access Denied: Project {project}: User does not have {need.permission} permission "
            f"in project {project}."
        )
    if len(parts) == 4:
        name = f"{parts[1]}:{parts[3]}"
        return (
            f"Access Denied: Dataset {name}: Permission {need.permission} denied on dataset "
            f"{name} (or it may not exist)."
        )
    name = f"{parts[1]}:{parts[3]}.{parts[5]}"
    return (
        f"Access Denied: Table {name}: Permission {need.permission} denied on table {name} (or "
        "it may not exist)."
    )


def _shown(resource: str) -> str:
    parts = resource.split("/", 5)
    if len(parts) >= 4 and parts[2] == "buckets":
        return f"gs://{parts[3]}/{parts[5]}" if len(parts) == 6 else f"gs://{parts[3]}"
    return resource


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: AccountProxy

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s: " + format, self.server.principal, *args)

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _handle(self) -> None:
        if self.path == HEALTH_PATH:
            self._reply(200, [("Content-Type", "text/plain")], b"ok")
            return
        body = self._body()
        path, _, query_text = self.path.partition("?")
        query: dict[str, str] = {}
        for key, value in parse_qsl(query_text, keep_blank_values=True):
            query.setdefault(key, value)
        request = Request(self.command, path, query, self.headers.get("Content-Type", ""), body)
        refused = self.server.refusal(request)
        if refused is not None:
            status, document = refused
            payload = json.dumps(document).encode()
            self._reply(status, [("Content-Type", "application/json; charset=UTF-8")], payload)
            return
        self._note_submitted_job(request)
        self._forward(request, query_text)

    def _note_submitted_job(self, request: Request) -> None:
        """A job named by its submission is its submitter's from then on: BigQuery knows the
        creator of a job as soon as it exists, before the submission's answer comes back (a
        concurrent attempt may look the job up in between)."""
        if request.method != "POST" or not request.path.rstrip("/").endswith("/jobs"):
            return
        if not is_bigquery(request.path) or "upload_id" in request.query:
            return
        try:
            reference = job_reference(request)
        except Unmapped:
            return
        if reference is not None:
            self.server.state.jobs.created(*reference, self.server.principal)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _forward(self, request: Request, query_text: str) -> None:
        server = self.server
        bigquery = is_bigquery(request.path)
        base = server.upstreams.of(request.path)
        parts = urlsplit(base)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        target = request.path + (f"?{query_text}" if query_text else "")
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=600)
        try:
            connection.request(self.command, target, body=request.body or None, headers=headers)
            response = connection.getresponse()
            kept = [
                (k, v.replace(base, server.base))
                for k, v in response.getheaders()
                if k.lower() not in _HOP_BY_HOP
            ]
            content_type = response.getheader("Content-Type", "")
            length = response.getheader("Content-Length")
            if bigquery or "json" in content_type or length is None or self.command == "HEAD":
                payload = response.read()
                if "json" in content_type:
                    payload = payload.replace(base.encode(), server.base.encode())
                if bigquery:
                    self._note_job(request, response.status, payload)
                self._reply(response.status, kept, payload)
            else:
                self._stream(response, kept, int(length))
        except OSError as exc:
            emulator = "BigQuery" if bigquery else "Cloud Storage"
            if is_dataflow(request.path):
                emulator = "Dataflow"
            message = f"the local {emulator} emulator did not answer: {exc}"
            payload = json.dumps(_error(503, message, "backendError")).encode()
            self._reply(503, [("Content-Type", "application/json")], payload)
        finally:
            connection.close()

    def _note_job(self, request: Request, status: int, payload: bytes) -> None:
        """Remember who created a BigQuery job: every answer that made one names it."""
        if status != 200 or request.method not in ("POST", "PUT"):
            return
        if not request.path.rstrip("/").endswith(("/jobs", "/queries")):
            return
        try:
            document = json.loads(payload)
        except ValueError:
            return  # a resumable load's first answer: its job is made by the last one
        reference = document.get("jobReference") if isinstance(document, dict) else None
        if isinstance(reference, dict) and reference.get("jobId"):
            project = (
                reference.get("projectId") or request.path.split("/projects/")[1].split("/")[0]
            )
            self.server.state.jobs.created(project, reference["jobId"], self.server.principal)

    def _stream(
        self, response: http.client.HTTPResponse, headers: list[tuple[str, str]], length: int
    ) -> None:
        self.send_response(response.status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        remaining = length
        while remaining > 0:
            block = response.read(min(_STREAM_BLOCK, remaining))
            if not block:
                break
            self.wfile.write(block)
            remaining -= len(block)

    def _reply(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


def serve(proxy: AccountProxy) -> threading.Thread:
    thread = threading.Thread(
        target=proxy.serve_forever, name=f"iam-{proxy.principal}", daemon=True
    )
    thread.start()
    return thread
