"""The model registry, on Cloud Storage.

    gs://MODELS/models/<name>/versions/<version>/
        model.joblib     the pickled model
        contract.json    the data contract
        metrics.json     test, validation and baseline metrics
        reference.json   statistics of the training data, for drift checks
        lineage.json     data source and fingerprint, code version, parameters, parent …
        manifest.json    sha256 and size of each of the above, written last
    gs://MODELS/models/<name>/aliases/<alias>.json   {"version": …, who, when, from, why}

A version is immutable: every object is created with a does-not-exist precondition, and the
manifest is written last, so a version whose writer crashed half-way has no manifest and is not
listed or loadable. Every artifact is checked against the manifest's sha256 before use; the model
is unpickled from the verified bytes, never from a second download (joblib is pickle: loading an
unverified file runs whatever it holds).

An alias is moved with a generation precondition on its pointer object: of two concurrent moves
exactly one wins, the other gets `AliasConflict`. Each move is also recorded in BigQuery
`model_events` by `AuditLog`.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from google.api_core import exceptions as api_exceptions

from shared.errors import AliasConflict, ArtifactTampered, VersionExists, VersionNotFound
from shared.retryable import transient_errors

if TYPE_CHECKING:
    from google.cloud import storage

# What a version id is made of (`new_version_id` makes them): any other text names no version,
# and never reaches an object's name, where a line break is an error of the storage service.
_VERSION_ID: Final = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.-]{0,99}")
MODEL_FILE: Final = "model.joblib"
MANIFEST_FILE: Final = "manifest.json"
ALIASES: Final = ("champion", "challenger")


@dataclass(frozen=True)
class AliasPointer:
    alias: str
    version: str
    updated_at: str
    updated_by: str
    reason: str
    previous_version: str | None
    generation: int  # of the pointer object; the precondition for the next move


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


class ModelRegistry:
    """The versions and aliases of one model in one bucket."""

    def __init__(self, client: storage.Client, bucket: str, model_name: str) -> None:
        self.bucket = client.bucket(bucket)
        self.bucket_name = bucket
        self.model_name = model_name
        self.prefix = f"models/{model_name}"

    # --- versions ---------------------------------------------------------------------------
    def _version_path(self, version: str, name: str = "") -> str:
        if _VERSION_ID.fullmatch(version) is None:
            raise VersionNotFound(
                f"model {self.model_name!r} has no version {version[:100]!r}: a version id is "
                "made of letters, digits, '-', '_' and '.'; see `cloudscore models list`"
            )
        return f"{self.prefix}/versions/{version}/{name}"

    def write_version(self, version: str, artifacts: Mapping[str, bytes]) -> dict[str, Any]:
        """Write every artifact, then the manifest; refuses to touch an existing version."""
        if MODEL_FILE not in artifacts:
            raise ValueError(f"a version needs {MODEL_FILE}; got {sorted(artifacts)}")
        manifest = {
            "model_name": self.model_name,
            "version": version,
            "created_at": datetime.now(UTC).isoformat(),
            "artifacts": {
                name: {"sha256": sha256(data), "size": len(data)}
                for name, data in sorted(artifacts.items())
            },
        }
        for name, data in artifacts.items():
            self._create(self._version_path(version, name), data)
        self._create(
            self._version_path(version, MANIFEST_FILE),
            json.dumps(manifest, indent=2, sort_keys=True).encode(),
        )
        return manifest

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
                return bool(self.bucket.blob(path).download_as_bytes() == data)
            except api_exceptions.NotFound:
                return False

    def manifest(self, version: str) -> dict[str, Any]:
        path = self._version_path(version, MANIFEST_FILE)
        try:
            with transient_errors(f"reading gs://{self.bucket_name}/{path}"):
                data = self.bucket.blob(path).download_as_bytes()
        except api_exceptions.NotFound as exc:
            raise VersionNotFound(
                f"model {self.model_name!r} has no version {version!r} "
                f"(no gs://{self.bucket_name}/{path}); see `cloudscore models list`"
            ) from exc
        manifest: dict[str, Any] = json.loads(data)
        return manifest

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
                data: bytes = self.bucket.blob(path).download_as_bytes()
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

    def load_model(self, version: str, manifest: Mapping[str, Any] | None = None) -> Any:
        import joblib

        # Unpickled from the very bytes that were verified: no window for a swap in between.
        return joblib.load(io.BytesIO(self.read_artifact(version, MODEL_FILE, manifest)))

    def versions(self) -> list[str]:
        """Complete versions (those with a manifest), oldest first."""
        suffix = "/" + MANIFEST_FILE
        with transient_errors(f"listing gs://{self.bucket_name}/{self.prefix}/versions/"):
            manifests = [
                (b.time_created, b.name)
                for b in self.bucket.list_blobs(prefix=f"{self.prefix}/versions/")
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
            blob = self.bucket.get_blob(path)
            if blob is None:
                return None
            try:
                data = json.loads(blob.download_as_bytes(if_generation_match=blob.generation))
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
    ) -> AliasMove:
        """Point `alias` at `version`. `expected` is the pointer the caller based its decision on
        (read now when not given; `create_only`: the alias must not exist yet). Raises
        AliasConflict if another writer moved it after that."""
        self.manifest(version)  # only a complete version can be pointed at
        current = None if create_only else (expected or self.alias(alias))
        now = datetime.now(UTC).isoformat()
        pointer = {
            "model_name": self.model_name,
            "alias": alias,
            "version": version,
            "updated_at": now,
            "updated_by": actor,
            "reason": reason,
            "previous_version": current.version if current else None,
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
