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
    diff = actions.add_parser(
        "diff",
        help="two versions side by side: test metrics (and the rows each was measured on) and "
        "contract",
    )
    diff.add_argument("version_a")
    diff.add_argument("version_b")
    compare = actions.add_parser(
        "compare",
        help="score two versions on the same labelled rows and compare them",
        description="Each version's test metrics were measured on its own test split; this "
        "scores both on the rows of SOURCE (a file, gs://bucket/name, or bq://table or query) "
        "that both contracts accept and that have a label, and prints every metric of both "
        "and the 95%% paired-bootstrap interval of (B - A) on the promotion metric, as a "
        "retrain check compares a challenger with its champion.",
    )
    compare.add_argument("version_a", metavar="A")
    compare.add_argument("version_b", metavar="B")
    compare.add_argument("--data", required=True, metavar="SOURCE", help="labelled rows")
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
    elif args.action == "compare":
        _compare(target, registry, args.version_a, args.version_b, args.data)
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
    print(
        f"{'version':<26} {'primary metric':<16} {'test':>8} {'baseline':>9} "
        f"{'test rows':>10}  {'test set':<16}  aliases"
    )
    sets = set()
    for version in versions:
        metrics = registry.read_json(version, METRICS_FILE)
        name = metrics.get("primary_metric", "roc_auc")
        test = metrics.get("test", {}).get(name, float("nan"))
        baseline = metrics.get("baseline", {}).get(name, float("nan"))
        measured = _measured_on(registry, version, metrics)
        sets.add(measured.get("test_set"))
        tags = ", ".join(aliases.get(version, []))
        rows = measured.get("rows")
        print(
            f"{version:<26} {name:<16} {test:>8.4f} {baseline:>9.4f} "
            f"{rows if rows is not None else '?':>10}  {measured.get('test_set') or '?':<16}  "
            f"{tags}"
        )
    if len(sets) > 1 or None in sets:
        print(
            "\ntest and baseline: each on its version's own test split ('test set' names the "
            "rows; '?': not recorded); versions of different test sets do not compare — "
            "`cloudscore models compare A B --data SOURCE` scores two on the same rows"
        )


def _measured_on(registry: Any, version: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """Where the version's test metrics were measured: recorded since they are, else what its
    lineage says of its training data (the test split's rows, but no digest of them)."""
    from shared.registry import LINEAGE_FILE

    if "measured_on" in metrics:
        return dict(metrics["measured_on"])
    try:
        lineage = registry.read_json(version, LINEAGE_FILE)
    except Exception:  # a version without lineage: nothing known
        return {}
    return {
        "data_source": lineage.get("data_source"),
        "data_fingerprint": lineage.get("data_fingerprint"),
        "seed": lineage.get("seed"),
        "rows": lineage.get("rows", {}).get("test"),
        "test_set": None,
    }


def _described(where: dict[str, Any]) -> str:
    if not where:
        return "not recorded"
    fingerprint = str(where.get("data_fingerprint") or "?")[:12]
    source = where.get("data_source") or "?"
    text = f"{where.get('rows', '?')} test rows of {source} (data {fingerprint}"
    if where.get("split"):
        text += f", split {where['split']}, seed {where.get('seed')}"
    return text + f", test set {where.get('test_set') or 'not recorded'})"


def _compare(target: Any, registry: Any, version_a: str, version_b: str, source: str) -> None:
    from cloudscore.model_compare import compare_versions
    from shared.sources import read_source

    frame, _ = read_source(source, target.storage, target.bigquery)
    found = compare_versions(registry, version_a, version_b, frame, source)
    result = found.comparison
    print(
        f"{version_a} (A) and {version_b} (B) on the same {found.rows_compared:,} labelled rows "
        f"of {source} ({found.rows_read:,} read; the others lack a label or break a contract)"
    )
    print(f"{'metric':<16} {'A':>10} {'B':>10} {'B - A':>10}")
    for name in result.champion:
        a, b = result.champion.get(name), result.challenger.get(name)
        difference = f"{b - a:>+10.4f}" if a is not None and b is not None else f"{'-':>10}"
        cells = [f"{v:>10.4f}" if v is not None else f"{'-':>10}" for v in (a, b)]
        print(f"{name:<16} {cells[0]} {cells[1]} {difference}")
    print(
        f"\n{result.metric}: 95% paired-bootstrap interval of B - A "
        f"[{result.low:+.4f}, {result.high:+.4f}] (mean {result.mean:+.4f}); "
        + ("B is better" if result.challenger_wins else "B is not better")
        + f" by more than the margin ({result.margin:g})"
    )


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
    measured = [
        _measured_on(registry, v, m) for v, m in zip((version_a, version_b), metrics, strict=True)
    ]
    for version, where in zip((version_a, version_b), measured, strict=True):
        print(f"{version} measured on: {_described(where)}")
    same = measured[0].get("test_set") is not None and (
        measured[0].get("test_set") == measured[1].get("test_set")
    )
    print(
        "the same rows: the test metrics compare\n"
        if same
        else "other rows (or not recorded): the test metrics below do not compare; "
        f"`cloudscore models compare {version_a} {version_b} --data SOURCE` scores both on "
        "the same rows\n"
    )
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
