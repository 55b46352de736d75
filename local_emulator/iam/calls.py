"""Which IAM permissions, on which resources, Google checks for a Cloud Storage or BigQuery REST
call: the table of the local cloud's permission layer.

Cloud Storage, per JSON API method (https://cloud.google.com/storage/docs/access-control/iam-json):
    buckets list / insert           storage.buckets.list / create            on the project
    buckets get / patch / delete    storage.buckets.get / update / delete    on the bucket
    objects list                    storage.objects.list                     on the bucket
    objects get (metadata, media)   storage.objects.get                      on the object
    objects insert (any upload)     storage.objects.create, and storage.objects.delete when it
                                    replaces an existing object (footnote of the table)
    objects patch / update          storage.objects.update
    objects delete                  storage.objects.delete
    objects copy / rewrite          storage.objects.get on the source, create (and delete when
                                    replacing) on the destination
    objects compose                 storage.objects.get on each source, create (delete) on the
                                    destination
  A resumable upload is checked when it is started; the session URI it returns is itself the
  credential of the later requests, as in the cloud.

BigQuery (https://cloud.google.com/bigquery/docs/access-control and each method's reference page):
    jobs.insert, jobs.query         bigquery.jobs.create on the project, then per job:
                                    load  — tables.updateData on the destination, and
                                            tables.create on the dataset unless the job says
                                            createDisposition CREATE_NEVER, even when the table
                                            exists: a job appending to an existing table
                                            with the default CREATE_IF_NEEDED is refused
                                            without it (github.com/googleapis/
                                            python-bigquery-pandas/issues/538)
                                    query — tables.getData on every table the SQL reads; DML
                                            targets updateData, DDL create / delete / update;
                                            a destination table as for a load
                                    copy  — getData on the sources, as a load on the destination
                                    extract — tables.export and getData on the source
    jobs.get, getQueryResults,      the job's creator needs only bigquery.jobs.create on the
    jobs.cancel                     project; anyone else bigquery.jobs.get (update to cancel)
                                    (https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs/get)
    jobs.list                       no permission: each caller lists the jobs it created
    datasets get / insert / …       bigquery.datasets.get / create (project) / update / delete
    tables get / list / insert / …  bigquery.tables.get / list (dataset) / create (dataset) /
                                    update / delete
    tabledata list / insertAll      bigquery.tables.getData / updateData
Dataflow (https://cloud.google.com/dataflow/docs/concepts/access-control, and
https://cloud.google.com/dataflow/docs/guides/templates/configuring-flex-templates for a Flex
Template's launch):
    flexTemplates.launch            dataflow.jobs.create on the project; iam.serviceAccounts.actAs
                                    on the account the workers run as; storage.objects.get on the
                                    template's spec file, which is read with the caller's rights
    jobs.list / get                 dataflow.jobs.list / get on the project
    jobs.update                     dataflow.jobs.cancel to cancel (requestedState CANCELLED),
                                    dataflow.jobs.updateContents otherwise
A call not in this table is refused, saying so: the layer never lets through what it cannot
judge.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, Final, Protocol
from urllib.parse import unquote

from local_emulator.iam import grants as names
from local_emulator.iam.sql import Effects, TableRef, effects


@dataclass(frozen=True)
class Need:
    """A permission the call needs on a resource."""

    permission: str
    resource: str


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # as sent, percent-encoded, without the query
    query: Mapping[str, str]  # the first value of each parameter
    content_type: str
    body: bytes


class Unmapped(Exception):
    """A call whose permissions this layer does not know: refused, never let through."""


class Upstream(Protocol):
    """What a check must know of the emulators' state (asked as the project's owner)."""

    def object_exists(self, bucket: str, name: str) -> bool: ...

    def job_exists(self, project: str, job_id: str) -> bool: ...

    def job_creator(self, project: str, job_id: str) -> str | None: ...


def is_bigquery(path: str) -> bool:
    return path.startswith(("/bigquery/", "/upload/bigquery/"))


def is_dataflow(path: str) -> bool:
    return path.startswith("/v1b3/")


# --- Cloud Storage -------------------------------------------------------------------------------


_BUCKET_METHODS: Final = {
    "GET": "storage.buckets.get",
    "PATCH": "storage.buckets.update",
    "PUT": "storage.buckets.update",
    "DELETE": "storage.buckets.delete",
}
_OBJECT_METHODS: Final = {
    "GET": "storage.objects.get",
    "PATCH": "storage.objects.update",
    "PUT": "storage.objects.update",
    "DELETE": "storage.objects.delete",
}


def storage_needs(request: Request, project: str, upstream: Upstream) -> list[Need]:
    parts = [unquote(p) for p in request.path.strip("/").split("/")]
    service = parts[0] if parts[:1] in (["upload"], ["download"]) else "json"
    if service != "json":
        parts = parts[1:]
    if parts[:3] != ["storage", "v1", "b"]:
        raise Unmapped(f"{request.method} {request.path} is not a Cloud Storage JSON API call")
    rest = parts[3:]
    if service == "upload":
        return _upload_needs(request, project, rest, upstream)
    if not rest:
        permission = {"GET": "storage.buckets.list", "POST": "storage.buckets.create"}
        return [Need(_known(permission, request, "the bucket list"), names.project(project))]
    if len(rest) == 1:
        return [Need(_known(_BUCKET_METHODS, request, "a bucket"), names.bucket(project, rest[0]))]
    if rest[1] != "o":
        raise Unmapped(f"{request.method} {request.path}: bucket {rest[1]} calls are not used here")
    if len(rest) == 2:
        listing = {"GET": "storage.objects.list"}
        return [Need(_known(listing, request, "an object list"), names.bucket(project, rest[0]))]
    return _object_needs(request, project, rest[0], rest[2], action=rest[3:], upstream=upstream)


def _upload_needs(
    request: Request, project: str, rest: list[str], upstream: Upstream
) -> list[Need]:
    if request.method == "PUT" and "upload_id" in request.query:
        return []  # a resumable session: checked when it was started
    if request.method == "POST" and len(rest) == 2 and rest[1] == "o":
        name = request.query.get("name") or _upload_name(request)
        return _create(project, rest[0], name, request.query, upstream)
    raise Unmapped(f"{request.method} {request.path} is not an upload the layer knows")


def _object_needs(
    request: Request,
    project: str,
    bucket_name: str,
    name: str,
    *,
    action: list[str],
    upstream: Upstream,
) -> list[Need]:
    target = names.obj(project, bucket_name, name)
    if not action:
        return [Need(_known(_OBJECT_METHODS, request, "an object"), target)]
    # …/copyTo/b/BUCKET/o/NAME, …/rewriteTo/b/BUCKET/o/NAME
    if request.method == "POST" and len(action) == 5 and action[0] in ("copyTo", "rewriteTo"):
        _, _, to_bucket, _, to_name = action
        read = Need("storage.objects.get", target)
        return [read, *_create(project, to_bucket, to_name, request.query, upstream)]
    if request.method == "POST" and action == ["compose"]:
        sources = [
            Need("storage.objects.get", names.obj(project, bucket_name, item["name"]))
            for item in _json_part(request).get("sourceObjects", [])
        ]
        return [*sources, *_create(project, bucket_name, name, request.query, upstream)]
    raise Unmapped(f"{request.method} {request.path} is not an object call the layer knows")


def _known(permissions: Mapping[str, str], request: Request, what: str) -> str:
    try:
        return permissions[request.method]
    except KeyError:
        raise Unmapped(f"{request.method} on {what} ({request.path})") from None


def _create(
    project: str, bucket_name: str, name: str, query: Mapping[str, str], upstream: Upstream
) -> list[Need]:
    """An object written: create, and delete when it replaces one (the precondition
    ifGenerationMatch=0 says it cannot; another generation says it does)."""
    target = names.obj(project, bucket_name, name)
    needs = [Need("storage.objects.create", target)]
    match = query.get("ifGenerationMatch")
    replaces = match != "0" if match is not None else upstream.object_exists(bucket_name, name)
    if replaces:
        needs.append(Need("storage.objects.delete", target))
    return needs


def _upload_name(request: Request) -> str:
    metadata = _json_part(request)
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise Unmapped(f"an upload to {request.path} that names no object")
    return name


def _json_part(request: Request) -> dict[str, Any]:
    """The JSON of a request: its body, or the first part of a multipart/related body."""
    if request.content_type.lower().startswith("multipart/"):
        head = f"Content-Type: {request.content_type}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + request.body)
        parts = list(message.iter_parts())
        if not parts:
            raise Unmapped("a multipart request with no parts")
        first = parts[0].get_payload(decode=True)
        payload = first if isinstance(first, bytes) else b"{}"
    else:
        payload = request.body or b"{}"
    try:
        document = json.loads(payload)
    except ValueError as exc:
        raise Unmapped(f"a request whose JSON cannot be read: {exc}") from exc
    return document if isinstance(document, dict) else {}


# --- BigQuery -------------------------------------------------------------------------------------


def bigquery_needs(request: Request, principal: str, upstream: Upstream) -> list[Need]:
    parts = [unquote(p) for p in request.path.strip("/").split("/")]
    upload = parts[:1] == ["upload"]
    if upload:
        parts = parts[1:]
    if parts[:3] != ["bigquery", "v2", "projects"] or len(parts) < 5:
        raise Unmapped(f"{request.method} {request.path} is not a BigQuery API call")
    project_id, collection, rest = parts[3], parts[4], parts[5:]
    if collection == "jobs":
        return _jobs_needs(request, project_id, rest, principal, upstream, upload=upload)
    if collection == "queries":
        return _queries_needs(request, project_id, rest, principal, upstream)
    if collection == "datasets":
        return _dataset_needs(request.method, project_id, rest, request)
    raise Unmapped(f"{request.method} {request.path} is not a BigQuery call the layer knows")


def _jobs_needs(
    request: Request,
    project_id: str,
    rest: list[str],
    principal: str,
    upstream: Upstream,
    *,
    upload: bool,
) -> list[Need]:
    method, project = request.method, names.project(project_id)
    if not rest:
        if upload and "upload_id" in request.query and method in ("POST", "PUT"):
            return []  # a resumable load's data: checked when it was started
        if method == "POST":
            job = _json_part(request)
            return [Need("bigquery.jobs.create", project), *job_needs(job, project_id)]
        if method == "GET":
            return []  # jobs.list: each caller sees the jobs it created
    elif len(rest) == 1 and method == "GET":
        return _job_read(project_id, rest[0], principal, upstream, "bigquery.jobs.get")
    elif rest[1:] == ["cancel"] and method == "POST":
        return _job_read(project_id, rest[0], principal, upstream, "bigquery.jobs.update")
    elif method == "DELETE":
        return [Need("bigquery.jobs.delete", project)]
    raise Unmapped(f"{method} {request.path} is not a job call the layer knows")


def _queries_needs(
    request: Request, project_id: str, rest: list[str], principal: str, upstream: Upstream
) -> list[Need]:
    if not rest and request.method == "POST":
        body = _json_part(request)
        query = {"query": body.get("query", ""), "defaultDataset": body.get("defaultDataset")}
        create = Need("bigquery.jobs.create", names.project(project_id))
        return [create, *_query_needs(query, project_id)]
    if len(rest) == 1 and request.method == "GET":
        return _job_read(project_id, rest[0], principal, upstream, "bigquery.jobs.get")
    raise Unmapped(f"{request.method} {request.path} is not a query call the layer knows")


def job_reference(request: Request) -> tuple[str, str] | None:
    """(project, job id) of the job a jobs.insert names, if it names one."""
    reference = _json_part(request).get("jobReference")
    if not isinstance(reference, dict) or not reference.get("jobId"):
        return None
    project = reference.get("projectId") or request.path.split("/projects/")[1].split("/")[0]
    return str(project), str(reference["jobId"])


def _job_read(
    project_id: str, job_id: str, principal: str, upstream: Upstream, permission: str
) -> list[Need]:
    creator = upstream.job_creator(project_id, job_id)
    if creator == principal:
        return [Need("bigquery.jobs.create", names.project(project_id))]
    if creator is None and not upstream.job_exists(project_id, job_id):
        return []  # no such job: BigQuery answers 404 whoever asks
    return [Need(permission, names.project(project_id))]


def job_needs(job: Mapping[str, Any], project_id: str) -> list[Need]:
    """What a job's configuration needs beyond bigquery.jobs.create."""
    configuration = job.get("configuration") or {}
    if "load" in configuration:
        load = configuration["load"]
        return _destination(load.get("destinationTable"), load, project_id)
    if "query" in configuration:
        return _query_needs(configuration["query"], project_id)
    if "copy" in configuration:
        copy = configuration["copy"]
        sources = copy.get("sourceTables") or [copy.get("sourceTable")]
        reads = [
            Need("bigquery.tables.getData", _table_name(_ref(s, project_id))) for s in sources if s
        ]
        return [*reads, *_destination(copy.get("destinationTable"), copy, project_id)]
    if "extract" in configuration:
        source = _table_name(_ref(configuration["extract"].get("sourceTable"), project_id))
        return [Need("bigquery.tables.export", source), Need("bigquery.tables.getData", source)]
    raise Unmapped(f"a job of an unknown kind: {sorted(configuration)}")


def _query_needs(query: Mapping[str, Any], project_id: str) -> list[Need]:
    default = query.get("defaultDataset") or {}
    found: Effects = effects(
        str(query.get("query", "")),
        project=default.get("projectId") or project_id,
        default_dataset=default.get("datasetId"),
    )
    needs = [Need("bigquery.tables.getData", _table_name(t)) for t in sorted(found.reads)]
    needs += [Need("bigquery.tables.updateData", _table_name(t)) for t in sorted(found.writes)]
    for t in sorted(found.creates):
        needs += [
            Need("bigquery.tables.create", names.dataset(t.project, t.dataset)),
            Need("bigquery.tables.updateData", _table_name(t)),
        ]
    needs += [Need("bigquery.tables.delete", _table_name(t)) for t in sorted(found.drops)]
    needs += [Need("bigquery.tables.update", _table_name(t)) for t in sorted(found.alters)]
    needs += [Need("bigquery.tables.list", names.dataset(*d)) for d in sorted(found.metadata)]
    if query.get("destinationTable"):
        needs += _destination(query["destinationTable"], query, project_id)
    return needs


def _destination(
    reference: Mapping[str, Any] | None, config: Mapping[str, Any], project_id: str
) -> list[Need]:
    if not reference:
        raise Unmapped("a job that writes to no destination table")
    ref = _ref(reference, project_id)
    target = _table_name(ref)
    needs = [Need("bigquery.tables.updateData", target)]
    # A job allowed to create its table (CREATE_IF_NEEDED, the default) is checked for
    # tables.create on the dataset whether or not the table exists: an account that may only
    # write an existing table sends CREATE_NEVER.
    if config.get("createDisposition", "CREATE_IF_NEEDED") != "CREATE_NEVER":
        needs.append(Need("bigquery.tables.create", names.dataset(ref.project, ref.dataset)))
    if config.get("writeDisposition") == "WRITE_TRUNCATE" or config.get("schemaUpdateOptions"):
        needs.append(Need("bigquery.tables.update", target))
    return needs


_DATASET_METHODS: Final = {
    "GET": "bigquery.datasets.get",
    "PATCH": "bigquery.datasets.update",
    "PUT": "bigquery.datasets.update",
    "DELETE": "bigquery.datasets.delete",
}
_TABLE_METHODS: Final = {
    "GET": "bigquery.tables.get",
    "PATCH": "bigquery.tables.update",
    "PUT": "bigquery.tables.update",
    "DELETE": "bigquery.tables.delete",
}


def _dataset_needs(method: str, project_id: str, rest: list[str], request: Request) -> list[Need]:
    if not rest:
        creating = {"POST": "bigquery.datasets.create"}
        return [Need(_known(creating, request, "the dataset list"), names.project(project_id))]
    dataset = names.dataset(project_id, rest[0])
    if len(rest) == 1:
        return [Need(_known(_DATASET_METHODS, request, "a dataset"), dataset)]
    if rest[1] != "tables":
        raise Unmapped(f"{method} {request.path}: dataset {rest[1]} calls are not used here")
    if len(rest) == 2:
        tables = {"GET": "bigquery.tables.list", "POST": "bigquery.tables.create"}
        return [Need(_known(tables, request, "a table list"), dataset)]
    table = names.table(project_id, rest[0], rest[2])
    if len(rest) == 3:
        return [Need(_known(_TABLE_METHODS, request, "a table"), table)]
    if rest[3:] == ["data"] and method == "GET":
        return [Need("bigquery.tables.getData", table)]
    if rest[3:] == ["insertAll"] and method == "POST":
        return [Need("bigquery.tables.updateData", table)]
    raise Unmapped(f"{method} {request.path} is not a table call the layer knows")


def _ref(reference: Mapping[str, Any] | None, project_id: str) -> TableRef:
    if not reference:
        raise Unmapped("a job that names no table")
    return TableRef(
        reference.get("projectId") or project_id,
        str(reference.get("datasetId", "")),
        str(reference.get("tableId", "")),
    )


def _table_name(ref: TableRef) -> str:
    return names.table(ref.project, ref.dataset, ref.table)


# --- Dataflow -------------------------------------------------------------------------------------

# JobState CANCELLED, as a name or as the number the client library sends.
_CANCELLED: Final = frozenset({"JOB_STATE_CANCELLED", "5", 5})


def dataflow_needs(request: Request, project: str) -> list[Need]:
    parts = [unquote(p) for p in request.path.strip("/").split("/")]
    if parts[:2] != ["v1b3", "projects"] or len(parts) < 5 or parts[3] != "locations":
        raise Unmapped(f"{request.method} {request.path} is not a Dataflow call the layer knows")
    project_id, rest = parts[2], parts[5:]
    on_project = names.project(project_id)
    if rest == ["flexTemplates:launch"] and request.method == "POST":
        launch = _json_part(request).get("launchParameter") or {}
        needs = [Need("dataflow.jobs.create", on_project)]
        account = (launch.get("environment") or {}).get("serviceAccountEmail")
        if account:
            needs.append(
                Need("iam.serviceAccounts.actAs", names.service_account(project_id, account))
            )
        spec = str(launch.get("containerSpecGcsPath") or "")
        bucket, _, name = spec.removeprefix("gs://").partition("/")
        if spec.startswith("gs://") and name:
            needs.append(Need("storage.objects.get", names.obj(project, bucket, name)))
        return needs
    if rest == ["jobs"] and request.method == "GET":
        return [Need("dataflow.jobs.list", on_project)]
    if len(rest) == 2 and rest[0] == "jobs":
        if request.method == "GET":
            return [Need("dataflow.jobs.get", on_project)]
        if request.method == "PUT":
            state = _json_part(request).get("requestedState")
            cancel = state in _CANCELLED
            permission = "dataflow.jobs.cancel" if cancel else "dataflow.jobs.updateContents"
            return [Need(permission, on_project)]
    raise Unmapped(f"{request.method} {request.path} is not a Dataflow call the layer knows")
