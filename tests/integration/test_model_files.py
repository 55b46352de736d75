"""Model files that never run code: a model file swapped for one that would run code is refused
without running it, with or without its manifest rewritten; an alias pins its version's
manifest; a version in the old (pickle) format is refused, naming `cloudscore models migrate`,
which writes it again."""

from __future__ import annotations

import io
import json
import pickle
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

from cloudscore.migrate import migrate
from local_emulator.settings import StackSettings
from shared import clients
from shared.errors import ArtifactTampered, ModelFormatError
from shared.model_cache import ModelCache
from shared.model_format import BOOSTER_FILE, OLD_MODEL_FILE, PIPELINE_FILE
from shared.registry import MANIFEST_FILE, ModelRegistry, new_version_id, sha256
from tests.integration.test_registry import CONTRACT, new_version, register, small_model

pytestmark = pytest.mark.stack


class RunsCode:
    """Unpickled, it writes `path`: what a hostile model file would do."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.path, "ran"))


@pytest.fixture
def registry(local_stack: StackSettings) -> Iterator[ModelRegistry]:
    client = clients.storage_client(local_stack.project, local_stack.endpoints())
    yield ModelRegistry(client, local_stack.models_bucket, f"m-{uuid.uuid4().hex[:10]}")


def hostile(marker: Path) -> bytes:
    data = pickle.dumps(RunsCode(marker))
    # The file does run code when a pickle reader meets it.
    probe = marker.with_name("probe")
    pickle.loads(pickle.dumps(RunsCode(probe)))
    assert probe.read_text() == "ran"
    return data


def put(registry: ModelRegistry, version: str, name: str, data: bytes) -> None:
    registry.bucket.blob(f"{registry.prefix}/versions/{version}/{name}").upload_from_string(data)


def rewrite_manifest(registry: ModelRegistry, version: str, name: str, data: bytes) -> None:
    """What a writer with access to the bucket does to make a swapped file pass its check."""
    manifest = registry.manifest(version)
    manifest["artifacts"][name] = {"sha256": sha256(data), "size": len(data)}
    put(registry, version, MANIFEST_FILE, json.dumps(manifest, indent=2).encode())


@pytest.mark.parametrize("manifest_rewritten", [False, True])
def test_a_model_file_that_would_run_code_is_refused_without_running_it(
    registry: ModelRegistry, tmp_path: Path, manifest_rewritten: bool
) -> None:
    version = register(registry)
    registry.move_alias("champion", version, actor="test", reason="first")
    marker = tmp_path / "marker"
    data = hostile(marker)
    put(registry, version, BOOSTER_FILE, data)
    if manifest_rewritten:
        rewrite_manifest(registry, version, BOOSTER_FILE, data)

    # By its alias: the manifest is not the one the alias recorded, or the file not its own.
    with pytest.raises(ArtifactTampered) as by_alias:
        ModelCache(registry).get("champion").model  # noqa: B018
    expected = "no longer matches its champion alias" if manifest_rewritten else "sha256"
    assert expected in str(by_alias.value)
    # By its id, with no alias to check against: still never a pickle.
    with pytest.raises((ArtifactTampered, ModelFormatError)) as by_id:
        ModelCache(registry).get_version(version).model  # noqa: B018
    if manifest_rewritten:
        assert f"{BOOSTER_FILE} is not an XGBoost model" in str(by_id.value)
    assert not marker.exists()


def test_a_pipeline_file_that_would_run_code_is_refused_unread(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    from shared.training import train_model
    from tests.unit.training_data import demo_frame, quick_demo_spec

    spec = quick_demo_spec(candidates=("logistic_regression",), max_trials=1)
    model = train_model(demo_frame(800, seed=3), spec).model
    version = new_version_id(uuid.uuid4().bytes)
    new = new_version()
    registry.write_version(version, type(new)(**{**new.__dict__, "model_files": _files(model)}))
    marker = tmp_path / "marker"
    data = hostile(marker)
    put(registry, version, PIPELINE_FILE, data)
    rewrite_manifest(registry, version, PIPELINE_FILE, data)

    with pytest.raises(ModelFormatError, match="is not a skops file"):
        registry.load_version(version).model  # noqa: B018
    assert not marker.exists()


def _files(model: Any) -> dict[str, bytes]:
    from shared.model_format import model_files

    return model_files(model)


def test_a_rewritten_manifest_is_refused_by_the_alias_that_pinned_it(
    registry: ModelRegistry,
) -> None:
    version = register(registry)
    registry.move_alias("champion", version, actor="test", reason="first")
    pointer = registry.alias("champion")
    assert pointer is not None and pointer.manifest_sha256 == sha256(
        registry.bucket.blob(
            f"{registry.prefix}/versions/{version}/{MANIFEST_FILE}"
        ).download_as_bytes()
    )
    cache = ModelCache(registry)
    assert cache.get("champion").version == version
    # The same manifest written again is a new generation: the alias no longer vouches for it.
    manifest = registry.manifest(version)
    put(registry, version, MANIFEST_FILE, json.dumps(manifest, indent=2, sort_keys=True).encode())

    with pytest.raises(ArtifactTampered, match="no longer matches its champion alias"):
        ModelCache(registry).get("champion")


def old_version(registry: ModelRegistry, payload: str) -> str:
    """A version as cloudscore wrote them before: the model pickled by joblib."""
    buffer = io.BytesIO()
    joblib.dump(small_model(), buffer)
    artifacts = {
        OLD_MODEL_FILE: buffer.getvalue(),
        "contract.json": CONTRACT.encode(),
        "metrics.json": b'{"roc_auc": 0.8}',
        "lineage.json": json.dumps({"payload": payload}).encode(),
    }
    version = new_version_id(uuid.uuid4().bytes)
    for name, data in artifacts.items():
        put(registry, version, name, data)
    manifest = {
        "model_name": registry.model_name,
        "version": version,
        "created_at": "2026-01-01T00:00:00+00:00",
        "artifacts": {n: {"sha256": sha256(d), "size": len(d)} for n, d in artifacts.items()},
    }
    put(registry, version, MANIFEST_FILE, json.dumps(manifest).encode())
    return version


def point(registry: ModelRegistry, alias: str, version: str, previous: str | None) -> None:
    """An alias as cloudscore wrote them before: no manifest recorded."""
    pointer = {
        "alias": alias, "version": version, "updated_at": "2026-01-01T00:00:00+00:00",
        "updated_by": "old", "reason": "old", "previous_version": previous,
    }  # fmt: skip
    registry.bucket.blob(f"{registry.prefix}/aliases/{alias}.json").upload_from_string(
        json.dumps(pointer)
    )


def test_an_old_version_is_refused_naming_migrate_which_moves_it(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    first, second = old_version(registry, "first"), old_version(registry, "second")
    point(registry, "champion", second, previous=first)
    # A hostile pickle in an old version is not read either.
    marker = tmp_path / "marker"
    data = hostile(marker)
    put(registry, second, OLD_MODEL_FILE, data)
    rewrite_manifest(registry, second, OLD_MODEL_FILE, data)

    with pytest.raises(ModelFormatError) as refused:
        ModelCache(registry).get_version(second)
    assert f"cloudscore models migrate --version {second}" in str(refused.value)
    assert not marker.exists()

    # The person who trusts the files puts the real model back, and migrates.
    buffer = io.BytesIO()
    joblib.dump(small_model(), buffer)
    put(registry, second, OLD_MODEL_FILE, buffer.getvalue())
    rewrite_manifest(registry, second, OLD_MODEL_FILE, buffer.getvalue())
    said: list[str] = []
    done = migrate(registry, "alice", say=said.append)

    assert done.versions == {first: first + "-m", second: second + "-m"}
    pointer = registry.alias("champion")
    assert pointer is not None
    assert (pointer.version, pointer.previous_version) == (second + "-m", first + "-m")
    loaded = ModelCache(registry).get("champion")
    assert loaded.lineage["payload"] == "second" and loaded.lineage["migrated_from"] == second
    rows = np.array([[0.1, 0.2], [np.nan, -3.0]], dtype=np.float32)
    expected = small_model().estimator.inplace_predict(rows)
    assert np.array_equal(loaded.model.estimator.inplace_predict(rows), expected)
    assert loaded.scorer is not None  # the ONNX graph the HTTP function scores with
    # Run again, nothing is redone.
    again = migrate(registry, "alice", say=said.append)
    assert again.written == () and again.moves == ()
