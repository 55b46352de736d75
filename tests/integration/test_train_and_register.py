"""`cloudscore train` end to end on the local cloud: contract, training, gate, registry, aliases,
audit, and the `models` commands."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cloudscore.cli import main
from cloudscore.demo_data import LABEL_COLUMN, iter_demo_frames
from local_emulator.settings import StackSettings
from shared import clients
from shared.audit import AuditLog
from shared.model_cache import ModelCache
from shared.project_config import ProjectConfig, parse_project_config
from shared.registration import train_and_register
from shared.registry import ModelRegistry
from shared.sources import SourceInfo, fingerprint
from shared.training import GateRefused

pytestmark = pytest.mark.stack

# The generator's documented ceiling is ROC AUC 0.852 (ranking by the true logit) and a gradient
# boosted model on 50k rows reaches 0.846; with ~3.6k training rows and a 12 s budget models land
# at 0.81-0.83, so 0.79 leaves room for seed noise yet fails for a broken pipeline (0.5).
QUALITY_BAR = 0.79


def demo_frame(rows: int, seed: int) -> pd.DataFrame:
    return next(iter_demo_frames(rows, seed=seed, drift=0.0, bad_rows=0.0, chunk_rows=rows))


def demo_config(name: str, **training: Any) -> ProjectConfig:
    return parse_project_config(
        {
            "model": {
                "name": name,
                "target": LABEL_COLUMN,
                "id_column": "application_id",
                "time_column": "application_date",
            },
            "training": {"time_budget_s": 12, "seed": 3, **training},
            "cost": {"false_positive": 1.0, "false_negative": 5.0},
        },
        "test",
    )


def source_of(frame: pd.DataFrame, uri: str = "memory://demo") -> SourceInfo:
    return SourceInfo(uri, "file", len(frame), fingerprint(frame))


@pytest.fixture
def model_name() -> str:
    return f"model-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def registry(local_stack: StackSettings, model_name: str) -> ModelRegistry:
    storage = clients.storage_client(local_stack.project, local_stack.endpoints())
    return ModelRegistry(storage, local_stack.models_bucket, model_name)


@pytest.fixture
def audit(local_stack: StackSettings) -> AuditLog:
    bq = clients.bigquery_client(local_stack.project, local_stack.endpoints())
    return AuditLog(bq, local_stack.dataset, location=local_stack.region)


@pytest.fixture
def cli_env(local_stack: StackSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in local_stack.client_env().items():
        monkeypatch.setenv(name, value)


def events(audit: AuditLog, model_name: str) -> list[tuple[Any, ...]]:
    rows = audit.sink.client.query(
        f"SELECT alias, from_version, to_version FROM `{audit.table}` "
        f"WHERE model_name = '{model_name}' ORDER BY occurred_at"
    ).result()
    return [tuple(r.values()) for r in rows]


def test_train_registers_a_verified_champion_of_the_stated_quality(
    registry: ModelRegistry, audit: AuditLog, model_name: str
) -> None:
    frame = demo_frame(6000, seed=11)

    result = train_and_register(
        frame, source_of(frame), demo_config(model_name), registry, audit, promote=True
    )

    assert result.outcome.test_metrics["roc_auc"] >= QUALITY_BAR
    assert registry.versions() == [result.version]
    champion = ModelCache(registry).get()
    assert champion.version == result.version
    fresh = demo_frame(500, seed=99)
    checked = result.contract
    from shared.contract import validate

    rows = validate(fresh, checked).valid
    np.testing.assert_array_equal(
        champion.model.predict_scores(rows), result.outcome.model.predict_scores(rows)
    )
    lineage = champion.lineage
    assert lineage["data_fingerprint"] == fingerprint(frame)
    assert lineage["rows"]["read"] == 6000
    assert lineage["parent_version"] is None
    assert lineage["seed"] == 3
    assert lineage["parameters"]
    assert champion.contract_document["columns"]
    assert events(audit, model_name) == [("champion", None, result.version)]


def test_a_model_that_does_not_beat_the_baseline_is_not_registered(
    registry: ModelRegistry, model_name: str
) -> None:
    frame = demo_frame(3000, seed=12)
    frame[LABEL_COLUMN] = np.random.default_rng(0).permutation(frame[LABEL_COLUMN].to_numpy())

    with pytest.raises(GateRefused) as refused:
        train_and_register(
            frame, source_of(frame), demo_config(model_name, time_budget_s=5), registry, None
        )

    assert "baseline" in str(refused.value)
    assert registry.versions() == []


def test_promote_rollback_list_diff_and_compare_through_the_cli(
    registry: ModelRegistry,
    audit: AuditLog,
    model_name: str,
    *,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
) -> None:
    config = demo_config(model_name, time_budget_s=5, candidates=["logistic_regression"])
    first = train_and_register(
        demo_frame(3000, 21), source_of(demo_frame(3000, 21)), config, registry, audit, promote=True
    )
    second = train_and_register(
        demo_frame(3000, 22), source_of(demo_frame(3000, 22)), config, registry, audit, promote=True
    )
    assert second.parent_version == first.version

    assert main(["models", "--model", model_name, "rollback"]) == 0
    pointer = registry.alias("champion")
    assert pointer is not None and pointer.version == first.version

    assert (
        main(["models", "--model", model_name, "promote", second.version, "--alias", "challenger"])
        == 0
    )
    capsys.readouterr()
    assert main(["models", "--model", model_name, "list"]) == 0
    listing = capsys.readouterr().out
    assert f"{first.version}" in listing and "champion" in listing
    lines = {line.split()[0]: line for line in listing.splitlines() if line}
    assert lines[second.version].endswith("challenger")
    # Each version's test metric, with the rows it was measured on: two other test splits.
    for trained in (first, second):
        measured = registry.read_json(trained.version, "metrics.json")["measured_on"]
        assert measured["rows"] == len(trained.holdout)
        assert measured["test_set"] == fingerprint(trained.holdout)[:16]
        assert f" {measured['rows']:>10}  {measured['test_set']}" in lines[trained.version]
    assert "versions of different test sets do not compare" in listing

    assert main(["models", "--model", model_name, "diff", first.version, second.version]) == 0
    diff = capsys.readouterr().out
    assert "roc_auc" in diff and "contract:" in diff
    assert f"{first.version} measured on: {len(first.holdout)} test rows of memory://demo" in diff
    assert "the test metrics below do not compare" in diff

    fresh = demo_frame(1500, 23)
    data = tmp_path / "fresh.parquet"
    fresh.to_parquet(data, index=False)
    assert main(["models", "--model", model_name, "compare", first.version, second.version,
                 "--data", str(data)]) == 0  # fmt: skip
    compared = capsys.readouterr().out
    assert f"on the same 1,500 labelled rows of {data}" in compared
    cache = ModelCache(registry)
    from shared.contract import validate
    from shared.training.metrics import roc_auc

    y = (fresh[LABEL_COLUMN].to_numpy() == 1).astype(int)
    expected = [
        roc_auc(y, cache.get_version(v).model.predict_scores(validate(fresh, c.contract).valid))
        for v, c in ((first.version, first), (second.version, second))
    ]
    assert f"{'roc_auc':<16} {expected[0]:>10.4f} {expected[1]:>10.4f}" in compared
    assert "roc_auc: 95% paired-bootstrap interval of B - A" in compared

    assert events(audit, model_name) == [
        ("champion", None, first.version),
        ("champion", first.version, second.version),
        ("champion", second.version, first.version),
        ("challenger", None, second.version),
    ]


def test_a_numeric_only_data_set_with_another_schema_trains_without_code_changes(
    registry: ModelRegistry, model_name: str
) -> None:
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=3000, n_features=8, n_informative=5, random_state=4)
    frame = pd.DataFrame(x, columns=[f"sensor_{i}" for i in range(8)])
    frame["failed"] = y
    config = parse_project_config(
        {"model": {"name": model_name, "target": "failed"}, "training": {"time_budget_s": 5}},
        "test",
    )

    result = train_and_register(frame, source_of(frame), config, registry, None)

    assert result.outcome.test_metrics["roc_auc"] > 0.85
    assert {c.kind for c in result.contract.features()} == {"numeric"}
    assert registry.versions() == [result.version]


# The client steers DataFrame loads towards pandas-gbq; the plain client is what this test wants.
@pytest.mark.filterwarnings("ignore:Loading DataFrames via google-cloud-bigquery")
def test_training_data_reads_the_same_from_a_file_cloud_storage_and_bigquery(
    local_stack: StackSettings, tmp_path: Any
) -> None:
    from google.cloud import bigquery

    from shared.sources import read_source

    frame = demo_frame(300, seed=31)[["application_id", "age", "home_ownership", LABEL_COLUMN]]
    path = tmp_path / "train.parquet"
    frame.to_parquet(path, index=False)
    storage = clients.storage_client(local_stack.project, local_stack.endpoints())
    bq = clients.bigquery_client(local_stack.project, local_stack.endpoints())
    name = f"train-{uuid.uuid4().hex[:8]}"
    storage.bucket(local_stack.models_bucket).blob(f"data/{name}.parquet").upload_from_filename(
        str(path)
    )
    table = f"{local_stack.project}.{local_stack.dataset}.{name.replace('-', '_')}"
    bq.load_table_from_dataframe(
        frame, table, job_config=bigquery.LoadJobConfig(write_disposition="WRITE_TRUNCATE")
    ).result()

    sources = [
        str(path),
        f"gs://{local_stack.models_bucket}/data/{name}.parquet",
        f"bq://{table}",
        f"bq://SELECT * FROM `{table}` WHERE age >= 0",
    ]
    read = [read_source(s, storage, bq) for s in sources]

    key = ["application_id"]
    expected = frame.sort_values(key).reset_index(drop=True)
    for (loaded, info), source in zip(read, sources, strict=True):
        got = loaded.sort_values(key).reset_index(drop=True)[expected.columns]
        pd.testing.assert_frame_equal(got, expected, check_dtype=False, obj=source)
        assert info.rows == 300
    assert read[0][1].kind == "file" and read[2][1].kind == "bigquery-table"
