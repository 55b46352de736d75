"""The HTTP predictor against the local cloud: through the running function with a real HTTP
client, and in this process through functions-framework's test client where a test needs its
own settings (a model of its own, no alias caching)."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import functions_framework
import pytest

from cloudscore.cli import demo_cmd
from cloudscore.demo_data import LABEL_COLUMN, iter_demo_frames, write_demo_data
from local_emulator.settings import StackSettings
from shared import clients
from shared.model_cache import ModelCache
from shared.registry import ModelRegistry, ModelVersion, new_version_id
from shared.scoring.core import RunInfo, score_chunk
from shared.scoring.readers import Chunk
from tests.integration.waiting import wait_for

pytestmark = pytest.mark.stack


def call(
    local_stack: StackSettings,
    body: Any = None,
    *,
    method: str = "POST",
    query: str = "",
    content_type: str = "application/json",
    raw: bytes | None = None,
) -> tuple[int, dict[str, Any]]:
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        local_stack.url("predict_rows") + "/" + query,
        data=data,
        method=method,
        headers={"Content-Type": content_type} if data is not None else {},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def instances() -> list[dict[str, Any]]:
    frame = next(iter_demo_frames(40, seed=31, drift=0.0, bad_rows=0.0, chunk_rows=40))
    frame = frame.drop(columns=[LABEL_COLUMN])
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def loaded_champion(local_stack: StackSettings, champion: str) -> ModelVersion:
    storage = clients.storage_client(local_stack.project, local_stack.endpoints())
    registry = ModelRegistry(storage, local_stack.models_bucket, local_stack.model_name)
    return ModelCache(registry).get_version(champion)


def test_get_reports_the_champion(local_stack: StackSettings, champion: str) -> None:
    status, body = call(local_stack, method="GET")

    assert status == 200
    assert body["status"] == "ok"
    assert body["model"]["version"] == champion
    assert body["model"]["name"] == local_stack.model_name


def test_predictions_are_the_batch_paths_for_the_same_rows_and_version(
    local_stack: StackSettings, champion: str, instances: list[dict[str, Any]]
) -> None:
    status, body = call(local_stack, {"instances": instances})

    assert status == 200
    assert body["model"] == {
        "name": local_stack.model_name,
        "version": champion,
        "alias": "champion",
    }
    assert len(body["predictions"]) == len(instances)
    loaded = loaded_champion(local_stack, champion)
    contract = loaded.contract
    import pandas as pd

    frame = pd.DataFrame.from_records(instances)
    run = RunInfo(local_stack.model_name, champion, "gs://x/y", 1, "r", datetime.now(UTC))
    scored = score_chunk(
        Chunk(frame, 1, tuple(frame.columns)),
        contract,
        loaded.model,
        model_name=run.model_name,
        model_version=run.model_version,
        source_uri=run.source_uri,
        source_generation=run.source_generation,
        run_id=run.run_id,
        scored_at=run.scored_at,
    )
    assert scored.rows_scored == len(instances)
    batch = scored.predictions
    for prediction, score, label in zip(
        body["predictions"], batch["score"], batch["predicted_label"], strict=True
    ):
        assert prediction["score"] == pytest.approx(score, abs=1e-6)
        assert str(prediction["label"]) == label


def test_the_demos_request_is_answered(
    local_stack: StackSettings, champion: str, tmp_path: Path
) -> None:
    """`make demo` calls the function with the first application of its first file (CSV, so
    every value text), sent as a client would send it: each value of the JSON type its column
    has in the model's contract."""
    path = write_demo_data(tmp_path / "week.csv", rows=50, seed=2, bad_rows=0.02).out

    instance = demo_cmd.first_instance(path, loaded_champion(local_stack, champion).contract)
    status, body = call(local_stack, {"instances": [instance]}, query="?explain=true")

    assert status == 200, body
    assert {"score", "label", "contributions"} <= set(body["predictions"][0])
    assert isinstance(instance["credit_score"], int | float)


def test_invalid_instances_are_400_with_every_problem(
    local_stack: StackSettings, champion: str, instances: list[dict[str, Any]]
) -> None:
    bad = [
        {**instances[0], "annual_income": "lots"},
        instances[1],
        {k: v for k, v in instances[2].items() if k != "credit_score"},
    ]

    status, body = call(local_stack, {"instances": bad})

    assert status == 400
    problems = {(p["instance"], p["field"], p["reason_code"]) for p in body["error"]["problems"]}
    assert problems == {
        (0, "annual_income", "WRONG_TYPE"),
        (2, "credit_score", "MISSING_COLUMN"),
    }
    assert "2 of 3 instances" in body["error"]["message"]


def test_error_statuses(local_stack: StackSettings, champion: str) -> None:
    assert call(local_stack, {"a": 1}, method="PUT")[0] == 405
    assert call(local_stack, {"a": 1}, content_type="text/plain")[0] == 415
    assert call(local_stack, {"instances": [{}] * 1001})[0] == 400
    # A number JSON reads as infinite, inside an array: refused, and the answer is JSON.
    raw = json.dumps({"instances": [{"annual_income": ["INF"]}]}).replace('"INF"', "1e400")
    status, body = call(local_stack, raw=raw.encode())
    assert status == 400
    assert {(p["field"], p.get("found")) for p in body["error"]["problems"]} >= {
        ("annual_income", "[Infinity]")
    }
    # Nested deeper than the API reads: within what `json` reads (the field is named), and
    # beyond it.
    for depth, where in [(900, [(0, "age")]), (100_000, [(None, None)])]:
        deep = b'{"instances": [{"age": ' + b"[" * depth + b"]" * depth + b"}]}"
        status, body = call(local_stack, raw=deep)
        assert status == 400
        assert "more than 64 deep" in body["error"]["message"]
        problems = body["error"]["problems"]
        assert [(p.get("instance"), p.get("field")) for p in problems] == where
    status, body = call(local_stack, {"a": 1}, query="?version=20000101-000000-none")
    assert status == 404
    assert "20000101-000000-none" in body["error"]["message"]
    # Text that is no version id is never sent to storage as an object's name.
    status, body = call(local_stack, {"a": 1}, query="?version=a%0Ab")
    assert status == 404
    assert "a version id is made of" in body["error"]["message"]


def test_explanations_add_up_to_the_margin(
    local_stack: StackSettings, champion: str, instances: list[dict[str, Any]]
) -> None:
    status, body = call(local_stack, {"instances": instances[:5]}, query="?explain=true")

    assert status == 200
    for prediction in body["predictions"]:
        total = prediction["bias"] + math.fsum(prediction["contributions"].values())
        assert total == pytest.approx(prediction["margin"], abs=1e-6)
        assert "credit_score" in prediction["contributions"]


def test_answered_requests_are_logged_to_bigquery(
    local_stack: StackSettings, champion: str, instances: list[dict[str, Any]]
) -> None:
    request = urllib.request.Request(
        local_stack.url("predict_rows") + "/",
        data=json.dumps({"instances": instances[:3]}).encode(),
        headers={"Content-Type": "application/json", "X-Request-Id": f"t-{uuid.uuid4().hex}"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        request_id = response.headers["X-Request-Id"]
        body = json.loads(response.read())
    bq = clients.bigquery_client(local_stack.project, local_stack.endpoints())
    table = f"{local_stack.project}.{local_stack.dataset}.online_predictions"

    def logged() -> list[dict[str, Any]]:
        sql = f"SELECT * FROM `{table}` WHERE request_id = '{request_id}' ORDER BY instance_index"
        return [dict(row) for row in bq.query(sql).result()]

    rows = wait_for(logged, timeout_s=60, what="the logged request")
    assert [r["instance_index"] for r in rows] == [0, 1, 2]
    assert [r["score"] for r in rows] == pytest.approx([p["score"] for p in body["predictions"]])
    assert {r["model_version"] for r in rows} == {champion}
    assert rows[0]["record_id"] == str(instances[0]["application_id"])
    assert json.loads(rows[0]["inputs"]) == instances[0]
    assert not any(r["shadow"] for r in rows)


# --- in this process, with settings of its own ----------------------------------------------


@pytest.fixture
def own_model(
    local_stack: StackSettings, champion: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ModelRegistry, list[str], Any]]:
    """A model name of its own with two versions (the champion's artifacts, copied), and a
    function to serve it with the test client, with no alias caching and the settings given."""
    from shared.runtime import instance_config, model_cache, prediction_service

    storage = clients.storage_client(local_stack.project, local_stack.endpoints())
    source = ModelRegistry(storage, local_stack.models_bucket, local_stack.model_name)
    copied = source.load_version(champion).copied()
    registry = ModelRegistry(storage, local_stack.models_bucket, f"m-{uuid.uuid4().hex[:8]}")
    versions = []
    for _ in range(2):
        version = new_version_id(uuid.uuid4().bytes)
        registry.write_version(version, copied)
        versions.append(version)
    caches = (instance_config, model_cache, prediction_service)

    def serve(**settings: str) -> Any:
        env = {
            **local_stack.function_config().to_env(),
            **local_stack.emulator_env(),
            "CLOUDSCORE_MODEL_NAME": registry.model_name,
            "CLOUDSCORE_MODEL_REFRESH_S": "0",
            "CLOUDSCORE_PREDICT_LOG_SAMPLE_RATE": "0",
            **settings,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        for cached in caches:
            cached.cache_clear()
        return functions_framework.create_app("predict_rows", "functions/main.py", "http")

    yield registry, versions, lambda **settings: serve(**settings).test_client()
    for cached in caches:
        cached.cache_clear()


def test_no_champion_is_503_and_a_moved_champion_is_picked_up(
    own_model: tuple[ModelRegistry, list[str], Any], instances: list[dict[str, Any]]
) -> None:
    registry, (first, second), serve = own_model
    client = serve()

    assert client.get("/").status_code == 503
    assert client.post("/", json=instances[0]).status_code == 503

    registry.move_alias("champion", first, actor="test", reason="first")
    assert client.post("/", json=instances[0]).get_json()["model"]["version"] == first
    registry.move_alias("champion", second, actor="test", reason="second")
    assert client.post("/", json=instances[0]).get_json()["model"]["version"] == second


def test_a_version_or_an_alias_can_be_pinned(
    own_model: tuple[ModelRegistry, list[str], Any], instances: list[dict[str, Any]]
) -> None:
    registry, (first, second), serve = own_model
    client = serve()
    registry.move_alias("champion", first, actor="test", reason="serve")

    assert client.post("/?alias=challenger", json=instances[0]).status_code == 404
    registry.move_alias("challenger", second, actor="test", reason="try")

    answer = client.post("/?alias=challenger", json=instances[0]).get_json()
    assert answer["model"] == {
        "name": registry.model_name,
        "version": second,
        "alias": "challenger",
    }
    pinned = client.post(f"/?version={first}", json={"instances": instances[:2]}).get_json()
    assert pinned["model"]["version"] == first and pinned["model"]["alias"] is None
    assert len(pinned["predictions"]) == 2
    # A version with the alias expected to point at it: served while it does, 409 once not.
    both = client.post(f"/?version={first}&alias=champion", json=instances[0])
    assert both.get_json()["model"] == {
        "name": registry.model_name, "version": first, "alias": "champion"
    }  # fmt: skip
    moved = client.post(f"/?version={first}&alias=challenger", json=instances[0])
    assert moved.status_code == 409
    assert moved.get_json()["error"]["message"] == (
        f"alias challenger points at version {second}, not {first}"
    )


def test_in_shadow_mode_the_challenger_scores_each_request_and_is_logged_beside(
    local_stack: StackSettings,
    own_model: tuple[ModelRegistry, list[str], Any],
    instances: list[dict[str, Any]],
) -> None:
    from shared.runtime import prediction_service

    registry, (first, second), serve = own_model
    registry.move_alias("champion", first, actor="test", reason="serve")
    registry.move_alias("challenger", second, actor="test", reason="shadow")
    client = serve(CLOUDSCORE_PREDICT_SHADOW="true", CLOUDSCORE_PREDICT_LOG_SAMPLE_RATE="1")

    response = client.post("/", json={"instances": instances[:2]})
    prediction_service().close()

    assert response.status_code == 200
    assert response.get_json()["model"]["version"] == first
    request_id = response.headers["X-Request-Id"]
    bq = clients.bigquery_client(local_stack.project, local_stack.endpoints())
    table = f"{local_stack.project}.{local_stack.dataset}.online_predictions"
    sql = (
        f"SELECT model_version, alias, shadow, instance_index, score FROM `{table}` "
        f"WHERE request_id = '{request_id}' ORDER BY shadow, instance_index"
    )

    def logged() -> list[dict[str, Any]]:
        rows = [dict(r) for r in bq.query(sql).result()]
        return rows if len(rows) >= 4 else []

    rows = wait_for(logged, timeout_s=60, what="the logged answer and its shadow")
    seen = [(r["model_version"], r["alias"], r["shadow"], r["instance_index"]) for r in rows]
    assert seen == [
        (first, "champion", False, 0),
        (first, "champion", False, 1),
        (second, "challenger", True, 0),
        (second, "challenger", True, 1),
    ]
    # The same artifacts under two versions: the shadow's scores are the answer's.
    assert [r["score"] for r in rows[2:]] == pytest.approx([r["score"] for r in rows[:2]])


def test_concurrent_requests_each_get_their_own_answer(
    local_stack: StackSettings, champion: str, instances: list[dict[str, Any]]
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    expected = call(local_stack, {"instances": instances})[1]["predictions"]

    def one(index: int) -> tuple[int, float]:
        status, body = call(local_stack, {"instances": [instances[index % len(instances)]]})
        assert status == 200
        return index % len(instances), body["predictions"][0]["score"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(80)))

    for position, score in answers:
        assert score == pytest.approx(expected[position]["score"], abs=1e-9)
