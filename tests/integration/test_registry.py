"""The model registry on the local Cloud Storage: immutable versions, verified loads, aliases
moved with preconditions, the audit log in BigQuery, and the cache the functions use."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import requests

from local_emulator.settings import StackSettings
from shared import clients
from shared.audit import AuditLog
from shared.errors import (
    AliasConflict,
    ArtifactTampered,
    TransientError,
    VersionExists,
    VersionNotFound,
)
from shared.model import FeatureSpec, ScoringModel
from shared.model_cache import ModelCache
from shared.model_format import BOOSTER_FILE, CARD_FILE, model_files
from shared.registry import ModelRegistry, NewVersion, new_version_id
from shared.schema import ColumnContract, DataContract

pytestmark = pytest.mark.stack

# Nothing listens on the discard port: a connection there is refused at once.
UNREACHABLE = "http://127.0.0.1:9"


@pytest.fixture
def registry(local_stack: StackSettings) -> Iterator[ModelRegistry]:
    # A model name of its own per test: nothing is shared between tests.
    client = clients.storage_client(local_stack.project, local_stack.endpoints())
    yield ModelRegistry(client, local_stack.models_bucket, f"m-{uuid.uuid4().hex[:10]}")


@cache
def small_model() -> ScoringModel:
    """A real XGBoost model, small: what a version stores."""
    import xgboost

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2)).astype(np.float32)
    y = (x[:, 0] + rng.normal(size=300) > 0).astype(np.float32)
    booster = xgboost.train({"objective": "binary:logistic"}, xgboost.DMatrix(x, y), 5)
    features = (FeatureSpec("a", "numeric"), FeatureSpec("b", "numeric"))
    return ScoringModel("xgboost", features, booster)


CONTRACT = DataContract(
    tuple(ColumnContract(n, "feature", "numeric", nullable=True, required=True) for n in "ab")
).to_json()


def new_version(payload: object = "model") -> NewVersion:
    return NewVersion(
        model_files=model_files(small_model()),
        contract=CONTRACT,
        metrics={"roc_auc": 0.8},
        reference={},
        project_config=None,
        lineage={"payload": payload},
    )


def register(registry: ModelRegistry, payload: object = "model") -> str:
    version = new_version_id(json.dumps(payload).encode() + uuid.uuid4().bytes)
    registry.write_version(version, new_version(payload))
    return version


def test_a_written_version_is_listed_and_loads_verified(registry: ModelRegistry) -> None:
    version = register(registry, payload=[1, 2, 3])

    assert registry.versions() == [version]
    loaded = registry.load_version(version)
    assert loaded.lineage == {"payload": [1, 2, 3]}
    assert loaded.metrics == {"roc_auc": 0.8}
    rows = np.array([[0.5, -1.0], [np.nan, 2.0]], dtype=np.float32)
    expected = small_model().estimator.inplace_predict(rows)
    assert np.array_equal(loaded.model.estimator.inplace_predict(rows), expected)


def test_a_version_cannot_be_written_twice(registry: ModelRegistry) -> None:
    version = register(registry, payload="first")

    with pytest.raises(VersionExists, match="immutable"):
        registry.write_version(version, new_version("second"))

    assert registry.load_version(version).lineage == {"payload": "first"}


def test_a_changed_artifact_is_refused_before_it_is_read(registry: ModelRegistry) -> None:
    version = register(registry)
    # Someone with write access replaces the model file behind the registry's back.
    path = f"{registry.prefix}/versions/{version}/{BOOSTER_FILE}"
    registry.bucket.blob(path).upload_from_string(b"{}")

    with pytest.raises(ArtifactTampered, match="sha256"):
        registry.load_version(version)


def test_a_half_written_version_is_invisible(registry: ModelRegistry) -> None:
    # A writer that crashed before the manifest leaves artifacts without one.
    registry.bucket.blob(f"{registry.prefix}/versions/half/{CARD_FILE}").upload_from_string(b"x")

    assert registry.versions() == []
    with pytest.raises(VersionNotFound):
        registry.load_version("half")
    with pytest.raises(VersionNotFound):
        registry.move_alias("champion", "half", actor="test", reason="must fail")


def test_of_two_concurrent_promotions_exactly_one_wins(registry: ModelRegistry) -> None:
    base, a, b = register(registry, "base"), register(registry, "a"), register(registry, "b")
    registry.move_alias("champion", base, actor="test", reason="first")
    seen = registry.alias("champion")  # both promoters decided on this same pointer
    outcomes: dict[str, str] = {}
    barrier = threading.Barrier(2)

    def promote(version: str) -> None:
        barrier.wait()
        try:
            registry.move_alias("champion", version, actor=version, reason="race", expected=seen)
            outcomes[version] = "won"
        except AliasConflict:
            outcomes[version] = "conflict"

    threads = [threading.Thread(target=promote, args=(v,)) for v in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes.values()) == ["conflict", "won"]
    winner = next(v for v, o in outcomes.items() if o == "won")
    pointer = registry.alias("champion")
    assert pointer is not None
    assert (pointer.version, pointer.previous_version) == (winner, base)


def test_an_alias_move_is_recorded_once_in_model_events(
    registry: ModelRegistry, local_stack: StackSettings
) -> None:
    version = register(registry)
    move = registry.move_alias("champion", version, actor="alice", reason="first model")
    bq = clients.bigquery_client(local_stack.project, local_stack.endpoints())
    audit = AuditLog(bq, local_stack.dataset, location=local_stack.region)

    audit.record(move)
    audit.record(move)  # a retried recording adds nothing

    rows = list(
        bq.query(
            f"SELECT alias, from_version, to_version, actor, reason FROM "
            f"`{audit.table}` WHERE model_name = '{registry.model_name}'"
        ).result()
    )
    assert [tuple(r.values()) for r in rows] == [
        ("champion", None, version, "alice", "first model")
    ]


def test_the_cache_picks_up_a_moved_champion_after_the_refresh_interval(
    registry: ModelRegistry,
) -> None:
    first, second = register(registry, "first"), register(registry, "second")
    registry.move_alias("champion", first, actor="test", reason="first")
    now = [0.0]
    cache = ModelCache(registry, refresh_s=30, clock=lambda: now[0])
    assert cache.get().lineage == {"payload": "first"}

    registry.move_alias("champion", second, actor="test", reason="better")
    now[0] = 29.0
    assert cache.get().version == first, "within the interval the pointer is not re-read"
    now[0] = 31.0
    loaded = cache.get()

    assert (loaded.version, loaded.lineage) == (second, {"payload": "second"})
    assert loaded.metrics == {"roc_auc": 0.8}


def test_the_cache_keeps_its_champion_while_storage_cannot_be_reached(
    registry: ModelRegistry, local_stack: StackSettings
) -> None:
    version = register(registry)
    registry.move_alias("champion", version, actor="test", reason="first")
    now = [0.0]
    cache = ModelCache(registry, refresh_s=30, clock=lambda: now[0])
    assert cache.get().version == version

    # Storage stops answering: nothing listens where the registry now reads.
    gone = clients.storage_client(local_stack.project, clients.Endpoints(storage=UNREACHABLE))
    cache.registry = ModelRegistry(
        gone, registry.bucket_name, registry.model_name, read_deadline_s=0.5
    )
    now[0] = 31.0

    assert cache.get().version == version, "the pointer read last is kept"
    with pytest.raises(TransientError):
        ModelCache(cache.registry).get()  # an instance that never read it has nothing to keep


def test_the_cache_says_when_there_is_no_champion(registry: ModelRegistry) -> None:
    with pytest.raises(VersionNotFound, match="has no champion yet"):
        ModelCache(registry).get()


@pytest.mark.parametrize("version", ["a\nb", "../x", "", "v 1", "x/y", "é"])
def test_text_that_is_no_version_id_is_not_found_without_asking_storage(
    registry: ModelRegistry, version: str
) -> None:
    with pytest.raises(VersionNotFound, match="a version id is made of letters"):
        registry.manifest(version)


def test_the_cache_keeps_no_lock_for_a_version_it_did_not_find(registry: ModelRegistry) -> None:
    cache = ModelCache(registry)
    version = register(registry)

    for missing in ("20000101-000000-00000000", "no version", version + "x"):
        with pytest.raises(VersionNotFound):
            cache.get_version(missing)
    assert cache.get_version(version).version == version

    # One lock per id ever asked for would grow without end.
    assert cache._version_locks == {}


class LosesOneAnswer:
    """Sends each request, but loses the answer to the first upload of an object whose name
    holds `marker`, as a dropped connection does: the object is written, and the client, which
    retries uploads made with a generation precondition, sends it again."""

    def __init__(self, registry: ModelRegistry, marker: str) -> None:
        self.session = registry.bucket.client._http
        self.send = self.session.request
        self.marker = marker
        self.lost = 0

    def __call__(self, method: str, url: str, *args: object, **kwargs: object) -> object:
        response = self.send(method, url, *args, **kwargs)
        body = kwargs.get("data")
        names_it = isinstance(body, bytes) and self.marker.encode() in body[:2048]
        if method == "POST" and "upload" in url and names_it and not self.lost:
            self.lost += 1
            raise requests.exceptions.ConnectionError("connection reset while reading the answer")
        return response


@pytest.mark.parametrize("marker", [BOOSTER_FILE, "manifest.json"])
def test_a_version_write_whose_answer_was_lost_is_not_a_conflict(
    registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch, marker: str
) -> None:
    losing = LosesOneAnswer(registry, f"/{marker}")
    monkeypatch.setattr(losing.session, "request", losing)

    version = register(registry, payload="retried")

    assert losing.lost == 1
    assert registry.versions() == [version]
    assert registry.load_version(version).lineage == {"payload": "retried"}


def test_an_alias_move_whose_answer_was_lost_is_not_a_conflict(
    registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = register(registry, "first"), register(registry, "second")
    registry.move_alias("champion", first, actor="test", reason="first")
    losing = LosesOneAnswer(registry, "aliases/champion")
    monkeypatch.setattr(losing.session, "request", losing)

    move = registry.move_alias("champion", second, actor="test", reason="second")

    assert losing.lost == 1
    assert move.to_version == second
    pointer = registry.alias("champion")
    assert pointer is not None and (pointer.version, pointer.previous_version) == (second, first)


def test_a_downloaded_version_scores_locally_under_its_own_name_and_version(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    from cloudscore.cli.score_cmd import load_model_dir

    version = register(registry, payload="local")
    for name, data in registry.version_files(version).items():
        (tmp_path / name).write_bytes(data)

    loaded = load_model_dir(tmp_path)

    assert (loaded.name, loaded.version) == (registry.model_name, version)
    assert [c.name for c in loaded.contract.columns] == ["a", "b"]
    rows = np.array([[0.5, -1.0]], dtype=np.float32)
    expected = small_model().estimator.inplace_predict(rows)
    assert np.array_equal(loaded.model.estimator.inplace_predict(rows), expected)
