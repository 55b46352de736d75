"""`cloudscore deploy`: its arguments, its errors and the Terraform commands it runs, against a
stand-in `terraform` that records how it was called."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from cloudscore import packaging
from cloudscore.cli import deploy_cmd, main

SETTINGS = {
    "CLOUDSCORE_PROJECT": "demo-project",
    "CLOUDSCORE_REGION": "europe-west1",
    "CLOUDSCORE_INBOX_BUCKET": "demo-inbox",
    "CLOUDSCORE_MODELS_BUCKET": "demo-models",
    "CLOUDSCORE_DATASET": "cloudscore",
    "CLOUDSCORE_MODEL_NAME": "loan-default",
}


OUTPUTS = {
    "pipeline_bucket": {"value": "demo-project-cloudscore-pipeline"},
    "pipeline_image": {
        "value": "europe-west1-docker.pkg.dev/demo-project/cloudscore-pipeline/cloudscore-pipeline"
    },
}


@pytest.fixture
def fake_terraform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `terraform` first on PATH that appends its arguments (one JSON list a line) to the file
    returned, and exits with $FAKE_TERRAFORM_EXIT_<subcommand> (default 0)."""
    calls = tmp_path / "terraform-calls.jsonl"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "terraform"
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, sys\n"
        f"with open({str(calls)!r}, 'a') as out:\n"
        "    out.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "sub = [a for a in sys.argv[1:] if not a.startswith('-')][0]\n"
        "if sub == 'output':\n"
        "    print(os.environ.get('FAKE_TERRAFORM_OUTPUTS', '{}'))\n"
        "else:\n"
        "    print('terraform', sub)\n"
        "sys.exit(int(os.environ.get('FAKE_TERRAFORM_EXIT_' + sub, '0')))\n"
    )
    script.chmod(0o755)
    # And a `gcloud` that records its calls beside terraform's.
    gcloud = bin_dir / "gcloud"
    gcloud.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        f"with open({str(calls)!r}, 'a') as out:\n"
        "    out.write(json.dumps(['gcloud', *sys.argv[1:]]) + '\\n')\n"
    )
    gcloud.chmod(0o755)
    monkeypatch.setenv("FAKE_TERRAFORM_OUTPUTS", json.dumps(OUTPUTS))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    for name in list(os.environ):
        if name.startswith("CLOUDSCORE_"):
            monkeypatch.delenv(name)
    for name, value in SETTINGS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(deploy_cmd, "work_dir", lambda root: tmp_path / "deploy")
    return calls


def _calls(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_plan_inits_then_plans_with_the_settings_and_the_archive(
    fake_terraform: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["deploy", "plan", "--var", "protect_data=false"])

    calls = _calls(fake_terraform)
    infra = packaging.ROOT / "infra"
    assert code == 0
    assert [c[:2] for c in calls] == [[f"-chdir={infra}", "init"], [f"-chdir={infra}", "plan"]]
    plan = calls[1]
    var_file = tmp_path / "deploy" / "deploy.tfvars.json"
    assert f"-var-file={var_file}" in plan
    assert plan[plan.index("-var") + 1] == "protect_data=false"
    assert f"-out={tmp_path / 'deploy' / 'plan.tfplan'}" in plan
    assert "-destroy" not in plan
    variables = json.loads(var_file.read_text())
    assert variables["settings"]["CLOUDSCORE_PROJECT"] == "demo-project"
    assert variables["settings"]["CLOUDSCORE_REGION"] == "europe-west1"
    assert variables["settings"]["CLOUDSCORE_BATCH_TIME_BUDGET_S"] == "480"
    assert variables["settings"]["CLOUDSCORE_RETRAIN_TOPIC"] == "cloudscore-retrain"
    assert Path(variables["source_archive"]).is_file()
    assert variables["runtime"].startswith("python3")
    # The demo's cloudscore.toml retrains from a query: the retrain account may read its table.
    assert variables["training_source_reads"] == {
        "tables": ["demo-project.cloudscore.recent_applications"],
        "buckets": [],
    }
    out = capsys.readouterr().out
    assert "$ " in out and "sha256" in out
    assert "the retrain account may read demo-project.cloudscore.recent_applications" in out


def test_a_project_without_a_training_source_grants_no_read(
    fake_terraform: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "cloudscore.toml").write_text('[model]\nname = "m"\ntarget = "y"\n')
    monkeypatch.chdir(project)

    assert main(["deploy", "plan"]) == 0

    variables = json.loads((tmp_path / "deploy" / "deploy.tfvars.json").read_text())
    assert variables["training_source_reads"] == {"tables": [], "buckets": []}


def test_apply_without_a_terminal_refuses_unless_told_yes(
    fake_terraform: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)

    code = main(["deploy", "apply"])

    err = capsys.readouterr().err
    assert code == 2
    assert "pass --yes" in err
    assert "Traceback" not in err
    assert [c[1] for c in _calls(fake_terraform)] == ["init", "plan"]


def test_apply_with_yes_applies_the_plan_it_showed(fake_terraform: Path, tmp_path: Path) -> None:
    code = main(["deploy", "apply", "--yes"])

    calls = _calls(fake_terraform)
    plan_file = str(tmp_path / "deploy" / "apply.tfplan")
    assert code == 0
    assert [c[1] for c in calls] == ["init", "plan", "apply", "output", "builds", "dataflow"]
    assert f"-out={plan_file}" in calls[1]
    assert calls[2][-1] == plan_file


def test_the_pipeline_is_built_by_cloud_build_and_its_template_written_where_infra_says(
    fake_terraform: Path, tmp_path: Path
) -> None:
    pytest.importorskip("apache_beam", reason="the image pins the Beam installed here")
    image = OUTPUTS["pipeline_image"]["value"]

    dry = main(["deploy", "pipeline", "--dry-run"])
    assert dry == 0 and [c[1] for c in _calls(fake_terraform)] == ["output"]
    code = main(["deploy", "pipeline"])

    build, template = _calls(fake_terraform)[2:]
    context = tmp_path / "deploy" / "pipeline"
    tag = next(a for a in build if a.startswith("--tag=")).split(":")[-1]
    assert code == 0
    assert build[:4] == ["gcloud", "builds", "submit", str(context)]
    assert f"--tag={image}:{tag}" in build and "--project=demo-project" in build
    spec = "gs://demo-project-cloudscore-pipeline/templates/cloudscore-pipeline.json"
    assert template[:5] == ["gcloud", "dataflow", "flex-template", "build", spec]
    assert f"--image={image}:{tag}" in template and "--sdk-language=PYTHON" in template
    # The context: the Flex Template's program and pins, the sources it imports.
    dockerfile = (context / "Dockerfile").read_text()
    python = f"{sys.version_info.major}{sys.version_info.minor}"
    assert f"ARG PYTHON_TAG=python{python}\n" in dockerfile
    assert "FROM gcr.io/dataflow-templates-base/${PYTHON_TAG}-template-launcher-base" in dockerfile
    assert "ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/template/main.py" in dockerfile
    requirements = (context / "requirements.txt").read_text().splitlines()
    assert any(r.startswith("apache-beam[gcp]==") for r in requirements)
    assert any(r.startswith("google-cloud-dataflow-client==") for r in requirements)
    assert (context / "src" / "shared" / "scoring" / "batch.py").is_file()
    # Built again from the same sources: the same tag.
    main(["deploy", "pipeline"])
    assert _calls(fake_terraform)[-2] == build


def test_a_pipeline_published_before_the_deployment_was_applied_says_so(
    fake_terraform: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAKE_TERRAFORM_OUTPUTS", "{}")

    code = main(["deploy", "pipeline", "--dry-run"])

    assert code == 2
    assert "apply the deployment first" in capsys.readouterr().err


@pytest.mark.parametrize(("answer", "applied"), [("yes\n", True), ("y\n", False), ("\n", False)])
def test_apply_asks_and_only_yes_goes_ahead(
    fake_terraform: Path, monkeypatch: pytest.MonkeyPatch, answer: str, applied: bool
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: answer)

    code = main(["deploy", "apply"])

    published = ["apply", "output", "builds", "dataflow"]
    assert [c[1] for c in _calls(fake_terraform)][2:] == (published if applied else [])
    assert code == (0 if applied else 1)


def test_destroy_plans_a_destroy(fake_terraform: Path) -> None:
    code = main(["deploy", "destroy", "--yes"])

    calls = _calls(fake_terraform)
    assert code == 0
    assert "-destroy" in calls[1]
    assert calls[2][1] == "apply"


def test_a_failed_plan_stops_there_with_its_exit_code(
    fake_terraform: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_TERRAFORM_EXIT_plan", "1")

    code = main(["deploy", "apply", "--yes"])

    assert code == 1
    assert [c[1] for c in _calls(fake_terraform)] == ["init", "plan"]


def test_a_missing_project_is_named_before_terraform_runs(
    fake_terraform: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CLOUDSCORE_PROJECT")

    code = main(["deploy", "plan"])

    err = capsys.readouterr().err
    assert code == 2
    assert "CLOUDSCORE_PROJECT: is not set" in err
    assert "Traceback" not in err
    assert _calls(fake_terraform) == []


def test_a_time_budget_the_timeout_would_cut_is_refused(
    fake_terraform: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLOUDSCORE_BATCH_TIME_BUDGET_S", "600")

    code = main(["deploy", "plan"])

    assert code == 2
    assert "CLOUDSCORE_BATCH_TIME_BUDGET_S: is 600 s" in capsys.readouterr().err
    assert _calls(fake_terraform) == []


def test_without_terraform_it_says_what_to_install(
    fake_terraform: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    code = main(["deploy", "plan"])

    err = capsys.readouterr().err
    assert code == 2
    assert "terraform: is not installed or not on PATH" in err
    assert "Traceback" not in err


def test_a_malformed_var_is_refused(
    fake_terraform: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["deploy", "plan", "--var", "protect_data"])

    assert code == 2
    assert "expected NAME=VALUE" in capsys.readouterr().err
    assert _calls(fake_terraform) == []


def test_generate_check_passes_on_the_committed_facts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", "generate", "--check"]) == 0
    assert "is current" in capsys.readouterr().out


def test_package_prints_the_archive_and_its_hash(
    fake_terraform: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deploy", "package"]) == 0

    out = capsys.readouterr().out.splitlines()
    archive = tmp_path / "deploy" / "cloudscore-functions.zip"
    assert out[0] == str(archive)
    assert out[1].startswith("sha256 ")
    assert packaging.hashlib.sha256(archive.read_bytes()).hexdigest() == out[1].split()[1]
