"""The permission layer's judgement, with no server: which permissions a REST call needs, what a
SQL script touches, how grants cover resources, and that infra/'s grants are what is enforced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local_emulator.iam import grants as names
from local_emulator.iam.calls import Need, Request, Unmapped, bigquery_needs, storage_needs
from local_emulator.iam.grants import Deployment, Grant, Policy, account_email, account_grants
from local_emulator.iam.hcl import read_module
from local_emulator.iam.reads import SourceReads, source_reads
from local_emulator.iam.roles import known_roles
from local_emulator.iam.sql import TableRef, UnreadableSql, effects
from shared.errors import LocalStackError, UsageError


class FakeEmulators:
    """What the checks ask of the emulators, answered from sets."""

    def __init__(
        self,
        objects: set[tuple[str, str]] = frozenset(),  # type: ignore[assignment]
        jobs: dict[str, str | None] | None = None,
    ) -> None:
        self.objects, self.jobs = objects, jobs or {}

    def object_exists(self, bucket: str, name: str) -> bool:
        return (bucket, name) in self.objects

    def job_exists(self, project: str, job_id: str) -> bool:
        return job_id in self.jobs

    def job_creator(self, project: str, job_id: str) -> str | None:
        return self.jobs.get(job_id)


P = "proj"
OBJ = names.obj(P, "inbox", "incoming/a b.csv")
OBJ_PATH = "/storage/v1/b/inbox/o/incoming%2Fa%20b.csv"
INBOX = names.bucket(P, "inbox")


def call(
    method: str,
    path: str,
    query: dict[str, str] | None = None,
    body: object = None,
    content_type: str = "application/json",
) -> Request:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body else b""
    return Request(method, path, query or {}, content_type, raw)


# --- Cloud Storage -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "needs"),
    [
        (call("GET", OBJ_PATH), [("storage.objects.get", OBJ)]),
        (call("GET", "/download" + OBJ_PATH, {"alt": "media"}), [("storage.objects.get", OBJ)]),
        (call("DELETE", OBJ_PATH), [("storage.objects.delete", OBJ)]),
        (call("PATCH", OBJ_PATH), [("storage.objects.update", OBJ)]),
        (call("GET", "/storage/v1/b/inbox/o"), [("storage.objects.list", INBOX)]),
        (call("GET", "/storage/v1/b/inbox"), [("storage.buckets.get", INBOX)]),
        (call("GET", "/storage/v1/b", {"project": P}), [("storage.buckets.list", f"projects/{P}")]),
    ],
)  # fmt: skip
def test_storage_calls_need_what_googles_table_says(
    request_: Request, needs: list[tuple[str, str]]
) -> None:
    assert storage_needs(request_, P, FakeEmulators()) == [Need(*n) for n in needs]


def test_an_upload_creates_and_replacing_an_object_needs_delete_too() -> None:
    upload = "/upload/storage/v1/b/inbox/o"
    new = call("POST", upload, {"uploadType": "media", "name": "incoming/a b.csv"})
    created = [Need("storage.objects.create", OBJ)]
    replaced = [*created, Need("storage.objects.delete", OBJ)]

    assert storage_needs(new, P, FakeEmulators()) == created
    assert storage_needs(new, P, FakeEmulators({("inbox", "incoming/a b.csv")})) == replaced
    # A precondition says it: 0 cannot replace, another generation does.
    exists = FakeEmulators({("inbox", "incoming/a b.csv")})
    must_be_new = call("POST", upload, {"name": "incoming/a b.csv", "ifGenerationMatch": "0"})
    assert storage_needs(must_be_new, P, exists) == created
    over = call("POST", upload, {"name": "incoming/a b.csv", "ifGenerationMatch": "17"})
    assert storage_needs(over, P, FakeEmulators()) == replaced


def test_a_multipart_upload_is_judged_by_the_name_in_its_metadata() -> None:
    body = (
        b"--sep\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
        b'{"name": "incoming/a b.csv"}\r\n--sep\r\nContent-Type: text/csv\r\n\r\na,b\n1,2\n'
        b"\r\n--sep--\r\n"
    )
    upload = call(
        "POST",
        "/upload/storage/v1/b/inbox/o",
        {"uploadType": "multipart"},
        body,
        'multipart/related; boundary="sep"',
    )

    assert storage_needs(upload, P, FakeEmulators()) == [Need("storage.objects.create", OBJ)]


def test_a_copy_reads_its_source_and_writes_its_destination() -> None:
    copy = call(
        "POST",
        "/storage/v1/b/inbox/o/incoming%2Fa%20b.csv/copyTo/b/inbox/o/processed%2F7%2Fa%20b.csv",
        {"ifGenerationMatch": "0", "sourceGeneration": "7"},
    )

    assert storage_needs(copy, P, FakeEmulators()) == [
        Need("storage.objects.get", OBJ),
        Need("storage.objects.create", names.obj(P, "inbox", "processed/7/a b.csv")),
    ]


def test_a_resumable_session_is_checked_when_it_starts_only() -> None:
    chunk = call(
        "PUT", "/upload/storage/v1/b/inbox/o", {"uploadType": "resumable", "upload_id": "x"}
    )
    assert storage_needs(chunk, P, FakeEmulators()) == []


@pytest.mark.parametrize(
    "request_",
    [
        call("POST", "/batch/storage/v1"),
        call("GET", "/storage/v1/b/inbox/iam"),
        call("POST", "/storage/v1/b/inbox/notificationConfigs"),
        call("GET", "/inbox/incoming/a.csv"),
    ],
)
def test_a_call_the_table_does_not_know_is_refused_not_let_through(request_: Request) -> None:
    with pytest.raises(Unmapped):
        storage_needs(request_, P, FakeEmulators())


# --- BigQuery ------------------------------------------------------------------------------------

PREDICTIONS = names.table(P, "ds", "predictions")
TABLE = "/datasets/ds/tables/predictions"


def load_job(table: str = "predictions", **config: object) -> dict[str, object]:
    destination = {"projectId": P, "datasetId": "ds", "tableId": table}
    return {
        "jobReference": {"projectId": P, "jobId": "j1"},
        "configuration": {"load": {"destinationTable": destination, **config}},
    }


def test_a_load_needs_jobs_create_and_update_data_on_its_table() -> None:
    insert = call(
        "POST", f"/bigquery/v2/projects/{P}/jobs", body=load_job(createDisposition="CREATE_NEVER")
    )

    assert bigquery_needs(insert, "f", FakeEmulators()) == [
        Need("bigquery.jobs.create", names.project(P)),
        Need("bigquery.tables.updateData", PREDICTIONS),
    ]


@pytest.mark.parametrize("disposition", [{}, {"createDisposition": "CREATE_IF_NEEDED"}])
def test_a_job_that_may_create_its_table_needs_tables_create_even_when_it_exists(
    disposition: dict[str, str],
) -> None:
    insert = call("POST", f"/bigquery/v2/projects/{P}/jobs", body=load_job(**disposition))

    assert bigquery_needs(insert, "f", FakeEmulators()) == [
        Need("bigquery.jobs.create", names.project(P)),
        Need("bigquery.tables.updateData", PREDICTIONS),
        Need("bigquery.tables.create", names.dataset(P, "ds")),
    ]


def test_a_load_sent_with_its_data_is_judged_by_the_job_in_its_first_part() -> None:
    body = (
        b"--b\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
        + json.dumps(load_job()).encode()
        + b"\r\n--b\r\nContent-Type: */*\r\n\r\nPAR1...\r\n--b--\r\n"
    )
    upload = call(
        "POST",
        f"/upload/bigquery/v2/projects/{P}/jobs",
        {"uploadType": "multipart"},
        body,
        "multipart/related; boundary=b",
    )
    needs = bigquery_needs(upload, "f", FakeEmulators())

    assert Need("bigquery.tables.updateData", PREDICTIONS) in needs


def test_a_query_needs_get_data_on_every_table_it_reads_and_none_on_its_ctes() -> None:
    sql = (
        "WITH made AS (SELECT record_id FROM `proj.ds.predictions`) "
        "SELECT * FROM made JOIN ds.labels USING (record_id) JOIN `other.ds2.t` USING (record_id)"
    )
    job = {"configuration": {"query": {"query": sql, "useLegacySql": False}}}
    needs = bigquery_needs(
        call("POST", f"/bigquery/v2/projects/{P}/jobs", body=job), "f", FakeEmulators()
    )

    assert needs == [
        Need("bigquery.jobs.create", names.project(P)),
        Need("bigquery.tables.getData", names.table("other", "ds2", "t")),
        Need("bigquery.tables.getData", names.table(P, "ds", "labels")),
        Need("bigquery.tables.getData", PREDICTIONS),
    ]


def test_a_job_is_read_by_its_creator_with_jobs_create_and_by_others_with_jobs_get() -> None:
    emulators = FakeEmulators(jobs={"mine": "score_file", "theirs": "retrain_model", "old": None})
    get = "/bigquery/v2/projects/proj/jobs/"

    assert bigquery_needs(call("GET", get + "mine"), "score_file", emulators) == [
        Need("bigquery.jobs.create", names.project(P))
    ]
    for job in ("theirs", "old"):
        assert bigquery_needs(call("GET", get + job), "score_file", emulators) == [
            Need("bigquery.jobs.get", names.project(P))
        ]
    # No such job: BigQuery answers 404 whoever asks.
    assert bigquery_needs(call("GET", get + "none"), "score_file", emulators) == []


@pytest.mark.parametrize(
    ("method", "path", "needs"),
    [
        ("GET", "/datasets/ds", [("bigquery.datasets.get", names.dataset(P, "ds"))]),
        ("GET", "/datasets/ds/tables", [("bigquery.tables.list", names.dataset(P, "ds"))]),
        ("POST", "/datasets/ds/tables", [("bigquery.tables.create", names.dataset(P, "ds"))]),
        ("GET", TABLE, [("bigquery.tables.get", PREDICTIONS)]),
        ("GET", TABLE + "/data", [("bigquery.tables.getData", PREDICTIONS)]),
        ("POST", TABLE + "/insertAll", [("bigquery.tables.updateData", PREDICTIONS)]),
        ("DELETE", TABLE, [("bigquery.tables.delete", PREDICTIONS)]),
        ("POST", "/datasets", [("bigquery.datasets.create", names.project(P))]),
    ],
)  # fmt: skip
def test_dataset_and_table_calls(method: str, path: str, needs: list[tuple[str, str]]) -> None:
    request = call(method, f"/bigquery/v2/projects/{P}{path}")
    assert bigquery_needs(request, "f", FakeEmulators()) == [Need(*n) for n in needs]


# --- SQL -----------------------------------------------------------------------------------------


def test_dml_and_ddl_say_what_they_write() -> None:
    merge = effects("MERGE ds.t T USING ds.s S ON T.a = S.a WHEN MATCHED THEN DELETE", project=P)
    insert = effects("INSERT INTO ds.t (a) SELECT a FROM ds.s", project=P)
    create = effects("CREATE TABLE ds.n AS SELECT * FROM ds.s", project=P)

    t, s, n = TableRef(P, "ds", "t"), TableRef(P, "ds", "s"), TableRef(P, "ds", "n")
    assert (merge.writes, merge.reads) == ({t}, {t, s})  # a MERGE reads its target too
    assert (insert.writes, insert.reads) == ({t}, {s})
    assert (create.creates, create.reads) == ({n}, {s})
    assert effects("DROP TABLE ds.t", project=P).drops == {t}


def test_sql_that_cannot_be_judged_is_refused() -> None:
    with pytest.raises(UnreadableSql):
        effects("SELEC nothing FROM", project=P)
    with pytest.raises(UnreadableSql, match="names no dataset"):
        effects("SELECT * FROM t", project=P)


def test_what_a_training_source_reads() -> None:
    assert source_reads("bq://SELECT * FROM cloudscore.recent_applications", project=P) == (
        SourceReads(tables=(TableRef(P, "cloudscore", "recent_applications"),))
    )
    assert source_reads("bq://p2.ds.t", project=P) == SourceReads(
        tables=(TableRef("p2", "ds", "t"),)
    )
    assert source_reads("bq://ds.t", project=P) == SourceReads(tables=(TableRef(P, "ds", "t"),))
    assert source_reads("gs://bucket/train/x.parquet", project=P) == SourceReads(
        buckets=("bucket",)
    )
    assert source_reads("data/train.csv", project=P) == SourceReads()
    assert source_reads(None, project=P) == SourceReads()
    with pytest.raises(UsageError, match="only reads"):
        source_reads("bq://INSERT INTO ds.t SELECT 1", project=P)


# --- grants --------------------------------------------------------------------------------------

DEPLOYMENT = Deployment(
    project=P,
    dataset="ds",
    buckets={
        "CLOUDSCORE_INBOX_BUCKET": "inbox",
        "CLOUDSCORE_MODELS_BUCKET": "models",
        "CLOUDSCORE_PIPELINE_BUCKET": "pipeline",
    },
    training_reads=SourceReads(tables=(TableRef("warehouse", "sales", "recent"),)),
)


def test_the_grants_enforced_are_infras_in_the_stacks_names() -> None:
    grants = account_grants(DEPLOYMENT)

    assert (
        Grant(
            "score_file",
            "roles/storage.objectUser",
            names.bucket(P, "inbox"),
            "infra/iam.tf account_roles.score_file.buckets.CLOUDSCORE_INBOX_BUCKET",
        )
        in grants
    )
    assert {g.resource for g in grants if g.principal == "predict_rows"} == {
        names.project(P),
        names.bucket(P, "models"),
        names.table(P, "ds", "online_predictions"),
    }
    source = [g for g in grants if g.resource == names.table("warehouse", "sales", "recent")]
    assert [(g.principal, g.role) for g in source] == [
        ("retrain_model", "roles/bigquery.dataViewer")
    ]


def test_a_grant_covers_its_resource_and_what_is_inside_it_only() -> None:
    policy = Policy(account_grants(DEPLOYMENT), known_roles(read_module()))
    inbox_object = names.obj(P, "inbox", "incoming/a.csv")

    assert policy.covering("score_file", "storage.objects.delete", inbox_object)
    assert not policy.covering("score_file", "storage.objects.delete", names.obj(P, "models", "m"))
    assert not policy.covering(
        "predict_rows", "storage.objects.create", names.obj(P, "models", "m")
    )
    # A role granted on a table grants nothing on its dataset.
    assert not policy.covering("score_file", "bigquery.datasets.get", names.dataset(P, "ds"))
    assert policy.covering(
        "retrain_model", "bigquery.tables.getData", names.table(P, "ds", "labels")
    )
    assert not policy.covering(
        "score_file", "bigquery.tables.getData", names.table(P, "ds", "labels")
    )
    # A bucket whose name starts like a granted one is another bucket.
    assert not policy.covering("score_file", "storage.objects.get", names.obj(P, "inbox2", "x"))


def test_a_table_an_account_only_writes_rows_into_is_one_it_cannot_read_alter_or_delete() -> None:
    module = read_module()
    policy = Policy(account_grants(DEPLOYMENT, module), known_roles(module))
    predictions = names.table(P, "ds", "predictions")
    monitoring_runs = names.table(P, "ds", "monitoring_runs")

    assert policy.covering("score_file", "bigquery.tables.updateData", predictions)
    for permission in ("getData", "delete", "update", "get", "setIamPolicy"):
        assert not policy.covering("score_file", f"bigquery.tables.{permission}", predictions)
    # The retrain function reads its history of checks, and still cannot drop or reshape it.
    assert policy.covering("retrain_model", "bigquery.tables.getData", monitoring_runs)
    assert policy.covering("retrain_model", "bigquery.tables.updateData", monitoring_runs)
    assert not policy.covering("retrain_model", "bigquery.tables.delete", monitoring_runs)
    assert not policy.covering("retrain_model", "bigquery.tables.update", monitoring_runs)


def test_a_custom_roles_permissions_are_the_list_infra_creates_it_with() -> None:
    module = read_module()
    custom = module["locals"]["custom_roles"]
    granted = module["locals"]["account_roles"]["score_file"]["tables"]["predictions"]
    predictions = names.table(P, "ds", "predictions")
    assert granted in custom

    custom[granted]["permissions"] = [*custom[granted]["permissions"], "bigquery.tables.delete"]
    policy = Policy(account_grants(DEPLOYMENT, module), known_roles(module))

    assert policy.covering("score_file", "bigquery.tables.delete", predictions)


def test_a_custom_role_with_a_permission_no_role_includes_fails_the_start_naming_it() -> None:
    module = read_module()
    module["locals"]["custom_roles"]["rowWriter"]["permissions"] = ["bigquery.tables.updatedata"]

    with pytest.raises(LocalStackError, match=r"custom_roles\.rowWriter .*updatedata"):
        account_grants(DEPLOYMENT, module)


def test_a_role_the_table_does_not_list_fails_the_start_naming_it(tmp_path: Path) -> None:
    module = read_module()
    module["locals"]["account_roles"]["score_file"]["project"] = ["roles/made.up"]

    with pytest.raises(LocalStackError, match=r"roles/made\.up"):
        account_grants(DEPLOYMENT, module)


def test_each_function_is_its_own_service_account() -> None:
    assert account_email("score_file", P) == f"cloudscore-score-file@{P}.iam.gserviceaccount.com"
