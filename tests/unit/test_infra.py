"""The Terraform of infra/, checked offline: formatted, agreeing with the code, least privilege.

No provider can be downloaded here, so `terraform validate` cannot run. Instead: `terraform fmt`;
the HCL parsed and asserted against the code (shared/config.py, shared/tables.py, the archive's
entry points); the provider-free module that turns settings into each function's environment
run for real by Terraform; the dead-letter script run against a stand-in gcloud; checkov.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest

from cloudscore import packaging
from local_emulator.iam.hcl import plain, read_module
from shared.config import BATCH_VARIABLES, PREDICT_VARIABLES, VARIABLES, variables_of
from shared.events import INCOMING_PREFIX
from shared.tables import ALL_TABLES

ROOT = packaging.ROOT
INFRA = ROOT / "infra"
TERRAFORM = shutil.which("terraform")
CHECKOV = ROOT / ".cloudscore" / "tools" / "checkov" / "bin" / "checkov"
needs_terraform = pytest.mark.skipif(TERRAFORM is None, reason="terraform is not installed")

REQUIRED_SETTINGS = {
    "CLOUDSCORE_PROJECT": "demo-project",
    "CLOUDSCORE_INBOX_BUCKET": "demo-inbox",
    "CLOUDSCORE_MODELS_BUCKET": "demo-models",
    "CLOUDSCORE_DATASET": "cloudscore",
    "CLOUDSCORE_MODEL_NAME": "loan-default",
}


# --- reading HCL -------------------------------------------------------------------------------

_module = read_module


@pytest.fixture(scope="module")
def root() -> dict[str, Any]:
    return _module(INFRA)


@pytest.fixture(scope="module")
def facts() -> dict[str, Any]:
    return json.loads((ROOT / packaging.FACTS_PATH).read_text())


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    """(key, value) of every attribute at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _functions(root: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: body
        for (type_, name), body in root["resource"].items()
        if type_ == "google_cloudfunctions2_function"
    }


# --- formatting and the generated facts --------------------------------------------------------


@needs_terraform
def test_terraform_is_formatted() -> None:
    result = subprocess.run(
        [str(TERRAFORM), "fmt", "-check", "-recursive", "-diff", str(INFRA)],
        capture_output=True,
        text=True,
        env=_terraform_env(),
        check=False,
    )

    assert result.returncode == 0, f"run `terraform fmt -recursive infra`:\n{result.stdout}"


def test_generated_facts_match_the_code() -> None:
    assert packaging.facts_are_current(), (
        f"{packaging.FACTS_PATH} is stale: run `cloudscore deploy generate` and commit it"
    )


def test_facts_hold_every_table_as_the_code_declares_it(facts: dict[str, Any]) -> None:
    api_names = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN"}

    assert set(facts["tables"]) == {t.name for t in ALL_TABLES}
    for table in ALL_TABLES:
        spec = facts["tables"][table.name]
        assert [(c["name"], c["type"], c["mode"]) for c in spec["schema"]] == [
            (c.name, api_names.get(c.type, c.type), c.mode) for c in table.columns
        ]
        assert spec["partition_by_day"] == table.partition_by_day
        assert spec["cluster_by"] == list(table.cluster_by)
    assert facts["tables"]["predictions"]["partition_by_day"] == "scored_at"
    assert facts["tables"]["predictions"]["cluster_by"] == ["model_version"]


def test_facts_hold_each_functions_variables_and_every_setting(facts: dict[str, Any]) -> None:
    declared = {v.name: v for v in (*VARIABLES, *BATCH_VARIABLES, *PREDICT_VARIABLES)}

    assert set(facts["functions"]) == {p.name for p in packaging.entry_points()}
    for name, spec in facts["functions"].items():
        assert spec["environment"] == list(variables_of(name))
    assert {n: s["default"] for n, s in facts["settings"].items()} == {
        n: v.default for n, v in declared.items()
    }


# --- the tables --------------------------------------------------------------------------------


def test_tables_are_made_from_the_facts_with_their_partitioning_and_clustering(
    root: dict[str, Any],
) -> None:
    tables = root["resource"][("google_bigquery_table", "tables")]
    dataset = root["resource"][("google_bigquery_dataset", "this")]

    assert tables["for_each"] == "${module.config.tables}"
    assert tables["schema"] == "${jsonencode(each.value.schema)}"
    assert tables["table_id"] == "${each.key}"
    partitioning = tables["dynamic"][0]["time_partitioning"]
    assert "each.value.partition_by_day" in partitioning["for_each"]
    assert partitioning["content"][0] == {"type": "DAY", "field": "${time_partitioning.value}"}
    assert "each.value.cluster_by" in tables["clustering"]
    assert dataset["dataset_id"] == '${local.settings["CLOUDSCORE_DATASET"]}'
    # CLOUDSCORE_REGION is the dataset's location as well as the functions' region.
    assert dataset["location"] == "${local.region}"
    assert root["locals"]["region"] == '${local.settings["CLOUDSCORE_REGION"]}'


# --- the functions -----------------------------------------------------------------------------


def test_each_function_runs_its_own_entry_point_with_exactly_its_variables(
    root: dict[str, Any], facts: dict[str, Any]
) -> None:
    functions = _functions(root)

    assert set(functions) == set(facts["functions"]) == {p.name for p in packaging.entry_points()}
    for name, body in functions.items():
        build = body["build_config"][0]
        service = body["service_config"][0]
        assert build["entry_point"] == f'${{module.config.functions["{name}"].entry_point}}'
        variables = f'module.config.library_environment, module.config.environment["{name}"]'
        if name == "predict_rows":  # and functions-framework's gunicorn settings
            variables += ", local.predict_rows_gunicorn"
        if name == "score_file":  # and where the pipeline is, from infra's own resources
            variables += ", local.pipeline_environment"
        assert service["environment_variables"] == f"${{merge({variables})}}"
        source = build["source"][0]["storage_source"][0]
        assert source["object"] == "${google_storage_bucket_object.source.name}"


def _gunicorn_settings(
    root: dict[str, Any], folder: Path, cpu: str, concurrency: int
) -> dict[str, str]:
    """The WORKERS and THREADS the predict function gets for these sizes, worked out by
    Terraform from infra/'s own expressions, copied into a module of their own (with no
    provider, `terraform console` needs no init)."""
    local = root["locals"]
    lines = [
        'variable "predict_rows" { type = object({ cpu = string, concurrency = number }) }',
        "locals {",
        f"  predict_rows_workers = {local['predict_rows_workers'][2:-1]}",
        "  predict_rows_gunicorn = {",
        *(f"    {name} = {value[2:-1]}" for name, value in local["predict_rows_gunicorn"].items()),
        "  }",
        "}",
    ]
    (folder / "gunicorn.tf").write_text("\n".join(lines) + "\n")
    result = subprocess.run(
        [
            str(TERRAFORM),
            "console",
            f'-var=predict_rows={{cpu = "{cpu}", concurrency = {concurrency}}}',
        ],
        input="jsonencode(local.predict_rows_gunicorn)\n",
        capture_output=True,
        text=True,
        env=_terraform_env(folder),
        cwd=folder,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    settings: dict[str, str] = json.loads(json.loads(result.stdout.strip().splitlines()[-1]))
    return settings


@needs_terraform
@pytest.mark.parametrize(
    ("cpu", "concurrency", "expected"),
    [("1", 1, ("1", "1")), ("0.583", 1, ("1", "1")), ("2", 8, ("2", "4")), ("2", 3, ("2", "2")),
     ("4", 80, ("4", "20")), ("1", 8, ("1", "8")), ("2000m", 4, ("1", "4"))],
)  # fmt: skip
def test_the_http_function_gets_a_gunicorn_worker_per_vcpu_and_threads_for_its_concurrency(
    root: dict[str, Any], tmp_path: Path, cpu: str, concurrency: int, expected: tuple[str, str]
) -> None:
    # functions-framework's own default is one worker of 4 threads per core it sees: one core
    # of Python work at a time, whatever the instance's size.
    settings = _gunicorn_settings(root, tmp_path, cpu, concurrency)

    assert (settings["WORKERS"], settings["THREADS"]) == expected


def test_each_function_has_its_own_service_account(root: dict[str, Any]) -> None:
    functions = _functions(root)
    accounts = {
        name: body["service_config"][0]["service_account_email"] for name, body in functions.items()
    }
    triggers = {
        name: body["event_trigger"][0]["service_account_email"]
        for name, body in functions.items()
        if "event_trigger" in body
    }

    assert accounts == {n: f'${{google_service_account.function["{n}"].email}}' for n in functions}
    assert triggers == {
        n: f'${{google_service_account.trigger["{n}"].email}}'
        for n in ("score_file", "retrain_model")
    }
    assert root["resource"][("google_service_account", "function")]["for_each"] == (
        "${local.function_names}"
    )
    builds = {body["build_config"][0]["service_account"] for body in functions.values()}
    assert builds == {"${google_service_account.build.id}"}


def test_the_batch_function_is_triggered_by_files_under_incoming_only_with_retries(
    root: dict[str, Any], facts: dict[str, Any]
) -> None:
    body = _functions(root)["score_file"]
    trigger = body["event_trigger"][0]
    inbox = root["resource"][("google_storage_bucket", "inbox")]
    notification = root["resource"][("google_storage_notification", "incoming")]
    publisher = root["resource"][("google_pubsub_topic_iam_member", "gcs_publishes_inbox_events")]

    # The inbox's notification, filtered to the prefix: the function's own writes to the inbox
    # (claims, progress, processed/, quarantine/) reach no trigger.
    assert notification["bucket"] == "${google_storage_bucket.inbox.name}"
    assert notification["object_name_prefix"] == "${module.config.incoming_prefix}"
    assert facts["incoming_prefix"] == INCOMING_PREFIX
    assert notification["event_types"] == ["OBJECT_FINALIZE"]
    assert notification["payload_format"] == "JSON_API_V1"
    assert notification["topic"] == trigger["pubsub_topic"].replace(".id}", ".id}")
    assert trigger["event_type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert trigger["pubsub_topic"] == "${google_pubsub_topic.inbox_events.id}"
    assert trigger["retry_policy"] == "RETRY_POLICY_RETRY"
    assert trigger["trigger_region"] == inbox["location"] == "${local.region}"
    # Cloud Storage's agent publishes there, on that topic only.
    assert publisher["topic"] == "${google_pubsub_topic.inbox_events.id}"
    assert publisher["role"] == "roles/pubsub.publisher"
    assert publisher["member"] == "${data.google_storage_project_service_account.gcs.member}"
    assert inbox["name"] == '${local.settings["CLOUDSCORE_INBOX_BUCKET"]}'
    assert body["service_config"][0]["timeout_seconds"] == "${var.score_file.timeout_s}"


def test_the_retrainer_is_triggered_by_the_topic_the_scheduler_publishes_to(
    root: dict[str, Any],
) -> None:
    trigger = _functions(root)["retrain_model"]["event_trigger"][0]
    job = root["resource"][("google_cloud_scheduler_job", "retrain")]
    topic = root["resource"][("google_pubsub_topic", "retrain")]

    assert trigger["event_type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert trigger["pubsub_topic"] == "${google_pubsub_topic.retrain.id}"
    assert trigger["retry_policy"] == "RETRY_POLICY_RETRY"
    assert job["pubsub_target"][0]["topic_name"] == "${google_pubsub_topic.retrain.id}"
    assert job["schedule"] == '${local.settings["CLOUDSCORE_RETRAIN_SCHEDULE"]}'
    assert job["time_zone"] == "Etc/UTC"
    assert topic["name"] == '${local.settings["CLOUDSCORE_RETRAIN_TOPIC"]}'


def test_both_triggers_dead_letter_to_a_kept_topic(root: dict[str, Any]) -> None:
    dead_letter = root["resource"][("terraform_data", "dead_letter")]
    subscription = root["resource"][("google_pubsub_subscription", "dead_letter")]

    assert set(dead_letter["for_each"]) == {"score_file", "retrain_model"}
    environment = dead_letter["provisioner"][0]["local-exec"]["environment"]
    assert environment["DEAD_LETTER_TOPIC"] == "${google_pubsub_topic.dead_letter.id}"
    # The retry policy is set on the triggers' subscriptions from the variables the local
    # Eventarc reads too (local_emulator.deployment).
    assert environment["MAX_DELIVERY_ATTEMPTS"] == "${tostring(var.max_delivery_attempts)}"
    assert environment["MIN_RETRY_DELAY_S"] == "${tostring(var.event_retry_delay_s.min)}"
    assert environment["MAX_RETRY_DELAY_S"] == "${tostring(var.event_retry_delay_s.max)}"
    assert subscription["topic"] == "${google_pubsub_topic.dead_letter.id}"
    assert subscription["message_retention_duration"] == "604800s"


def test_event_function_timeouts_are_bounded_and_the_time_budget_checked(
    root: dict[str, Any],
) -> None:
    variables = root["variable"]
    config = _module(INFRA / "modules" / "config")

    for name in ("score_file", "retrain_model"):
        conditions = [v["condition"] for v in variables[name]["validation"]]
        assert any(f"var.{name}.timeout_s <= 540" in c for c in conditions)
    budget = config["variable"]["score_file_timeout_s"]["validation"][0]["condition"]
    assert "CLOUDSCORE_BATCH_TIME_BUDGET_S" in budget and "< var.score_file_timeout_s" in budget
    assert root["module"]["config"]["score_file_timeout_s"] == "${var.score_file.timeout_s}"


# --- buckets -----------------------------------------------------------------------------------


def test_buckets_are_private_and_kept_as_the_issue_asks(root: dict[str, Any]) -> None:
    buckets = {
        name: body
        for (type_, name), body in root["resource"].items()
        if type_ == "google_storage_bucket"
    }
    inbox_rule = buckets["inbox"]["lifecycle_rule"][0]

    for body in buckets.values():
        assert body["uniform_bucket_level_access"] is True
        assert body["public_access_prevention"] == "enforced"
    assert inbox_rule["condition"][0]["matches_prefix"] == ["processed/"]
    assert inbox_rule["action"][0]["type"] == "Delete"
    assert buckets["models"]["versioning"] == [{"enabled": True}]
    assert buckets["models"]["name"] == '${local.settings["CLOUDSCORE_MODELS_BUCKET"]}'


def test_split_plans_are_deleted_once_the_load_jobs_they_keep_apart_are_forgotten(
    root: dict[str, Any], facts: dict[str, Any]
) -> None:
    from cloudscore.pipeline.plans import PLANS_PREFIX

    rules = root["resource"][("google_storage_bucket", "inbox")]["lifecycle_rule"]
    plans = [r for r in rules if r["condition"][0]["matches_prefix"] != ["processed/"]]

    (rule,) = plans
    (condition,) = rule["condition"]
    assert condition["matches_prefix"] == ["${module.config.plans_prefix}"]
    assert facts["plans_prefix"] == PLANS_PREFIX
    assert rule["action"] == [{"type": "Delete"}]
    # BigQuery keeps a job six months (184 days at most) after its creation: a plan lives longer.
    assert isinstance(condition["age"], int)
    assert condition["age"] > 184
    # The plans are not files to score, nor among the scored ones kept for processed_retention_days.
    assert not PLANS_PREFIX.startswith((INCOMING_PREFIX, "processed/"))


# --- access ------------------------------------------------------------------------------------


def test_no_public_access_anywhere(root: dict[str, Any]) -> None:
    public = {"allUsers", "allAuthenticatedUsers"}
    members = [
        value
        for body in root["resource"].values()
        for key, value in _walk(body)
        if key in ("member", "members")
    ]
    invokers = root["resource"][("google_cloud_run_v2_service_iam_member", "predict_invokers")]

    assert members
    assert not [m for m in members if any(p in str(m) for p in public)]
    assert invokers["for_each"] == "${toset(var.predict_invokers)}"
    assert root["variable"]["predict_invokers"]["default"] == []
    guard = root["variable"]["predict_invokers"]["validation"][0]["condition"]
    assert "allUsers" in guard and "allAuthenticatedUsers" in guard
    assert not [t for t, _ in root["resource"] if t.endswith("_iam_binding")]
    assert not [t for t, _ in root["resource"] if t.endswith("_iam_policy")]


def test_project_wide_roles_are_only_those_that_cannot_be_narrowed(root: dict[str, Any]) -> None:
    granted = {
        name: body["role"]
        for (type_, name), body in root["resource"].items()
        if type_ == "google_project_iam_member"
    }

    assert granted == {
        "account": "${each.value.role}",
        "trigger_event_receiver": "roles/eventarc.eventReceiver",
        "build_log_writer": "roles/logging.logWriter",
        "build_reads_sources": "roles/storage.objectAdmin",
        # Google's agents' own roles, which an agent made on request must be given.
        "pubsub_agent": "roles/pubsub.serviceAgent",
        "eventarc_agent": "roles/eventarc.serviceAgent",
        "dataflow_agent": "roles/dataflow.serviceAgent",
    }
    # The accounts' project-wide roles: BigQuery job creation, and the batch function's launch
    # and the workers' part of Dataflow jobs (jobs have no narrower place).
    access = root["locals"]["account_roles"]
    assert {a: spec["project"] for a, spec in access.items()} == {
        "score_file": ["roles/bigquery.jobUser", "roles/dataflow.developer"],
        "predict_rows": ["roles/bigquery.jobUser"],
        "retrain_model": ["roles/bigquery.jobUser"],
        "dataflow_worker": ["roles/bigquery.jobUser", "roles/dataflow.worker"],
    }
    condition = root["resource"][("google_project_iam_member", "build_reads_sources")]
    assert "gcf-v2-sources-" in condition["condition"][0]["expression"]
    roles = [value for body in root["resource"].values() for k, value in _walk(body) if k == "role"]
    assert not [r for r in roles if r in ("roles/owner", "roles/editor", "roles/viewer")]


def test_functions_reach_only_their_buckets_and_tables(root: dict[str, Any]) -> None:
    access = root["locals"]["account_roles"]
    tables = {t.name for t in ALL_TABLES}

    assert set(access) == {p.name for p in packaging.entry_points()} | {"dataflow_worker"}
    for spec in access.values():
        assert set(spec) <= {"project", "buckets", "tables", "service_accounts"}
        assert set(spec["tables"]) <= tables
        assert set(spec["tables"].values()) <= {
            "rowWriter",
            "rowReaderWriter",
            "roles/bigquery.dataViewer",
        }
    writes = {
        f: {t for t, r in spec["tables"].items() if r.startswith("row")}
        for f, spec in access.items()
    }
    assert writes["score_file"] == {"predictions", "rejected_rows", "scoring_runs"}
    assert writes["predict_rows"] == {"online_predictions"}
    assert access["predict_rows"]["buckets"] == {
        "CLOUDSCORE_MODELS_BUCKET": "roles/storage.objectViewer"
    }
    assert "CLOUDSCORE_INBOX_BUCKET" not in access["retrain_model"]["buckets"]
    assert not [(t, n) for (t, n) in root["resource"] if t == "google_bigquery_dataset_iam_member"]
    # The pipeline's workers write what the batch function writes, and only that; the batch
    # function only reads the pipeline's bucket (its template), and acts as the workers only.
    assert writes["dataflow_worker"] == writes["score_file"]
    assert access["score_file"]["buckets"]["CLOUDSCORE_PIPELINE_BUCKET"] == (
        "roles/storage.objectViewer"
    )
    assert {a: spec.get("service_accounts") for a, spec in access.items()} == {
        "score_file": {"dataflow_worker": "roles/iam.serviceAccountUser"},
        "predict_rows": None,
        "retrain_model": None,
        "dataflow_worker": None,
    }


def test_every_grant_to_an_account_comes_from_the_one_list(root: dict[str, Any]) -> None:
    # The local cloud enforces `account_roles` (and the training source's roles): a grant made
    # to a function's or the workers' account anywhere else would be one it does not see, but
    # for the workers' pull of the pipeline's image, which the local cloud has no use for, and
    # their read of the tables backfills read (var.pipeline_source_tables), which it does not
    # read (a local bq:// backfill is refused on any other table than the workers' three).
    granted_from = {
        (type_, name): body.get("for_each")
        for (type_, name), body in root["resource"].items()
        if type_.endswith("_iam_member")
        and re.search(
            r"google_service_account\.(function\[|dataflow_worker)|local\.accounts\[",
            body["member"],
        )
    }

    assert granted_from == {
        ("google_project_iam_member", "account"): "${local.project_grants}",
        ("google_storage_bucket_iam_member", "account"): "${local.bucket_grants}",
        ("google_bigquery_table_iam_member", "account"): "${local.table_grants}",
        ("google_service_account_iam_member", "account"): "${local.service_account_grants}",
        ("google_bigquery_table_iam_member", "retrain_reads_source"): (
            "${toset(var.training_source_reads.tables)}"
        ),
        ("google_storage_bucket_iam_member", "retrain_reads_source"): (
            "${toset(var.training_source_reads.buckets)}"
        ),
        ("google_artifact_registry_repository_iam_member", "workers_pull_pipeline"): None,
        ("google_bigquery_table_iam_member", "workers_read_source"): (
            "${toset(var.pipeline_source_tables)}"
        ),
    }
    for (type_, name), _ in granted_from.items():
        role = root["resource"][(type_, name)]["role"]
        if name == "retrain_reads_source":
            kind = "table" if "bigquery" in type_ else "bucket"
            assert role == f"${{local.training_source_roles.{kind}}}"
        elif name == "workers_pull_pipeline":
            assert role == "roles/artifactregistry.reader"
        elif name == "workers_read_source":
            assert role == "roles/bigquery.dataViewer"
        else:
            assert role == "${each.value.role}"


def test_every_role_infra_grants_a_function_is_one_the_local_cloud_can_expand(
    root: dict[str, Any],
) -> None:
    from local_emulator.iam.roles import all_roles, custom_roles, known_roles

    access = root["locals"]["account_roles"]
    roles = {r for spec in access.values() for r in spec["project"]}
    roles |= {r for spec in access.values() for r in spec["buckets"].values()}
    roles |= {r for spec in access.values() for r in spec["tables"].values()}
    roles |= {r for spec in access.values() for r in spec.get("service_accounts", {}).values()}
    roles |= set(root["locals"]["training_source_roles"].values())

    assert roles <= set(known_roles(root))
    for role in all_roles().values():
        assert role.reference.startswith("https://cloud.google.com/iam/docs/roles-permissions/")
        assert role.permissions
    for role in custom_roles(root).values():
        assert role.permissions
        assert role.name in roles, f"custom role {role.name} is granted to no account"


def test_custom_roles_are_made_from_the_literal_list_and_granted_by_their_full_name(
    root: dict[str, Any],
) -> None:
    custom = root["resource"][("google_project_iam_custom_role", "account")]
    grants = root["locals"]

    # Terraform creates each from the same data the local cloud expands it from.
    assert custom["for_each"] == "${local.custom_roles}"
    assert custom["permissions"] == "${each.value.permissions}"
    # A custom role's id: letters, digits and _ (name_prefix's - replaced), a key of custom_roles.
    assert custom["role_id"] == '${replace(var.name_prefix, "-", "_")}_${each.key}'
    for key in grants["custom_roles"]:
        assert re.fullmatch(r"[a-zA-Z0-9_.]{3,50}", key), key
    # Each grant names a custom role by its full name, projects/PROJECT/roles/ID.
    assert "google_project_iam_custom_role.account" in grants["custom_role_names"]
    for kind in ("project_grants", "bucket_grants", "table_grants", "service_account_grants"):
        assert "role = lookup(local.custom_role_names, role, role)" in grants[kind], kind


def test_no_account_may_delete_or_alter_a_table_it_writes(root: dict[str, Any]) -> None:
    from local_emulator.iam.roles import known_roles

    roles = known_roles(root)
    for account, spec in root["locals"]["account_roles"].items():
        for table, name in spec["tables"].items():
            held = roles[name].permissions
            assert not held & {"bigquery.tables.delete", "bigquery.tables.update"}, (
                f"{account} on {table}: {name}"
            )


# --- the settings module, run by Terraform -----------------------------------------------------


def _terraform_env(tmp: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "CLOUDSCORE_"))}
    # No version check against HashiCorp's servers, no user configuration (mirrors, plugins).
    env["CHECKPOINT_DISABLE"] = "1"
    if tmp is not None:
        empty = tmp / "terraformrc"
        empty.write_text("")
        env["TF_CLI_CONFIG_FILE"] = str(empty)
    return env


@pytest.fixture(scope="module")
def config_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if TERRAFORM is None:
        pytest.skip("terraform is not installed")
    tmp = tmp_path_factory.mktemp("tf")
    shutil.copytree(
        INFRA, tmp / "infra", ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*")
    )
    folder = tmp / "infra" / "modules" / "config"
    result = subprocess.run(
        [TERRAFORM, "init", "-backend=false", "-input=false", "-no-color"],
        cwd=folder,
        env=_terraform_env(tmp),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return folder


def _config_run(
    folder: Path, settings: dict[str, str], timeout_s: int = 540
) -> subprocess.CompletedProcess[str]:
    """Apply the module (it has no resources: only its checks and outputs) with these inputs."""
    tmp = folder.parent.parent.parent
    variables = tmp / f"vars-{len(list(tmp.glob('vars-*')))}.json"
    variables.write_text(json.dumps({"settings": settings, "score_file_timeout_s": timeout_s}))
    state = variables.with_suffix(".tfstate")
    return subprocess.run(
        [
            *(TERRAFORM or "terraform", "apply", "-auto-approve", "-input=false", "-no-color"),
            *(f"-var-file={variables}", f"-state={state}"),
        ],
        cwd=folder,
        env=_terraform_env(tmp),
        capture_output=True,
        text=True,
        check=False,
    )


def _outputs(folder: Path, run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert run.returncode == 0, run.stderr
    state = json.loads(sorted(folder.parent.parent.parent.glob("vars-*.tfstate"))[-1].read_text())
    return {name: output["value"] for name, output in state["outputs"].items()}


def _said(run: subprocess.CompletedProcess[str]) -> str:
    return " ".join(run.stderr.replace("│", " ").split())


def test_terraform_sets_on_each_function_exactly_the_variables_the_code_reads(
    config_module: Path,
) -> None:
    from cloudscore.cli.deploy_cmd import deployment_settings

    env = {**REQUIRED_SETTINGS, "CLOUDSCORE_BATCH_CHUNK_ROWS": "1000"}
    settings = deployment_settings(env)

    outputs = _outputs(config_module, _config_run(config_module, settings))

    for function, environment in outputs["environment"].items():
        assert list(environment) == sorted(variables_of(function))
        assert environment == {name: settings[name] for name in variables_of(function)}
    assert outputs["environment"]["score_file"]["CLOUDSCORE_BATCH_CHUNK_ROWS"] == "1000"
    assert "CLOUDSCORE_BATCH_CHUNK_ROWS" not in outputs["environment"]["predict_rows"]
    assert "CLOUDSCORE_RETRAIN_TOPIC" not in outputs["environment"]["retrain_model"]


def test_unset_settings_take_the_codes_defaults(config_module: Path) -> None:
    outputs = _outputs(config_module, _config_run(config_module, REQUIRED_SETTINGS))

    assert outputs["values"]["CLOUDSCORE_REGION"] == "us-central1"
    assert outputs["values"]["CLOUDSCORE_BATCH_TIME_BUDGET_S"] == "480"
    assert outputs["values"]["CLOUDSCORE_RETRAIN_SCHEDULE"] == "0 3 * * *"
    assert outputs["plans_prefix"] == "_plans/"


def test_a_time_budget_not_below_the_timeout_is_refused(config_module: Path) -> None:
    run = _config_run(config_module, REQUIRED_SETTINGS, timeout_s=480)

    assert run.returncode != 0
    assert "CLOUDSCORE_BATCH_TIME_BUDGET_S (480 s) must stay below" in _said(run)


def test_unknown_and_missing_settings_are_named(config_module: Path) -> None:
    settings = {k: v for k, v in REQUIRED_SETTINGS.items() if k != "CLOUDSCORE_DATASET"}
    run = _config_run(config_module, {**settings, "CLOUDSCORE_BATCH_CHUNK_ROW": "5"})

    assert run.returncode != 0
    assert "Unknown settings: CLOUDSCORE_BATCH_CHUNK_ROW." in _said(run)
    assert "Required settings are missing: CLOUDSCORE_DATASET." in _said(run)


def test_a_multi_region_is_refused_for_the_functions(config_module: Path) -> None:
    run = _config_run(config_module, {**REQUIRED_SETTINGS, "CLOUDSCORE_REGION": "EU"})

    assert run.returncode != 0
    assert "CLOUDSCORE_REGION must be a region such as us-central1" in _said(run)


# --- the dead-letter script --------------------------------------------------------------------


def test_the_dead_letter_script_attaches_the_topic_to_the_triggers_subscription(
    tmp_path: Path,
) -> None:
    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "gcloud"
    fake.parent.mkdir()
    fake.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >> {calls}\n'
        'if [[ "$1 $2" == "eventarc triggers" ]]; then\n'
        "  echo projects/p/subscriptions/eventarc-europe-west1-t-sub-1\nfi\n"
    )
    fake.chmod(0o755)
    env = {
        "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}",
        "TRIGGER": "projects/p/locations/europe-west1/triggers/t",
        "DEAD_LETTER_TOPIC": "projects/p/topics/cloudscore-dead-letter",
        "MAX_DELIVERY_ATTEMPTS": "10",
        "MIN_RETRY_DELAY_S": "10",
        "MAX_RETRY_DELAY_S": "600",
        "PUBSUB_AGENT": "service-1@gcp-sa-pubsub.iam.gserviceaccount.com",
    }

    result = subprocess.run(
        ["bash", str(INFRA / "scripts" / "eventarc-dead-letter.sh")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    lines = calls.read_text().splitlines()
    subscription = "projects/p/subscriptions/eventarc-europe-west1-t-sub-1"
    assert lines[0].startswith("eventarc triggers describe t --project=p --location=europe-west1")
    assert lines[1].startswith(f"pubsub subscriptions add-iam-policy-binding {subscription}")
    assert "--role=roles/pubsub.subscriber" in lines[1]
    assert lines[2] == (
        f"pubsub subscriptions update {subscription} "
        "--dead-letter-topic=projects/p/topics/cloudscore-dead-letter "
        "--max-delivery-attempts=10 --min-retry-delay=10s --max-retry-delay=600s --quiet"
    )


def test_the_dead_letter_script_refuses_a_malformed_trigger(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "TRIGGER": "t",
        "DEAD_LETTER_TOPIC": "projects/p/topics/d",
        "MIN_RETRY_DELAY_S": "10",
        "MAX_RETRY_DELAY_S": "600",
        "MAX_DELIVERY_ATTEMPTS": "10",
        "PUBSUB_AGENT": "a@b",
    }
    fake = tmp_path / "gcloud"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    env["PATH"] = f"{tmp_path}{os.pathsep}{env['PATH']}"

    result = subprocess.run(
        ["bash", str(INFRA / "scripts" / "eventarc-dead-letter.sh")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    assert "TRIGGER must be projects/P/locations/L/triggers/T" in result.stderr


# --- checkov -----------------------------------------------------------------------------------


def test_checkov_finds_nothing_and_every_skip_says_why() -> None:
    if not CHECKOV.exists():
        pytest.skip(f"checkov is not installed at {CHECKOV} (`make checkov` installs it)")
    result = subprocess.run(
        [
            *(str(CHECKOV), "--directory", str(INFRA), "--framework", "terraform"),
            *("--skip-download", "--output", "json"),
        ],
        env={**_terraform_env(), "BC_SKIP_MAPPING": "TRUE"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads(result.stdout)
    results = report["results"]

    failed = [(c["check_id"], c["resource"]) for c in results["failed_checks"]]
    assert failed == [], result.stdout
    assert result.returncode == 0
    assert report["summary"]["passed"] > 0
    # checkov's report leaves the reasons out: read them where they are written.
    reasons = {
        match[0]: match[1].strip()
        for path in INFRA.rglob("*.tf")
        for match in re.findall(r"#checkov:skip=(CKV2?_\w+):(.*)", path.read_text())
    }
    skipped = {c["check_id"] for c in results["skipped_checks"]}
    assert skipped <= set(reasons)
    assert all(len(reason) >= 30 for reason in reasons.values()), reasons


# --- names checked against the providers' schemas ---------------------------------------------

_META = {"for_each", "count", "depends_on", "lifecycle", "provider", "provisioner", "connection"}


def _unknown_names(body: dict[str, Any], node: dict[str, Any], where: str) -> list[str]:
    unknown = []
    for key, value in body.items():
        if key in _META:
            continue
        if key == "dynamic":
            for block in value:
                for name, spec in block.items():
                    child = node["arguments"].get(name, False)
                    if child is False:
                        unknown.append(f"{where}.{name}")
                    elif child:
                        unknown += _unknown_names(spec["content"][0], child, f"{where}.{name}")
            continue
        if key not in node["arguments"]:
            unknown.append(f"{where}.{key}")
            continue
        child = node["arguments"][key]
        if child and isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    unknown += _unknown_names(item, child, f"{where}.{key}")
    return unknown


SCHEMAS = INFRA / "tools" / "provider-schemas.json"


def _provider_of(type_: str, body: dict[str, Any]) -> str:
    """The provider a block belongs to: its `provider` meta-argument, else its type's prefix
    (as tools/provider_schemas.py assigns them)."""
    named = body.get("provider")
    if isinstance(named, str):
        return named.strip("${}").split(".")[0]
    return type_.split("_", maxsplit=1)[0]


def _schema_of(type_: str, body: dict[str, Any], data: bool = False) -> dict[str, Any]:
    providers = json.loads(SCHEMAS.read_text())["providers"]
    node: dict[str, Any] = providers[_provider_of(type_, body)]["types"][
        ("data." if data else "") + type_
    ]
    return node


def test_every_argument_is_one_the_provider_has() -> None:
    root = _module(INFRA)

    unknown = []
    for kind in ("resource", "data"):
        for (type_, name), body in root[kind].items():
            if type_.startswith(("google_", "time_")):
                node = _schema_of(type_, body, data=kind == "data")
                where = f"{'data.' if kind == 'data' else ''}{type_}.{name}"
                unknown += _unknown_names(body, node, where)

    assert unknown == []
    # The names were checked against these versions: each provider is held to its own.
    with (INFRA / "versions.tf").open() as source:
        terraform = plain(hcl2.load(source))["terraform"][0]
    pinned = {name: spec["version"] for name, spec in terraform["required_providers"][0].items()}
    schemas = json.loads(SCHEMAS.read_text())["providers"]
    assert set(schemas) <= set(pinned)
    for provider, schema in schemas.items():
        assert schema["source"].endswith(f"({provider} provider {pinned[provider]})"), provider


# Resource types of the google providers and of time (whose types are few: a dynamic block's
# iterator such as time_partitioning is not one of them).
_REFERENCE = re.compile(
    r"(?<![\w.])(data\.)?(google_\w+|time_(?:offset|rotating|sleep|static))\.(\w+)"
    r"((?:\[[^\]]*\]|\.\w+)*)"
)


_MOVED = re.compile(r"^moved \{\n(.*?)^\}", re.M | re.S)


def test_each_moved_resource_is_declared_at_its_new_address_only() -> None:
    root = _module(INFRA)
    declared = {f"{t}.{n}" for t, n in root["resource"]}
    moves = [
        dict(re.findall(r"(from|to)\s*=\s*(\S+)", block))
        for path in INFRA.glob("*.tf")
        for block in _MOVED.findall(path.read_text())
    ]

    assert moves
    for move in moves:
        assert move["to"] in declared and move["from"] not in declared, move


def test_every_attribute_read_is_one_the_provider_has() -> None:
    root = _module(INFRA)
    declared = {("", t, n): body for (t, n), body in root["resource"].items()} | {
        ("data.", t, n): body for (t, n), body in root["data"].items()
    }

    problems = []
    for path in sorted(INFRA.glob("*.tf")):
        code = "\n".join(
            line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
        )
        # A moved block names a resource's former address, which no longer exists.
        code = _MOVED.sub("", code)
        for data, type_, name, rest in _REFERENCE.findall(code):
            if (data, type_, name) not in declared:
                problems.append(f"{path.name}: {data}{type_}.{name} is not declared")
                continue
            node = _schema_of(type_, declared[(data, type_, name)], data=bool(data))
            steps = re.findall(r"\.(\w+)", re.sub(r"^\[[^\]]*\]", "", rest))
            for step in steps:
                if node is None or step not in node["attributes"]:
                    problems.append(f"{path.name}: {data}{type_}.{name}{rest} ({step})")
                    break
                node = node["arguments"].get(step)

    assert problems == []


def test_every_variable_local_and_module_output_used_is_declared() -> None:
    for folder in (INFRA, INFRA / "modules" / "config"):
        module = _module(folder)
        text = "\n".join(p.read_text() for p in folder.glob("*.tf"))
        used_vars = set(re.findall(r"\bvar\.(\w+)", text))
        used_locals = set(re.findall(r"\blocal\.(\w+)", text))
        assert used_vars <= set(module["variable"]), folder
        assert used_locals <= set(module["locals"]), folder
    config_outputs = set(_module(INFRA / "modules" / "config")["output"])
    root_text = "\n".join(p.read_text() for p in INFRA.glob("*.tf"))
    assert set(re.findall(r"\bmodule\.config\.(\w+)", root_text)) <= config_outputs


# --- Pub/Sub, checked statically ----------------------------------------------------------------
# The local cloud enforces Cloud Storage and BigQuery grants on every call; Pub/Sub speaks gRPC,
# which its permission layer does not stand in front of. Its part of the deployment is checked
# here instead: the functions make no Pub/Sub call at all, and each flow of messages is allowed
# by infra/'s grants, expanded by the same role table the layer uses.


def test_no_function_calls_pubsub() -> None:
    import ast

    archived = [p for folder in ("shared", "functions") for p in (ROOT / folder).rglob("*.py")]
    imported = [
        (path.name, name)
        for path in archived
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        )
    ]

    assert [(path, name) for path, name in imported if "pubsub" in name] == []


def _grants_permission(body: dict[str, Any], permission: str) -> bool:
    from local_emulator.iam.roles import role

    return permission in role(body["role"]).permissions


def test_each_flow_of_messages_is_allowed_by_a_grant(root: dict[str, Any]) -> None:
    resources = root["resource"]
    publisher = resources[("google_pubsub_topic_iam_member", "gcs_publishes_inbox_events")]
    dead_letter = resources[("google_pubsub_topic_iam_member", "dead_letter_publisher")]
    signs = resources[("google_service_account_iam_member", "pubsub_signs_as_trigger")]
    invokes = resources[("google_cloud_run_v2_service_iam_member", "trigger_invokes")]
    receives = resources[("google_project_iam_member", "trigger_event_receiver")]
    script = (INFRA / "scripts" / "eventarc-dead-letter.sh").read_text()

    # Cloud Storage's agent publishes the inbox's notifications, on that topic only.
    assert publisher["topic"] == "${google_pubsub_topic.inbox_events.id}"
    assert _grants_permission(publisher, "pubsub.topics.publish")
    # Pub/Sub's agent forwards a failed event: it publishes to the dead-letter topic and
    # acknowledges on the trigger's subscription (the script grants that, on the subscription).
    assert dead_letter["topic"] == "${google_pubsub_topic.dead_letter.id}"
    assert dead_letter["member"] == "serviceAccount:${local.pubsub_agent}"
    assert _grants_permission(dead_letter, "pubsub.topics.publish")
    assert '--member="serviceAccount:$PUBSUB_AGENT" --role=roles/pubsub.subscriber' in script
    assert _grants_permission({"role": "roles/pubsub.subscriber"}, "pubsub.subscriptions.consume")
    # Eventarc pushes as each trigger's account, which Pub/Sub's agent signs for, and which may
    # receive events and invoke its own function only.
    assert signs["member"] == "serviceAccount:${local.pubsub_agent}"
    assert _grants_permission(signs, "iam.serviceAccounts.getOpenIdToken")
    assert set(invokes["for_each"]) == {"score_file", "retrain_model"}
    assert _grants_permission(invokes, "run.routes.invoke")
    assert _grants_permission(receives, "eventarc.events.receiveEvent")
    # Cloud Scheduler publishes the ticks as its own agent, to a topic of the job's project:
    # no grant (https://cloud.google.com/scheduler/docs/access-control).
    job = resources[("google_cloud_scheduler_job", "retrain")]
    assert job["pubsub_target"][0]["topic_name"] == "${google_pubsub_topic.retrain.id}"
