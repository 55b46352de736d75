"""`cloudscore deploy …`: package the functions and deploy them with Terraform (infra/).

    generate [--check]        write infra/generated/cloudscore.json from the code (or check it)
    package                   build the functions' source archive
    plan | apply | destroy    terraform init, then a plan from the CLOUDSCORE_* environment and the
                              archive; apply and destroy show that plan and apply it once confirmed;
                              apply then publishes the pipeline's Flex Template
    pipeline [--dry-run]      build the pipeline's image with Cloud Build and publish its Flex
                              Template to the deployment's pipeline bucket

Settings are read and validated by the code that the functions run (`shared.config`), so a
missing or malformed one stops here, named, before Terraform is started.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Final

from shared.errors import ConfigError, UsageError

# The longest an event-triggered function may run; the batch function's time budget must end
# before its timeout does (Terraform checks it against the configured timeout as well).
EVENT_FUNCTION_MAX_TIMEOUT_S: Final = 540


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    deploy = subparsers.add_parser(
        "deploy",
        help="package the functions and deploy them to Google Cloud with Terraform",
        description="Build the functions' source archive and run Terraform on infra/ with the "
        "settings of the CLOUDSCORE_* environment. See infra/README.md.",
    )
    actions = deploy.add_subparsers(dest="action", metavar="ACTION", required=True)

    generate = actions.add_parser(
        "generate", help="write infra/generated/cloudscore.json (functions, settings, tables)"
    )
    generate.add_argument(
        "--check", action="store_true", help="only check it is current; exit 1 if not"
    )
    actions.add_parser("package", help="build the functions' source archive, print its sha256")

    helps = {
        "plan": "show what a deployment would change",
        "apply": "show the plan, then apply it once confirmed",
        "destroy": "show what would be deleted, then delete it once confirmed",
    }
    for name, text in helps.items():
        action = actions.add_parser(name, help=text)
        action.add_argument(
            "--var",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="another Terraform variable, e.g. protect_data=false (repeatable)",
        )
        action.add_argument(
            "--var-file",
            action="append",
            default=[],
            type=Path,
            metavar="FILE",
            help="a .tfvars file of other variables: sizes, predict_invokers … (repeatable)",
        )
        if name != "plan":
            action.add_argument("--yes", action="store_true", help="apply the plan without asking")
    pipeline = actions.add_parser(
        "pipeline",
        help="build the scoring pipeline's image and publish its Flex Template",
        description="Assemble the pipeline's image (infra/pipeline/: Dockerfile, main.py, the "
        "sources and this environment's pins) in .cloudscore/deploy/pipeline/, build and push "
        "it with Cloud Build to the deployment's repository, tagged by its content, and write "
        "the Flex Template's spec to the pipeline bucket (gcloud dataflow flex-template build). "
        "`deploy apply` does this after Terraform; the repository and bucket are Terraform's "
        "outputs, so the deployment must have been applied.",
    )
    pipeline.add_argument(
        "--dry-run", action="store_true", help="assemble the image's context, show the commands"
    )
    for action in actions.choices.values():
        action.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from cloudscore import packaging

    root = packaging.ROOT
    if args.action == "generate":
        return _generate(root, check=args.check)
    if args.action == "package":
        archive = packaging.build_archive(work_dir(root))
        print(archive.path)
        print(f"sha256 {archive.sha256}  ({archive.runtime}, {len(archive.entries)} files)")
        return 0
    if args.action == "pipeline":
        return publish_pipeline(root, dry_run=args.dry_run)
    return _terraform(root, args)


def work_dir(root: Path) -> Path:
    return root / ".cloudscore" / "deploy"


def _generate(root: Path, check: bool) -> int:
    from cloudscore import packaging

    if check:
        if packaging.facts_are_current(root):
            print(f"{packaging.FACTS_PATH} is current")
            return 0
        print(
            f"{packaging.FACTS_PATH} does not match the code; run `cloudscore deploy generate`",
            file=sys.stderr,
        )
        return 1
    print(packaging.write_facts(root))
    return 0


# --- settings ----------------------------------------------------------------------------------


def deployment_settings(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every CLOUDSCORE_* setting a deployment passes to Terraform, read and validated as the
    functions will read them; raises `ConfigError` naming the first bad one."""
    from shared.config import PREFIX, BatchConfig, FunctionConfig, PredictConfig, StackConfig

    source = os.environ if env is None else env
    stack = StackConfig.from_env(source)
    batch = BatchConfig.from_env(source)
    if batch.time_budget_s >= EVENT_FUNCTION_MAX_TIMEOUT_S:
        raise ConfigError(
            "CLOUDSCORE_BATCH_TIME_BUDGET_S",
            f"is {batch.time_budget_s:g} s; it must stay below the batch function's timeout, "
            f"which is {EVENT_FUNCTION_MAX_TIMEOUT_S} s at most",
        )
    return {
        **FunctionConfig.from_env(source).to_env(),
        **batch.to_env(),
        **PredictConfig.from_env(source).to_env(),
        **{PREFIX + f.name.upper(): str(getattr(stack, f.name)) for f in fields(stack)},
    }


def training_source_reads(project: str) -> dict[str, list[str]]:
    """What the retrain function's training source reads (the project file's `training.source`,
    found as `cloudscore train` finds it), for infra's `training_source_reads`: the retrain
    account is granted read on exactly these."""
    from shared.project_config import find_project_file, load_project_config

    path = find_project_file()
    source = load_project_config(path).training_source if path is not None else None
    if source is None:
        print("training.source: none in the project file; the retrain account reads no source")
        return {"tables": [], "buckets": []}
    try:
        from local_emulator.iam.reads import source_reads
    except ImportError as exc:
        raise ConfigError(
            "training.source",
            f"working out what {source!r} reads needs the local cloud's packages ({exc}): "
            "`pip install 'cloudscore[local]'`, or pass --var training_source_reads=…",
        ) from exc
    reads = source_reads(source, project=project).as_terraform()
    shown = ", ".join([*reads["tables"], *(f"gs://{b}" for b in reads["buckets"])]) or "nothing"
    print(f"training.source {source!r} (from {path}): the retrain account may read {shown}")
    return reads


# --- terraform ---------------------------------------------------------------------------------


def _terraform(root: Path, args: argparse.Namespace) -> int:
    from cloudscore import packaging

    terraform = shutil.which("terraform")
    if terraform is None:
        raise ConfigError(
            "terraform",
            "is not installed or not on PATH; install Terraform 1.9 or newer "
            "(https://developer.hashicorp.com/terraform/install)",
        )
    settings = deployment_settings()
    for item in args.var:
        if "=" not in item or item.startswith("="):
            raise UsageError(f"--var {item!r}: expected NAME=VALUE")
    if not packaging.facts_are_current(root):
        raise ConfigError(
            str(packaging.FACTS_PATH),
            "does not match the code; run `cloudscore deploy generate` and commit the result",
        )

    archive = packaging.build_archive(work_dir(root))
    print(f"source archive {archive.path.name}: sha256 {archive.sha256}")
    variables = {
        "settings": settings,
        "source_archive": str(archive.path),
        "runtime": archive.runtime,
        "training_source_reads": training_source_reads(settings["CLOUDSCORE_PROJECT"]),
    }
    var_file = work_dir(root) / "deploy.tfvars.json"
    var_file.write_text(json.dumps(variables, indent=2, sort_keys=True) + "\n")
    plan_file = work_dir(root) / f"{args.action}.tfplan"
    commands = terraform_commands(
        terraform,
        root / "infra",
        args.action,
        var_files=[var_file, *(f.resolve() for f in args.var_file)],
        variables=args.var,
        plan_file=plan_file,
    )
    for command in commands[:2]:  # init, plan
        code = _call(command)
        if code != 0:
            return code
    if args.action == "plan":
        print(
            "then `deploy apply` publishes the pipeline's Flex Template "
            "(`cloudscore deploy pipeline --dry-run` shows how, once applied)"
        )
        return 0
    if not args.yes and not _confirmed(args.action):
        print("nothing was changed")
        return 1
    code = _call(commands[2])
    if code != 0 or args.action != "apply":
        return code
    return publish_pipeline(root, dry_run=False)


def terraform_outputs(root: Path) -> dict[str, str]:
    """The deployment's outputs (`terraform output`), as strings."""
    terraform = shutil.which("terraform")
    if terraform is None:
        raise ConfigError("terraform", "is not installed or not on PATH")
    result = subprocess.run(
        [terraform, f"-chdir={root / 'infra'}", "output", "-json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ConfigError("terraform output", result.stderr.strip() or "failed")
    outputs = json.loads(result.stdout or "{}")
    return {name: str(spec["value"]) for name, spec in outputs.items() if "value" in spec}


def publish_pipeline(root: Path, *, dry_run: bool, outputs: Mapping[str, str] | None = None) -> int:
    """Build the pipeline's image and publish its Flex Template (or, dry, show how)."""
    from cloudscore.pipeline_image import publish_commands, write_context
    from shared.config import FunctionConfig

    config = FunctionConfig.from_env()
    found = dict(outputs) if outputs is not None else terraform_outputs(root)
    missing = [n for n in ("pipeline_bucket", "pipeline_image") if n not in found]
    if missing:
        raise ConfigError(
            "terraform output",
            f"has no {', '.join(missing)}: apply the deployment first (`cloudscore deploy apply`)",
        )
    image = write_context(work_dir(root) / "pipeline", root)
    print(f"pipeline image context {image.context}: tag {image.tag}")
    commands = publish_commands(
        image,
        project=config.project,
        region=config.region,
        repository=found["pipeline_image"],
        bucket=found["pipeline_bucket"],
        root=root,
    )
    for command in commands:
        if dry_run:
            print("$ " + " ".join(command))
            continue
        code = _call(command)
        if code != 0:
            return code
    return 0


def terraform_commands(
    terraform: str,
    infra: Path,
    action: str,
    *,
    var_files: Sequence[Path],
    variables: Sequence[str],
    plan_file: Path,
) -> list[list[str]]:
    """init, plan (saved) and, for apply and destroy, applying exactly that saved plan."""
    chdir = f"-chdir={infra}"
    plan = [terraform, chdir, "plan", "-input=false", f"-out={plan_file}"]
    if action == "destroy":
        plan.append("-destroy")
    # Absolute paths: -chdir makes Terraform resolve relative ones from infra/.
    plan += [f"-var-file={Path(f).resolve()}" for f in var_files]
    for item in variables:
        plan += ["-var", item]
    return [
        [terraform, chdir, "init", "-input=false"],
        plan,
        [terraform, chdir, "apply", "-input=false", str(plan_file)],
    ]


def _call(command: list[str]) -> int:
    print("$ " + " ".join(command), flush=True)
    return subprocess.run(command, check=False).returncode


def _confirmed(action: str) -> bool:
    if not sys.stdin.isatty():
        raise UsageError(
            f"`deploy {action}` asks before changing anything and there is no terminal to ask "
            "on; pass --yes to apply the plan shown above"
        )
    verb = "Delete these resources" if action == "destroy" else "Apply this plan"
    answer = input(f"\n{verb}? Only 'yes' goes ahead: ")
    return answer.strip() == "yes"
