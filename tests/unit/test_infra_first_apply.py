"""What a first `terraform apply` on a fresh project relies on, checked on infra/'s HCL offline:
APIs enabled (and settled) before anything uses them, and exactly the APIs used; Google's agents
made before they are granted; the build account's documented roles; the waits the provider's
examples make; the audit logs of object writes; the alerts; the pinned providers and their
checksums (infra/README.md, "First apply").
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest

from local_emulator.iam.hcl import plain as _plain
from tests.unit.test_infra import INFRA, _module, _terraform_env

TERRAFORM = shutil.which("terraform")

# The API each resource type is created through (or, for the functions, every API a gen2
# function's build, deployment and triggers use: Cloud Build builds the image into Artifact
# Registry, Cloud Run runs it, Eventarc delivers its events). Service Usage is what enables the
# others, so it is enabled by hand before the first apply and is not in the list.
API_OF: dict[str, set[str]] = {
    "google_artifact_registry_repository": {"artifactregistry.googleapis.com"},
    "google_artifact_registry_repository_iam_member": {"artifactregistry.googleapis.com"},
    "google_bigquery_dataset": {"bigquery.googleapis.com"},
    "google_bigquery_dataset_iam_member": {"bigquery.googleapis.com"},
    "google_bigquery_table": {"bigquery.googleapis.com"},
    "google_bigquery_table_iam_member": {"bigquery.googleapis.com"},
    "google_cloud_run_v2_service_iam_member": {"run.googleapis.com"},
    "google_cloud_scheduler_job": {"cloudscheduler.googleapis.com"},
    "google_cloudfunctions2_function": {
        "cloudfunctions.googleapis.com",
        "cloudbuild.googleapis.com",
        "artifactregistry.googleapis.com",
        "run.googleapis.com",
        "eventarc.googleapis.com",
        # The builds write their logs to Cloud Logging (the build account's logWriter role).
        "logging.googleapis.com",
    },
    "google_logging_metric": {"logging.googleapis.com"},
    "google_monitoring_alert_policy": {"monitoring.googleapis.com"},
    "google_monitoring_notification_channel": {"monitoring.googleapis.com"},
    "google_project_iam_audit_config": {"cloudresourcemanager.googleapis.com"},
    "google_project_iam_custom_role": {"iam.googleapis.com"},
    "google_project_iam_member": {"cloudresourcemanager.googleapis.com"},
    "google_project_service": {"serviceusage.googleapis.com"},
    "google_project_service_identity": {"serviceusage.googleapis.com"},
    "google_pubsub_subscription": {"pubsub.googleapis.com"},
    "google_pubsub_subscription_iam_member": {"pubsub.googleapis.com"},
    "google_pubsub_topic": {"pubsub.googleapis.com"},
    "google_pubsub_topic_iam_member": {"pubsub.googleapis.com"},
    "google_service_account": {"iam.googleapis.com"},
    "google_service_account_iam_member": {"iam.googleapis.com"},
    "google_storage_bucket": {"storage.googleapis.com"},
    "google_storage_bucket_iam_member": {"storage.googleapis.com"},
    "google_storage_bucket_object": {"storage.googleapis.com"},
    "google_storage_notification": {"storage.googleapis.com", "pubsub.googleapis.com"},
    "data.google_storage_project_service_account": {"storage.googleapis.com"},
}
ENABLED_BY_HAND = {"serviceusage.googleapis.com"}
# APIs no resource is created through but the deployed code uses: the batch function launches
# the pipeline's Dataflow jobs, whose workers are Compute Engine VMs (Dataflow's quickstart
# enables both: https://cloud.google.com/dataflow/docs/quickstarts/create-pipeline-python).
CALLED_BY_THE_CODE = {"dataflow.googleapis.com", "compute.googleapis.com"}

_ADDRESS = re.compile(
    r"(?<![\w.])((?:data\.)?(?:google_\w+|time_(?:offset|rotating|sleep|static)|terraform_data)"
    r"\.\w+)|(?<![\w.])local\.(\w+)"
)


@pytest.fixture(scope="module")
def root() -> dict[str, Any]:
    return _module(INFRA)


def _blocks(root: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every resource and data block by address (type.name, data.type.name)."""
    blocks = {f"{t}.{n}": body for (t, n), body in root["resource"].items()}
    blocks.update({f"data.{t}.{n}": body for (t, n), body in root["data"].items()})
    return blocks


def _graph(root: dict[str, Any]) -> dict[str, set[str]]:
    """Address => the addresses it refers to, directly or through locals, depends_on included."""
    locals_ = root["locals"]

    def refs(value: Any, seen: frozenset[str] = frozenset()) -> set[str]:
        found: set[str] = set()
        for address, local in _ADDRESS.findall(json.dumps(value)):
            if address:
                found.add(address)
            elif local in locals_ and local not in seen:
                found |= refs(locals_[local], seen | {local})
        return found

    blocks = _blocks(root)
    return {address: refs(body) & set(blocks) for address, body in blocks.items()}


def _closure(graph: dict[str, set[str]], address: str) -> set[str]:
    seen: set[str] = set()
    todo = [address]
    while todo:
        for dependency in graph[todo.pop()] - seen:
            seen.add(dependency)
            todo.append(dependency)
    return seen


def _iam(root: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        address: body
        for address, body in _blocks(root).items()
        if re.match(r"google_\w+_iam_member\.", address)
    }


# --- APIs ----------------------------------------------------------------------------------------


def test_every_resource_waits_for_the_apis_to_be_enabled_and_settled(root: dict[str, Any]) -> None:
    graph = _graph(root)
    settle = root["resource"][("time_sleep", "apis")]

    assert settle["depends_on"] == ["${google_project_service.apis}"]
    assert settle["create_duration"] == "60s"
    late = [
        address
        for address in graph
        if address.startswith(("google_", "data.google_"))
        and address != "google_project_service.apis"
        and "time_sleep.apis" not in _closure(graph, address)
    ]
    assert late == []


def test_the_apis_enabled_are_exactly_those_the_resources_use(root: dict[str, Any]) -> None:
    types = {address.rsplit(".", 1)[0] for address in _blocks(root)}
    google_types = {t for t in types if t.startswith(("google_", "data.google_"))}

    unknown = sorted(google_types - set(API_OF))
    assert unknown == [], f"say in API_OF which API each of these is created through: {unknown}"
    needed = set().union(*(API_OF[t] for t in google_types)) - ENABLED_BY_HAND
    # An agent is made for its service, which must be on.
    needed |= {
        body["service"]
        for (type_, _), body in root["resource"].items()
        if type_ == "google_project_service_identity"
    }
    needed |= CALLED_BY_THE_CODE
    enabled = set(re.findall(r'"([\w.]+\.googleapis\.com)"', root["locals"]["apis"]))
    assert enabled == needed
    # The one enabled by hand is the first step of the guide.
    readme = (INFRA / "README.md").read_text()
    assert "gcloud services enable serviceusage.googleapis.com" in readme


# --- Google's agents -----------------------------------------------------------------------------

_AGENT_EMAIL = re.compile(r"gcp-sa-|gs-project-accounts|gcf-admin-robot|serverless-robot-prod")


def _agents(root: dict[str, Any]) -> set[str]:
    """The blocks an agent's identity comes from."""
    return {
        address
        for address in _blocks(root)
        if address.startswith(
            ("google_project_service_identity.", "data.google_storage_project_service_account.")
        )
    }


def test_agents_are_made_before_they_are_granted_and_given_their_own_roles(
    root: dict[str, Any],
) -> None:
    identities = {
        n: b for (t, n), b in root["resource"].items() if t == "google_project_service_identity"
    }
    graph = _graph(root)
    agents = _agents(root)

    # No agent's address is spelled out: each comes from the block that makes it exist.
    for path in INFRA.glob("*.tf"):
        assert not _AGENT_EMAIL.search(path.read_text()), path.name
    assert {b["service"] for b in identities.values()} == {
        "pubsub.googleapis.com",
        "eventarc.googleapis.com",
        "dataflow.googleapis.com",
    }
    assert all(b["provider"] == "google-beta" for b in identities.values())
    assert root["locals"]["pubsub_agent"] == "${google_project_service_identity.pubsub.email}"
    granted = {
        address: body["role"]
        for address, body in _iam(root).items()
        if graph[address] & agents and "google_service_account." not in json.dumps(body["member"])
    }
    assert granted == {
        "google_project_iam_member.pubsub_agent": "roles/pubsub.serviceAgent",
        "google_project_iam_member.eventarc_agent": "roles/eventarc.serviceAgent",
        "google_project_iam_member.dataflow_agent": "roles/dataflow.serviceAgent",
        "google_pubsub_topic_iam_member.gcs_publishes_inbox_events": "roles/pubsub.publisher",
        "google_pubsub_topic_iam_member.dead_letter_publisher": "roles/pubsub.publisher",
        "google_service_account_iam_member.pubsub_signs_as_trigger": (
            "roles/iam.serviceAccountTokenCreator"
        ),
    }
    # The dead-letter script grants on Eventarc's subscription to the same, existing agent.
    assert graph["terraform_data.dead_letter"] & agents == {
        "google_project_service_identity.pubsub"
    }


def test_event_triggers_are_made_a_minute_after_every_grant_to_an_agent(
    root: dict[str, Any],
) -> None:
    graph = _graph(root)
    settle = root["resource"][("time_sleep", "agent_grants")]
    agents = _agents(root)
    agent_grants = {address for address in _iam(root) if graph[address] & agents}

    assert settle["create_duration"] == "60s"
    assert agent_grants <= _closure(graph, "time_sleep.agent_grants")
    for name, body in root["resource"].items():
        if name[0] == "google_cloudfunctions2_function" and "event_trigger" in body:
            assert "time_sleep.agent_grants" in graph[f"google_cloudfunctions2_function.{name[1]}"]


# --- builds --------------------------------------------------------------------------------------


def test_the_build_account_holds_the_roles_google_documents_and_builds_wait_for_them(
    root: dict[str, Any],
) -> None:
    graph = _graph(root)
    build_grants = {
        address: body
        for address, body in _iam(root).items()
        if body["member"] == "${google_service_account.build.member}"
    }
    settle = root["resource"][("time_sleep", "build_grants")]

    assert {b["role"] for b in build_grants.values()} == {
        "roles/logging.logWriter",
        "roles/artifactregistry.writer",
        "roles/storage.objectAdmin",
    }
    assert settle["create_duration"] == "60s"
    assert set(build_grants) <= _closure(graph, "time_sleep.build_grants")
    for name in ("score_file", "predict_rows", "retrain_model"):
        assert "time_sleep.build_grants" in graph[f"google_cloudfunctions2_function.{name}"]


# --- audit logs ----------------------------------------------------------------------------------


def test_object_writes_are_audited_and_reads_are_not(root: dict[str, Any]) -> None:
    audit = root["resource"][("google_project_iam_audit_config", "storage")]

    assert audit["service"] == "storage.googleapis.com"
    assert [c["log_type"] for c in audit["audit_log_config"]] == ["DATA_WRITE"]
    assert "exempted_members" not in audit["audit_log_config"][0]
    assert "Data Access audit logs" in (INFRA / "README.md").read_text()


# --- alerts --------------------------------------------------------------------------------------


def _policies(root: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: b for (t, n), b in root["resource"].items() if t == "google_monitoring_alert_policy"}


def test_each_alert_notifies_the_configured_emails_and_nobody_by_default(
    root: dict[str, Any],
) -> None:
    policies = _policies(root)
    channels = root["resource"][("google_monitoring_notification_channel", "email")]

    assert set(policies) == {
        "dead_letter_backlog",
        "function_5xx",
        "failed_scoring_run",
        "failed_check",
    }
    for body in policies.values():
        assert body["notification_channels"] == "${local.alert_channels}"
        assert body["documentation"][0]["content"]
    assert channels["for_each"] == "${toset(var.alert_emails)}"
    assert channels["type"] == "email"
    assert root["variable"]["alert_emails"]["default"] == []


def test_the_alerts_watch_the_dead_letter_subscription_and_the_functions(
    root: dict[str, Any],
) -> None:
    policies = _policies(root)
    backlog = policies["dead_letter_backlog"]["conditions"][0]["condition_threshold"][0]
    errors = policies["function_5xx"]["conditions"][0]["condition_threshold"][0]

    assert "pubsub.googleapis.com/subscription/num_undelivered_messages" in backlog["filter"]
    assert "${google_pubsub_subscription.dead_letter.name}" in backlog["filter"]
    assert (backlog["comparison"], backlog["threshold_value"]) == ("COMPARISON_GT", 0)
    assert "run.googleapis.com/request_count" in errors["filter"]
    assert 'metric.labels.response_code_class = \\"5xx\\"' in errors["filter"]
    assert "values(local.function_services)" in errors["filter"]
    assert root["locals"]["function_services"] == "${local.function_names}"


def test_the_log_based_alerts_count_their_metrics_once_monitoring_knows_them(
    root: dict[str, Any],
) -> None:
    policies = _policies(root)
    graph = _graph(root)

    for policy, metric in (
        ("failed_scoring_run", "failed_scoring_runs"),
        ("failed_check", "failed_checks"),
    ):
        condition = policies[policy]["conditions"][0]["condition_threshold"][0]
        assert (
            f"logging.googleapis.com/user/${{google_logging_metric.{metric}.name}}"
            in (condition["filter"])
        )
        assert f"google_logging_metric.{metric}" in _closure(graph, "time_sleep.log_metrics")
        assert "time_sleep.log_metrics" in graph[f"google_monitoring_alert_policy.{policy}"]
    assert root["resource"][("time_sleep", "log_metrics")]["create_duration"] == "10m"


@pytest.mark.skipif(TERRAFORM is None, reason="terraform is not installed")
def test_the_5xx_filter_names_every_function_as_monitoring_expects(tmp_path: Path) -> None:
    """The filter built by the HCL expression, worked out by Terraform (one_of of the services)."""
    source = (INFRA / "monitoring.tf").read_text()
    expression = re.search(r'filter\s+= ("resource\.type = \\"cloud_run_revision\\".*)', source)
    assert expression is not None
    (tmp_path / "main.tf").write_text(
        "locals {\n  function_services = {\n"
        '    score_file = "p-score-file"\n    predict_rows = "p-predict-rows"\n'
        '    retrain_model = "p-retrain-model"\n  }\n'
        f"  filter = {expression.group(1)}\n}}\n"
    )
    result = subprocess.run(
        [str(TERRAFORM), "console"],
        input="local.filter\n",
        capture_output=True,
        text=True,
        env=_terraform_env(tmp_path),
        cwd=tmp_path,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    said = json.loads(result.stdout.strip().splitlines()[-1])
    assert 'resource.labels.service_name = one_of("p-predict-rows", "p-retrain-model", ' in said
    assert '"p-score-file")' in said


# --- the pinned providers ------------------------------------------------------------------------


def _lock() -> dict[str, dict[str, Any]]:
    with (INFRA / ".terraform.lock.hcl").open() as source:
        parsed = _plain(hcl2.load(source))
    return {
        name.removeprefix("registry.terraform.io/hashicorp/"): body
        for block in parsed["provider"]
        for name, body in block.items()
    }


def test_each_provider_is_pinned_to_one_version_with_its_checksums_locked() -> None:
    with (INFRA / "versions.tf").open() as source:
        terraform = _plain(hcl2.load(source))["terraform"][0]
    pinned = {name: spec["version"] for name, spec in terraform["required_providers"][0].items()}
    sources = {name: spec["source"] for name, spec in terraform["required_providers"][0].items()}
    lock = _lock()

    assert pinned == {"google": "6.50.0", "google-beta": "6.50.0", "time": "0.13.1"}
    assert sources == {name: f"hashicorp/{name}" for name in pinned}
    assert set(lock) == set(pinned)
    for name, body in lock.items():
        assert body["version"] == body["constraints"] == pinned[name]
        hashes = body["hashes"]
        assert hashes == sorted(hashes) and len(set(hashes)) == len(hashes)
        assert all(re.fullmatch(r"zh:[0-9a-f]{64}|h1:[A-Za-z0-9+/]{43}=", h) for h in hashes)
        # One zh: per platform package of the release; terraform init checks the download
        # against them, and adds the h1: of its own platform when it has none.
        assert sum(h.startswith("zh:") for h in hashes) >= 12, name
    assert "terraform -chdir=infra providers lock" in (INFRA / "README.md").read_text()
