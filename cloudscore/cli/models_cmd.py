"""`cloudscore models …`: the versions and aliases of the model registry."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = subparsers.add_parser(
        "models",
        help="list, inspect, promote and roll back model versions",
        description="The model registry: immutable versions, and the aliases champion and "
        "challenger that the functions serve. Talks to the cloud named by CLOUDSCORE_* "
        "variables, else to the local cloud.",
    )
    models.add_argument("--model", help="model name (default: CLOUDSCORE_MODEL_NAME)")
    actions = models.add_subparsers(dest="action", metavar="ACTION", required=True)

    actions.add_parser("list", help="every version, newest last, with its metrics and aliases")
    show = actions.add_parser("show", help="one version: metrics, lineage, contract")
    show.add_argument("version")
    promote = actions.add_parser("promote", help="point an alias at a version")
    promote.add_argument("version")
    promote.add_argument("--alias", default="champion", choices=["champion", "challenger"])
    promote.add_argument("--reason", default="promoted by hand", help="recorded in model_events")
    rollback = actions.add_parser("rollback", help="point champion back at its previous version")
    rollback.add_argument(
        "--reason", default="rolled back by hand", help="recorded in model_events"
    )
    diff = actions.add_parser("diff", help="two versions side by side: metrics and contract")
    diff.add_argument("version_a")
    diff.add_argument("version_b")
    download = actions.add_parser(
        "download",
        help="a version's files, verified, into a folder (for `cloudscore score --model-dir`)",
    )
    download.add_argument("version")
    download.add_argument("--out", required=True, type=Path, metavar="DIR")
    migrate = actions.add_parser(
        "migrate",
        help="write versions stored as pickles (model.joblib) again in formats that cannot run "
        "code, and move the aliases to them",
        description="Versions stored before model files stopped being pickles hold model.joblib, "
        "which cloudscore no longer reads. Each is read once here (after its sha256 is checked) "
        "and written as a new version <old>-m beside it, with the same contract, metrics and "
        "configuration; then every alias on a migrated version moves to its new form (recorded "
        "in model_events). Reading a pickle runs whatever code it holds: run this only on a "
        "registry whose files you trust. Safe to run again: what is done is not redone.",
    )
    migrate.add_argument("--version", help="migrate this version only (default: every old one)")
    for action in actions.choices.values():
        action.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from cloudscore.cli.target import resolve_target

    target = resolve_target()
    registry = target.registry(args.model)
    if args.action == "list":
        _list(registry)
    elif args.action == "show":
        _show(registry, args.version)
    elif args.action in ("promote", "rollback"):
        _move(target, registry, args)
    elif args.action == "download":
        _download(registry, args.version, args.out)
    elif args.action == "migrate":
        _migrate(target, registry, args.version)
    else:
        _diff(registry, args.version_a, args.version_b)
    return 0


def _aliases_by_version(registry: Any) -> dict[str, list[str]]:
    from shared.registry import ALIASES

    by_version: dict[str, list[str]] = {}
    for alias in ALIASES:
        pointer = registry.alias(alias)
        if pointer is not None:
            by_version.setdefault(pointer.version, []).append(alias)
    return by_version


def _download(registry: Any, version: str, out: Path) -> None:
    files = registry.version_files(version)
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out / name).write_bytes(data)
    print(f"{registry.model_name} {version}: {len(files)} files verified into {out}")


def _migrate(target: Any, registry: Any, version: str | None) -> None:
    from cloudscore.migrate import migrate
    from shared.audit import AuditLog
    from shared.registration import default_actor

    audit = AuditLog(target.bigquery, target.config.dataset, location=target.config.region)
    done = migrate(registry, default_actor(), only=version, audit=audit)
    if not done.versions and not done.moves:
        print(f"model {registry.model_name!r}: nothing to migrate")


def _list(registry: Any) -> None:
    from shared.registry import METRICS_FILE

    versions = registry.versions()
    if not versions:
        print(f"model {registry.model_name!r} has no version yet (`cloudscore train`)")
        return
    aliases = _aliases_by_version(registry)
    print(f"{'version':<26} {'primary metric':<22} {'test':>8} {'baseline':>9}  aliases")
    for version in versions:
        metrics = registry.read_json(version, METRICS_FILE)
        name = metrics.get("primary_metric", "roc_auc")
        test = metrics.get("test", {}).get(name, float("nan"))
        baseline = metrics.get("baseline", {}).get(name, float("nan"))
        tags = ", ".join(aliases.get(version, []))
        print(f"{version:<26} {name:<22} {test:>8.4f} {baseline:>9.4f}  {tags}")


def _show(registry: Any, version: str) -> None:
    from shared.registry import CONTRACT_FILE, LINEAGE_FILE, METRICS_FILE

    manifest = registry.manifest(version)
    print(f"model {registry.model_name} version {version}, created {manifest['created_at']}")
    print("aliases: " + (", ".join(_aliases_by_version(registry).get(version, [])) or "none"))
    for name in (METRICS_FILE, LINEAGE_FILE):
        if name in manifest["artifacts"]:
            print(
                f"\n{name}:\n" + json.dumps(registry.read_json(version, name, manifest), indent=2)
            )
    if CONTRACT_FILE in manifest["artifacts"]:
        contract = registry.read_json(version, CONTRACT_FILE, manifest)
        columns = contract.get("columns", [])
        print(f"\ncontract: {len(columns)} columns")
        for column in columns:
            print(f"  {column['name']:<32} {column['role']:<12} {column['kind']}")
    print("\nartifacts (sha256 verified on every load):")
    for name, info in manifest["artifacts"].items():
        print(f"  {name:<16} {info['size']:>10} bytes  {info['sha256']}")


def _move(target: Any, registry: Any, args: argparse.Namespace) -> None:
    from shared.audit import AuditLog
    from shared.errors import VersionNotFound
    from shared.registration import default_actor

    if args.action == "promote":
        alias, version = args.alias, args.version
    else:
        alias = "champion"
        pointer = registry.alias(alias)
        if pointer is None or pointer.previous_version is None:
            raise VersionNotFound(
                f"model {registry.model_name!r} has no earlier champion to roll back to"
            )
        version = pointer.previous_version
    move = registry.move_alias(alias, version, actor=default_actor(), reason=args.reason)
    AuditLog(target.bigquery, target.config.dataset, location=target.config.region).record(move)
    print(f"{alias} of {registry.model_name}: {move.from_version or 'unset'} → {move.to_version}")


def _diff(registry: Any, version_a: str, version_b: str) -> None:
    from shared.registry import CONTRACT_FILE, METRICS_FILE

    metrics = [registry.read_json(v, METRICS_FILE) for v in (version_a, version_b)]
    print(f"{'metric (test)':<24} {version_a:>26} {version_b:>26}")
    names = sorted(set(metrics[0].get("test", {})) | set(metrics[1].get("test", {})))
    for name in names:
        values = [m.get("test", {}).get(name) for m in metrics]
        cells = [f"{v:>26.4f}" if isinstance(v, int | float) else f"{'-':>26}" for v in values]
        print(f"{name:<24} {cells[0]} {cells[1]}")
    from shared.contract import DataContract

    contracts = [
        DataContract.from_json(registry.read_artifact(v, CONTRACT_FILE).decode())
        for v in (version_a, version_b)
    ]
    changes = contracts[0].diff(contracts[1])
    print("\ncontract: " + ("no difference" if not changes else ""))
    for change in changes:
        print(f"  {change}")
