"""The example projects (`examples/`), as a user runs them: each folder's script makes data on
which its configuration trains a model of its task that beats the baseline, `cloudscore score`
writes the week's predictions as the task says (the batch function's core, offline), and the
outcomes file is what `cloudscore labels load` takes."""

from __future__ import annotations

import dataclasses
import json
import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cloudscore.cli import main
from shared.contract import infer_contract
from shared.model_format import model_files
from shared.project_config import load_project_config
from shared.registration import training_spec
from shared.registry import NewVersion, version_dir_files
from shared.training import train_model

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# folder: (task, the week's outcomes file, its rows)
CASES = {
    "car-price": ("regression", "prices-week-1.csv", 3000),
    "card-offer": ("multiclass_classification", "cards-week-1.csv", 3000),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_example_trains_its_task_on_its_own_data_and_its_outcomes_load(
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    task, outcomes, week_rows = CASES[name]
    folder = EXAMPLES / name
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(folder / "make_data.py"), run_name="__main__")
    config = load_project_config(folder / "cloudscore.toml")
    assert config.task == task
    # The example's own settings at a test's cost: a sample, its first family, one trial.
    train = pd.read_csv("train.csv").head(4000)
    contract = infer_contract(train, config)
    spec, ignored = training_spec(config, contract)
    assert ignored == []  # the id and the time column are not features
    quick = dataclasses.replace(spec, candidates=spec.candidates[:1], max_trials=1)
    model = train_model(train, quick).model  # the gate passed: it beats the baseline
    assert model.task == task
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    new = NewVersion(model_files(model), contract.to_json(), {}, {}, None, {})
    for file, data in version_dir_files(config.model_name, "v1", new).items():
        (model_dir / file).write_bytes(data)

    capsys.readouterr()
    argv = ["score", "week-1.csv", "--out", "week-1.parquet", "--model-dir", str(model_dir)]
    assert main(argv) == 0
    scored = pd.read_parquet("week-1.parquet")
    week = pd.read_csv("week-1.csv")
    assert list(scored["record_id"]) == [str(i) for i in week[config.id_column]]
    outputs = model.predict_outputs(week)
    if task == "regression":
        np.testing.assert_allclose(scored["score"], outputs, rtol=1e-12)
        assert scored["predicted_label"].isna().all() and scored["probabilities"].isna().all()
    else:
        probabilities = [json.loads(text) for text in scored["probabilities"]]
        assert all(list(p) == list(model.classes) for p in probabilities)
        np.testing.assert_allclose([list(p.values()) for p in probabilities], outputs)
        expected = [model.classes[i] for i in outputs.argmax(axis=1)]
        assert list(scored["predicted_label"]) == expected
        np.testing.assert_allclose(scored["score"], outputs.max(axis=1))

    capsys.readouterr()
    config_file = str(folder / "cloudscore.toml")
    assert main(["labels", "load", outcomes, "--config", config_file, "--dry-run"]) == 0
    assert f"{week_rows:,} rows read, {week_rows:,} to load (dry run)" in capsys.readouterr().out
