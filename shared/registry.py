"""The model registry, on Cloud Storage.

    gs://MODELS/models/<name>/versions/<version>/
        model.json, booster.ubj | pipeline.skops, booster.onnx    the model (`shared.model_format`)
        contract.json    the data contract
        metrics.json     test, validation and baseline metrics
        reference.json   statistics of the training data, for drift checks
        project.json     the project configuration it was trained with
        lineage.json     data source and fingerprint, code version, parameters, parent …
        manifest.json    sha256 and size of each of the above, written last
    gs://MODELS/models/<name>/aliases/<alias>.json
        {"version", who, when, from, why, and the sha256 and generation of the version's manifest}

    registry.write_version(version, NewVersion(...))   the registry names every file
    registry.load_version(version) -> ModelVersion     every file verified; the model unread
                                                       until `.model` is asked for

A version is immutable: every object is created with a does-not-exist precondition, and the
manifest is written last, so a version whose writer crashed half-way has no manifest and is not
listed or loadable. Every artifact is checked against the manifest's sha256 before use, and read
from the very bytes that were verified. No model file is a pickle: none can run code when read.

The manifest is in the same bucket as what it lists, so it catches corruption, not a writer who
rewrites both. An alias therefore records the sha256 and generation of the manifest it was
pointed at, and `ModelCache` refuses a version whose manifest no longer matches its alias.

An alias is moved with a generation precondition on its pointer object: of two concurrent moves
exactly one wins, the other gets `AliasConflict`. Each move is also recorded in BigQuery
`model_events` by `AuditLog`.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import EllipsisType
from typing import TYPE_CHECKING, Any, Final

from google.api_core import exceptions as api_exceptions
from google.cloud.storage.retry import DEFAULT_RETRY

from shared.errors import (
    AliasConflict,
    ArtifactTampered,
    ModelFormatError,
    VersionExists,
    VersionNotFound,
)
from shared.model_format import CARD_FILE, OLD_MODEL_FILE, ModelCard, load_model, old_format_error
from shared.retryable import transient_errors

if TYPE_CHECKING:
    from google.cloud import storage

    from shared.contract import DataContract
    from shared.model import ScoringModel

# What a version id is made of (`new_version_id` makes them): any other text names no version,
# and never reaches an object's name, where a line break is an error of the storage service.
_VERSION_ID: Final = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.-]{0,99}")
CONTRACT_FILE: Final = "contract.json"
METRICS_FILE: Final = "metrics.json"
REFERENCE_FILE: Final = "reference.json"
PROJECT_FILE: Final = "project.json"
LINEAGE_FILE: Final = "lineage.json"
MANIFEST_FILE: Final = "manifest.json"
ALIASES: Final = ("champion", "challenger")


@dataclass(frozen=True)
class NewVersion:
    """What a version is made of, as its writer has it."""

    model_files: Mapping[str, bytes]  # `shared.model_format.model_files`
    contract: str  # the contract's JSON text
    metrics: Mapping[str, Any]
    reference: Mapping[str, Any]
    project_config: Mapping[str, Any] | None  # None: a version trained before it was kept
    lineage: Mapping[str, Any]

    def artifacts(self) -> dict[str, bytes]:
        documents = {
            METRICS_FILE: self.metrics,
            REFERENCE_FILE: self.reference,
            PROJECT_FILE: self.project_config,
            LINEAGE_FILE: self.lineage,
        }
        return {
            **self.model_files,
            CONTRACT_FILE: self.contract.encode(),
            **{
                name: _json(document)
                for name, document in documents.items()
                if document is not None
            },
        }


@dataclass(frozen=True, eq=False)
class ModelVersion:
    """A version as a function uses it: its documents read and verified, its model files
    verified and read into a model the first time `model` is asked for."""

    model_name: str
    version: str
    manifest: Mapping[str, Any]
    manifest_sha256: str
    manifest_generation: int
    card: ModelCard
    files: Mapping[str, bytes]  # the model's files, verified
    contract_document: dict[str, Any]  # contract.json as stored (the HTTP check reads it so)
    metrics: dict[str, Any]
    reference: dict[str, Any]
    project_config: dict[str, Any] | None
    lineage: dict[str, Any]
    _loaded: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def model(self) -> ScoringModel:
        """The scoring model, read from its verified files once."""
        with self._lock:
            if "model" not in self._loaded:
                where = f"version {self.version} of {self.model_name!r}: "
                self._loaded["model"] = load_model(self.card, self.files, where)
            model: ScoringModel = self._loaded["model"]
            return model

    @property
    def contract(self) -> DataContract:
        from shared.contract import DataContract

        return DataContract.from_json(json.dumps(self.contract_document))

    def copied(self) -> NewVersion:
        """What writes this version again under another id (or another model's name)."""
        return NewVersion(
            model_files=dict(self.files),
            contract=json.dumps(self.contract_document),
            metrics=self.metrics,
            reference=self.reference,
            project_config=self.project_config,
            lineage=self.lineage,
        )

    @property
    def scorer(self) -> bytes | None:
        """The model as an ONNX graph, when it has one."""
        return self.files.get(self.card.scorer_file) if self.card.scorer_file else None


@dataclass(frozen=True)
class AliasPointer:
    alias: str
    version: str
    updated_at: str
    updated_by: str
    reason: str
    previous_version: str | None
    generation: int  # of the pointer object; the precondition for the next move
    # The version's manifest when the alias was moved to it (None: a pointer written before
    # aliases recorded it).
    manifest_sha256: str | None = None
    manifest_generation: int | None = None

    def check(self, version: ModelVersion) -> None:
        """Refuse `version` unless its manifest is the one this alias was pointed at."""
        if self.manifest_sha256 is None:
            raise ArtifactTampered(
                f"{self.alias} of {version.model_name!r} was written by an older cloudscore and "
                "records no manifest to check the version against; point it again "
                f"(`cloudscore models promote {self.version} --alias {self.alias}`) or run "
                "`cloudscore models migrate`"
            )
        if (version.manifest_sha256, version.manifest_generation) != (
            self.manifest_sha256,
            self.manifest_generation,
        ):
            raise ArtifactTampered(
                f"the manifest of version {version.version} of {version.model_name!r} no longer "
                f"matches its {self.alias} alias: sha256 {version.manifest_sha256} generation "
                f"{version.manifest_generation}, the alias recorded {self.manifest_sha256} "
                f"generation {self.manifest_generation} when it was moved. The version was "
                "rewritten after it was promoted; refusing to serve it"
            )


@dataclass(frozen=True)
class AliasMove:
    model_name: str
    alias: str
    from_version: str | None
    to_version: str
    actor: str
    reason: str
    occurred_at: str


def new_version_id(model_bytes: bytes, now: datetime | None = None) -> str:
    """Sortable by creation time, unique: `20261122-223400-<6 hex of the model's sha256>`."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{hashlib.sha256(model_bytes).hexdigest()[:6]}{secrets.token_hex(1)}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_of(model_name: str, version: str, artifacts: Mapping[str, bytes]) -> dict[str, Any]:
    """The manifest of a version made of `artifacts`: the sha256 and size of each."""
    return {
        "model_name": model_name,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(),
        "artifacts": {
            name: {"sha256": sha256(data), "size": len(data)}
            for name, data in sorted(artifacts.items())
        },
    }


class ModelRegistry:
    """The versions and aliases of one model in one bucket."""

    def __init__(
        self,
        client: storage.Client,
        bucket: str,
        model_name: str,
        read_deadline_s: float | None = None,
    ) -> None:
        """`read_deadline_s` bounds how long a read retries a failure the client deems
        transient (by default the client's own policy: up to 120 s), for a caller who must
        answer sooner than that."""
        self.bucket = client.bucket(bucket)
        self.bucket_name = bucket
        self.model_name = model_name
        self.prefix = f"models/{model_name}"
        self._read_retry = (
            DEFAULT_RETRY
            if read_deadline_s is None
            else DEFAULT_RETRY.with_timeout(read_deadline_s)
        )

    # --- versions ---------------------------------------------------------------------------
    def _version_path(self, version: str, name: str = "") -> str:
        if _VERSION_ID.fullmatch(version) is None:
            raise VersionNotFound(
                f"model {self.model_name!r} has no version {version[:100]!r}: a version id is "
                "made of letters, digits, '-', '_' and '.'; see `cloudscore models list`"
            )
        return f"{self.prefix}/versions/{version}/{name}"

    def write_version(self, version: str, new: NewVersion) -> dict[str, Any]:
        """Write every artifact, then the manifest; refuses to touch an existing version."""
        artifacts = new.artifacts()
        if CARD_FILE not in artifacts:
            raise ValueError(f"a version needs {CARD_FILE}; got {sorted(artifacts)}")
        self._version_path(version)  # a version id, before anything is written
        manifest = manifest_of(self.model_name, version, artifacts)
        for name, data in artifacts.items():
            self._create(self._version_path(version, name), data)
        self._create(
            self._version_path(version, MANIFEST_FILE),
            json.dumps(manifest, indent=2, sort_keys=True).encode(),
        )
        return manifest

    def version_files(self, version: str) -> dict[str, bytes]:
        """Every file of a version, verified, the manifest among them: what a local copy of
        the version holds (`cloudscore models download`, `cloudscore score --model-dir`)."""
        manifest_bytes = json.dumps(self.manifest(version), indent=2, sort_keys=True).encode()
        manifest: dict[str, Any] = json.loads(manifest_bytes)
        files = {
            name: self.read_artifact(version, name, manifest) for name in manifest["artifacts"]
        }
        return {**files, MANIFEST_FILE: manifest_bytes}

    def _create(self, path: str, data: bytes) -> None:
        content_type = "application/json" if path.endswith(".json") else "application/octet-stream"
        try:
            with transient_errors(f"writing gs://{self.bucket_name}/{path}"):
                self.bucket.blob(path).upload_from_string(
                    data, content_type=content_type, if_generation_match=0
                )
        except api_exceptions.PreconditionFailed as exc:
            # The client retries an upload whose answer was lost; the retry then meets the
            # object its own first try wrote. Those bytes are ours: the write succeeded.
            if self._holds(path, data):
                return
            raise VersionExists(
                f"gs://{self.bucket_name}/{path} already exists: versions are immutable"
            ) from exc

    def _holds(self, path: str, data: bytes) -> bool:
        with transient_errors(f"reading gs://{self.bucket_name}/{path}"):
            try:
                return bool(
                    self.bucket.blob(path).download_as_bytes(retry=self._read_retry) == data
                )
            except api_exceptions.NotFound:
                return False

    def manifest(self, version: str) -> dict[str, Any]:
        return self.manifest_object(version)[0]

    def manifest_object(self, version: str) -> tuple[dict[str, Any], str, int]:
        """The version's manifest, its sha256 and its object's generation."""
        path = self._version_path(version, MANIFEST_FILE)
        try:
            with transient_errors(f"reading gs://{self.bucket_name}/{path}"):
                blob = self.bucket.blob(path)
                data = blob.download_as_bytes(retry=self._read_retry)
        except api_exceptions.NotFound as exc:
            raise VersionNotFound(
                f"model {self.model_name!r} has no version {version!r} "
                f"(no gs://{self.bucket_name}/{path}); see `cloudscore models list`"
            ) from exc
        manifest: dict[str, Any] = json.loads(data)
        return manifest, sha256(data), int(blob.generation)

    def read_artifact(
        self, version: str, name: str, manifest: Mapping[str, Any] | None = None
    ) -> bytes:
        """The artifact's bytes, verified against the manifest's sha256."""
        recorded = (manifest or self.manifest(version))["artifacts"].get(name)
        if recorded is None:
            raise VersionNotFound(f"version {version} of {self.model_name!r} has no {name}")
        path = self._version_path(version, name)
        try:
            with transient_errors(f"reading gs://{self.bucket_name}/{path}"):
                data: bytes = self.bucket.blob(path).download_as_bytes(retry=self._read_retry)
        except api_exceptions.NotFound as exc:
            raise ArtifactTampered(f"gs://{self.bucket_name}/{path} is listed but gone") from exc
        found = sha256(data)
        if found != recorded["sha256"]:
            raise ArtifactTampered(
                f"gs://{self.bucket_name}/{path} was changed after it was registered: sha256 "
                f"{found}, recorded {recorded['sha256']}; refusing to use it"
            )
        return data

    def read_json(self, version: str, name: str, manifest: Mapping[str, Any] | None = None) -> Any:
        return json.loads(self.read_artifact(version, name, manifest))

    def load_version(self, version: str) -> ModelVersion:
        """The version, every file verified against its manifest; `ModelFormatError` for a
        version stored in the old (pickle) format, which is never read."""
        manifest, manifest_sha256, generation = self.manifest_object(version)
        return assemble_version(
            manifest,
            manifest_sha256,
            generation,
            lambda name: self.read_artifact(version, name, manifest),
            where=f"gs://{self.bucket_name}/{self._version_path(version)}",
        )

    def versions(self) -> list[str]:
        """Complete versions (those with a manifest), oldest first."""
        suffix = "/" + MANIFEST_FILE
        with transient_errors(f"listing gs://{self.bucket_name}/{self.prefix}/versions/"):
            manifests = [
                (b.time_created, b.name)
                for b in self.bucket.list_blobs(
                    prefix=f"{self.prefix}/versions/", retry=self._read_retry
                )
                if b.name.endswith(suffix)
            ]
        # By the time the manifest was written: version ids made in the same second do not sort
        # by age.
        return [name.split("/")[-2] for _, name in sorted(manifests)]

    # --- aliases ----------------------------------------------------------------------------
    def _alias_path(self, alias: str) -> str:
        return f"{self.prefix}/aliases/{alias}.json"

    def alias(self, alias: str) -> AliasPointer | None:
        path = self._alias_path(alias)
        with transient_errors(f"reading gs://{self.bucket_name}/{path}"):
            blob = self.bucket.get_blob(path, retry=self._read_retry)
            if blob is None:
                return None
            try:
                data = json.loads(
                    blob.download_as_bytes(
                        if_generation_match=blob.generation, retry=self._read_retry
                    )
                )
            except api_exceptions.PreconditionFailed:
                # Moved between the metadata read and the download: read the new one.
                return self.alias(alias)
        return AliasPointer(
            alias=alias,
            version=data["version"],
            updated_at=data["updated_at"],
            updated_by=data["updated_by"],
            reason=data.get("reason", ""),
            previous_version=data.get("previous_version"),
            generation=int(blob.generation),
            manifest_sha256=data.get("manifest_sha256"),
            manifest_generation=data.get("manifest_generation"),
        )

    def move_alias(
        self,
        alias: str,
        version: str,
        actor: str,
        reason: str,
        expected: AliasPointer | None = None,
        *,
        create_only: bool = False,
        previous_version: str | EllipsisType | None = ...,
    ) -> AliasMove:
        """Point `alias` at `version`. `expected` is the pointer the caller based its decision on
        (read now when not given; `create_only`: the alias must not exist yet). Raises
        AliasConflict if another writer moved it after that. `previous_version`: what a
        rollback returns to (by default, the version the alias leaves)."""
        # Only a complete version, in a format that loads, can be pointed at; the pointer
        # records its manifest.
        target = self.load_version(version)
        current = None if create_only else (expected or self.alias(alias))
        now = datetime.now(UTC).isoformat()
        pointer = {
            "model_name": self.model_name,
            "alias": alias,
            "version": version,
            "updated_at": now,
            "updated_by": actor,
            "reason": reason,
            "previous_version": (current.version if current else None)
            if previous_version is ...
            else previous_version,
            "manifest_sha256": target.manifest_sha256,
            "manifest_generation": target.manifest_generation,
        }
        path = self._alias_path(alias)
        try:
            with transient_errors(f"writing gs://{self.bucket_name}/{path}"):
                self.bucket.blob(path).upload_from_string(
                    json.dumps(pointer, indent=2).encode(),
                    content_type="application/json",
                    if_generation_match=current.generation if current else 0,
                )
        except api_exceptions.PreconditionFailed as exc:
            winner = self.alias(alias)
            # The client retries an upload whose answer was lost, and the retry then meets the
            # pointer its own first try wrote (same version, time and actor): that move is done.
            ours = winner is not None and (
                winner.version,
                winner.updated_at,
                winner.updated_by,
            ) == (
                version,
                now,
                actor,
            )
            if not ours:
                now_at = f"{winner.version}, by {winner.updated_by}" if winner else "unset"
                raise AliasConflict(
                    f"{alias} of {self.model_name!r} was moved by someone else meanwhile (now "
                    f"{now_at}); nothing was changed — check and retry"
                ) from exc
        return AliasMove(
            model_name=self.model_name,
            alias=alias,
            from_version=current.version if current else None,
            to_version=version,
            actor=actor,
            reason=reason,
            occurred_at=now,
        )


def version_dir_files(model_name: str, version: str, new: NewVersion) -> dict[str, bytes]:
    """A version's files as a local copy holds them (`cloudscore score --model-dir`): its
    artifacts and their manifest."""
    artifacts = new.artifacts()
    manifest = manifest_of(model_name, version, artifacts)
    return {**artifacts, MANIFEST_FILE: json.dumps(manifest, indent=2, sort_keys=True).encode()}


def assemble_version(
    manifest: Mapping[str, Any],
    manifest_sha256: str,
    generation: int,
    read: Callable[[str], bytes],
    where: str,
) -> ModelVersion:
    """A version from its manifest and `read`, which gives a listed file's verified bytes."""
    listed = manifest.get("artifacts", {})
    version = str(manifest.get("version"))
    if CARD_FILE not in listed:
        if OLD_MODEL_FILE in listed:
            raise old_format_error(where, version)
        raise ModelFormatError(f"{where}: the manifest lists no {CARD_FILE}")
    card = ModelCard.from_bytes(read(CARD_FILE), f"{where}{CARD_FILE}")
    files = {name: read(name) for name in card.model_files()}
    documents = {
        name: json.loads(read(name))
        for name in (CONTRACT_FILE, METRICS_FILE, REFERENCE_FILE, PROJECT_FILE, LINEAGE_FILE)
        if name in listed
    }
    if CONTRACT_FILE not in documents:
        raise ModelFormatError(f"{where}: the manifest lists no {CONTRACT_FILE}")
    return ModelVersion(
        model_name=str(manifest.get("model_name")),
        version=version,
        manifest=manifest,
        manifest_sha256=manifest_sha256,
        manifest_generation=generation,
        card=card,
        files=files,
        contract_document=documents[CONTRACT_FILE],
        metrics=documents.get(METRICS_FILE, {}),
        reference=documents.get(REFERENCE_FILE, {}),
        project_config=documents.get(PROJECT_FILE),
        lineage=documents.get(LINEAGE_FILE, {}),
    )


def _json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, indent=2, sort_keys=True, default=str).encode()
