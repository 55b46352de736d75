"""`cloudscore models migrate`: versions stored as pickles, written again in formats that cannot
run code, and the aliases moved to them.

Versions written before `shared.model_format` hold `model.joblib`, which no function reads any
more. This is run by a person who trusts those files: each is read once (joblib: pickle), after
its sha256 is checked against its manifest, and written as a NEW version `<old>-m` beside the
old one, with the same contract, metrics, reference and configuration, and a lineage that names
the version it came from. New versions rather than the old ones rewritten in place: a version
is immutable (every object is created with a does-not-exist precondition, and an alias records
its manifest's sha256), the old files stay as they were for audit, and a run that stops half-way
is carried on by the next, which finds the versions it already wrote. Then every alias that
points at a migrated version (or records no manifest) is moved to it, recorded in
`model_events`; what a rollback returns to is the migrated form of the previous version.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from shared.audit import AuditLog
from shared.errors import DataError, VersionNotFound
from shared.model import ScoringModel
from shared.model_format import CARD_FILE, OLD_MODEL_FILE
from shared.registration import stored_model_files
from shared.registry import (
    ALIASES,
    CONTRACT_FILE,
    LINEAGE_FILE,
    METRICS_FILE,
    PROJECT_FILE,
    REFERENCE_FILE,
    AliasMove,
    ModelRegistry,
    NewVersion,
)

SUFFIX: Final = "-m"


@dataclass(frozen=True)
class Migration:
    versions: dict[str, str]  # old version -> its migrated version
    written: tuple[str, ...]  # the migrated versions this run wrote (the others were there)
    moves: tuple[AliasMove, ...]


def migrate(
    registry: ModelRegistry,
    actor: str,
    only: str | None = None,
    audit: AuditLog | None = None,
    say: Callable[[str], None] = print,
) -> Migration:
    """Migrate every old-format version (or `only`), then move the aliases."""
    chosen = [only] if only else registry.versions()
    mapping: dict[str, str] = {}
    written: list[str] = []
    for version in chosen:
        listed = registry.manifest(version)["artifacts"]
        if CARD_FILE in listed:
            if only:
                say(f"{version}: already in the current format")
            continue
        if OLD_MODEL_FILE not in listed:
            raise DataError(f"version {version} lists neither {CARD_FILE} nor {OLD_MODEL_FILE}")
        target = version + SUFFIX
        mapping[version] = target
        if _exists(registry, target):
            say(f"{version}: migrated before, as {target}")
            continue
        registry.write_version(target, _migrated(registry, version, listed, actor))
        written.append(target)
        say(f"{version}: written again as {target}")
    moves = _move_aliases(registry, mapping, actor)
    for move in moves:
        if audit is not None:
            audit.record(move)
        say(f"{move.alias}: {move.from_version} → {move.to_version}")
    return Migration(mapping, tuple(written), tuple(moves))


def _exists(registry: ModelRegistry, version: str) -> bool:
    try:
        registry.manifest(version)
    except VersionNotFound:
        return False
    return True


def _migrated(
    registry: ModelRegistry, version: str, listed: dict[str, Any], actor: str
) -> NewVersion:
    import joblib

    manifest = registry.manifest(version)
    # Verified against the manifest before it is unpickled: corruption is caught, and this is
    # the one place a pickle is read, by a person who trusts it.
    model = joblib.load(io.BytesIO(registry.read_artifact(version, OLD_MODEL_FILE, manifest)))
    if not isinstance(model, ScoringModel):
        raise DataError(f"version {version}: {OLD_MODEL_FILE} holds a {type(model).__name__}")

    def document(name: str) -> Any:
        return registry.read_json(version, name, manifest) if name in listed else None

    lineage = document(LINEAGE_FILE) or {}
    lineage = {
        **lineage,
        "version": version + SUFFIX,
        "migrated_from": version,
        "migrated_at": datetime.now(UTC).isoformat(),
        "migrated_by": actor,
    }
    contract = registry.read_artifact(version, CONTRACT_FILE, manifest).decode()
    return NewVersion(
        model_files=stored_model_files(model),
        contract=contract,
        metrics=document(METRICS_FILE) or {},
        reference=document(REFERENCE_FILE) or {},
        project_config=document(PROJECT_FILE),
        lineage=lineage,
    )


def _move_aliases(registry: ModelRegistry, mapping: dict[str, str], actor: str) -> list[AliasMove]:
    moves = []
    for alias in ALIASES:
        pointer = registry.alias(alias)
        if pointer is None:
            continue
        if pointer.version not in mapping and pointer.manifest_sha256 is not None:
            continue
        target = mapping.get(pointer.version, pointer.version)
        previous = pointer.previous_version
        moves.append(
            registry.move_alias(
                alias,
                target,
                actor=actor,
                reason=f"migrated from {pointer.version} to model files that cannot run code"
                if target != pointer.version
                else "pointed again, recording the version's manifest",
                expected=pointer,
                previous_version=mapping.get(previous, previous) if previous else None,
            )
        )
    return moves
