"""The project configuration file: a full file, defaults, pyproject, errors naming the key."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest

from shared.contract import ColumnOverride
from shared.errors import ConfigError
from shared.project_config import (
    BusinessCost,
    MonitoringPolicy,
    ProjectConfig,
    load_project_config,
    parse_project_config,
    project_config_tables,
)

FULL = """
[model]
name = "loan-default"
task = "binary_classification"
target = "defaulted"
positive_label = 1
id_column = "application_id"
time_column = "application_date"
passthrough = ["branch"]
features = ["age", "annual_income", "home_ownership"]

[training]
candidates = ["xgboost", "logistic_regression", "random_forest"]
primary_metric = "expected_cost"
time_budget_s = 120.5
seed = 7
test_fraction = 0.25
validation_fraction = 0.15
source = "gs://training/loans.parquet"

[cost]
false_positive = 1.0
false_negative = 5
true_negative = -0.1

[monitoring]
window_days = 14
min_labelled_rows = 500
metric_floor = 0.75
max_metric_drop = 0.05
drift_psi_threshold = 0.25
drift_min_features = 2
max_model_age_days = 60
promotion_margin = 0.01
bootstrap_rounds = 500

[contract.age]
kind = "integer"
min = 18
max = 100

[contract.home_ownership]
categories = ["MORTGAGE", "OWN", "RENT"]
strict_categories = false

[contract."annual.income"]
max = inf
"""

MINIMAL = """
[model]
name = "loan-default"
target = "defaulted"
"""


def write(directory: Path, text: str, name: str = "cloudscore.toml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_full_file_sets_every_setting(tmp_path: Path) -> None:
    config = load_project_config(write(tmp_path, FULL))
    assert config.model_name == "loan-default"
    assert config.task == "binary_classification"
    assert (config.target, config.positive_label) == ("defaulted", 1)
    assert (config.id_column, config.time_column) == ("application_id", "application_date")
    assert config.passthrough == ("branch",)
    assert config.features == ("age", "annual_income", "home_ownership")
    assert config.candidates == ("xgboost", "logistic_regression", "random_forest")
    assert config.primary_metric == "expected_cost"
    assert config.time_budget_s == 120.5
    assert (config.seed, config.test_fraction, config.validation_fraction) == (7, 0.25, 0.15)
    assert config.training_source == "gs://training/loans.parquet"
    assert config.cost == BusinessCost(false_positive=1.0, false_negative=5, true_negative=-0.1)
    assert config.monitoring == MonitoringPolicy(
        window_days=14, min_labelled_rows=500, metric_floor=0.75, max_metric_drop=0.05,
        drift_psi_threshold=0.25, drift_min_features=2, max_model_age_days=60,
        promotion_margin=0.01, bootstrap_rounds=500,
    )  # fmt: skip
    assert config.contract == {
        "age": ColumnOverride(kind="integer", min=18.0, max=100.0),
        "home_ownership": ColumnOverride(
            categories=("MORTGAGE", "OWN", "RENT"), strict_categories=False
        ),
        "annual.income": ColumnOverride(max=math.inf),
    }


def test_a_minimal_file_gets_the_documented_defaults(tmp_path: Path) -> None:
    config = load_project_config(write(tmp_path, MINIMAL))
    assert config == ProjectConfig(model_name="loan-default", target="defaulted")
    assert config.task == "binary_classification"
    assert config.positive_label == 1
    assert (config.id_column, config.time_column, config.passthrough) == (None, None, ())
    assert config.features is None
    assert config.candidates == ("xgboost", "logistic_regression")
    assert config.primary_metric == "roc_auc"
    assert config.cost is None
    assert (config.time_budget_s, config.seed) == (300, 42)
    assert (config.test_fraction, config.validation_fraction) == (0.2, 0.2)
    assert config.training_source is None
    assert config.contract == {}
    assert config.monitoring == MonitoringPolicy(
        window_days=30, min_labelled_rows=200, metric_floor=None, max_metric_drop=0.03,
        drift_psi_threshold=0.2, drift_min_features=3, max_model_age_days=90,
        promotion_margin=0.0, bootstrap_rounds=1000,
    )  # fmt: skip


def test_multiclass_parses_with_its_own_defaults(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        'target = "defaulted"', 'target = "card"\ntask = "multiclass_classification"'
    )
    config = load_project_config(write(tmp_path, text))
    assert config.task == "multiclass_classification"
    assert config.primary_metric == "log_loss"
    assert config.candidates == ("xgboost", "logistic_regression")
    assert "positive_label" not in project_config_tables(config)["model"]


def test_max_trials_is_read_and_stored(tmp_path: Path) -> None:
    config = load_project_config(write(tmp_path, MINIMAL + "\n[training]\nmax_trials = 3\n"))
    assert config.max_trials == 3
    assert project_config_tables(config)["training"]["max_trials"] == 3
    assert load_project_config(write(tmp_path, MINIMAL)).max_trials is None


def test_regression_parses_with_its_own_defaults(tmp_path: Path) -> None:
    text = MINIMAL.replace('target = "defaulted"', 'target = "price"\ntask = "regression"')
    config = load_project_config(write(tmp_path, text))
    assert config.task == "regression"
    assert config.primary_metric == "rmse"
    assert "logistic_regression" not in config.candidates


def test_the_configuration_is_frozen(tmp_path: Path) -> None:
    config = load_project_config(write(tmp_path, FULL))
    with pytest.raises(AttributeError):
        config.seed = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.contract["age"] = ColumnOverride()  # type: ignore[index]


def with_table(table: str, body: str) -> str:
    return f"{MINIMAL}\n[{table}]\n{body}\n"


ERRORS = [
    # (file text, key path named, words the problem must contain)
    (MINIMAL + "\n[modle]\nx = 1\n", "modle", ["unknown key", "did you mean 'model'"]),
    (with_table("monitoring", "windw_days = 3"), "monitoring.windw_days",
     ["unknown key", "did you mean 'window_days'", "bootstrap_rounds"]),
    (MINIMAL + "colour = 'red'\n", "model.colour", ["unknown key", "known keys of [model]"]),
    (with_table("training", "time_budget_s = -3"), "training.time_budget_s",
     ["expected a number > 0", "found -3"]),
    (with_table("training", 'seed = "42"'), "training.seed",
     ["expected an integer >= 0", "found '42' (text)"]),
    (MINIMAL.replace("loan-default", "Loan Default"), "model.name",
     ["expected a model name", "found 'Loan Default'"]),
    (MINIMAL + 'task = "classification"\n', "model.task",
     ["binary_classification, multiclass_classification, regression",
      "found 'classification'"]),
    ('[model]\nname = "m"\n', "model.target", ["is required", "expected a column name"]),
    (MINIMAL + 'features = ["age", "defaulted"]\n', "model.features",
     ["'defaulted' is already model.target"]),
    (MINIMAL + 'id_column = "defaulted"\n', "model.id_column",
     ["'defaulted' is already model.target"]),
    (MINIMAL + 'passthrough = ["a", "a"]\n', "model.passthrough",
     ["distinct column names", "found ['a', 'a'] (a list)"]),
    (MINIMAL + "features = []\n", "model.features", ["non-empty list", "found [] (a list)"]),
    (with_table("training", 'candidates = ["xgboost", "svm"]'), "training.candidates",
     ["model families from xgboost", "found ['xgboost', 'svm']"]),
    (with_table("training", 'primary_metric = "rmse"'), "training.primary_metric",
     ["binary_classification metric", "found 'rmse'"]),
    (with_table("training", "test_fraction = 1.5"), "training.test_fraction",
     ["between 0 and 1", "found 1.5"]),
    (with_table("training", "test_fraction = 0.5\nvalidation_fraction = 0.45"),
     "training.validation_fraction", ["<= 0.9", "at least 10% of the rows", "found 0.5 + 0.45"]),
    (with_table("training", 'primary_metric = "expected_cost"'), "training.primary_metric",
     ["needs a [cost] table"]),
    (MINIMAL + 'task = "regression"\n\n[training]\ncandidates = ["logistic_regression"]\n',
     "training.candidates", ["regression model families", "found 'logistic_regression'"]),
    (MINIMAL + 'task = "regression"\npositive_label = 1\n', "model.positive_label",
     ["no positive_label for regression"]),
    (MINIMAL + 'task = "regression"\n\n[cost]\nfalse_positive = 1\nfalse_negative = 1\n',
     "cost", ["no [cost] for regression"]),
    (MINIMAL + 'task = "multiclass_classification"\npositive_label = 1\n', "model.positive_label",
     ["no positive_label for multiclass_classification"]),
    (MINIMAL + 'task = "multiclass_classification"\n\n[cost]\nfalse_positive = 1\n'
     'false_negative = 1\n', "cost", ["no [cost] for multiclass_classification"]),
    (MINIMAL + 'task = "multiclass_classification"\n\n[training]\nprimary_metric = "roc_auc"\n',
     "training.primary_metric", ["multiclass_classification metric", "macro_f1"]),
    (MINIMAL + "\n[training]\nmax_trials = 0\n", "training.max_trials",
     ["an integer >= 1", "found 0"]),
    (with_table("cost", "false_positive = -1\nfalse_negative = 2"), "cost.false_positive",
     ["expected a number >= 0", "found -1"]),
    (with_table("cost", "false_positive = 0\nfalse_negative = 0"), "cost.false_positive",
     ["expected more than cost.true_negative (0)", "found 0"]),
    (with_table("cost", "false_positive = 0\nfalse_negative = 5"), "cost.false_positive",
     ["expected more than cost.true_negative (0)", "found 0"]),
    (with_table("cost", "false_positive = 1\nfalse_negative = 2\ntrue_positive = 3"),
     "cost.false_negative", ["expected more than cost.true_positive (3)", "found 2"]),
    (with_table("cost", "false_positive = 1"), "cost.false_negative", ["is required in [cost]"]),
    (with_table("monitoring", "window_days = 0"), "monitoring.window_days",
     ["expected an integer >= 1", "found 0"]),
    (with_table("monitoring", "drift_psi_threshold = true"), "monitoring.drift_psi_threshold",
     ["expected a number > 0", "found true"]),
    (with_table("monitoring", 'metric_floor = "high"'), "monitoring.metric_floor",
     ["a finite number, or no value", "found 'high' (text)"]),
    (with_table("monitoring", 'schedule = "0 3 * * *"'), "monitoring.schedule",
     ["deployment setting", "CLOUDSCORE_RETRAIN_SCHEDULE"]),
    (with_table("monitoring", "training_window_days = 0"), "monitoring.training_window_days",
     ["an integer >= 1, or no value", "found 0"]),
    (with_table("contract.age", "minn = 3"), "contract.age.minn",
     ["unknown key", "did you mean 'min'", "known keys of [contract.age]"]),
    (with_table("contract.age", 'kind = "float"'), "contract.age.kind",
     ["one of numeric, integer", "found 'float'"]),
    (with_table("contract.age", "min = 10\nmax = 5"), "contract.age",
     ["min must be <= max", "found min 10.0 > max 5.0"]),
    (with_table("contract.age", "min = nan"), "contract.age.min", ["a number", "found nan"]),
    (with_table("contract.age", "max = 1" + "0" * 400), "contract.age.max",
     ["expected a number (inf: no upper bound)", "found 1000000"]),
    (with_table("contract.region", 'kind = "numeric"\ncategories = ["a"]'), "contract.region",
     ["categories applies to categorical columns"]),
    (with_table("contract.region", 'categories = ["a", "a"]'), "contract.region",
     ["distinct", "['a'] more than once"]),
    (with_table('contract."loan.amount"', 'nullable = "yes"'), 'contract."loan.amount".nullable',
     ["expected true or false", "found 'yes' (text)"]),
    ('model = "loan"\n', "model", ["expected a table", "found 'loan' (text)"]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "key_path", "words"), ERRORS, ids=[e[1] for e in ERRORS])
def test_each_error_names_the_file_and_key_and_says_expected_and_found(
    tmp_path: Path, text: str, key_path: str, words: list[str]
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_project_config(path)
    assert caught.value.name == f"{path}:{key_path}"
    for word in words:
        assert word in caught.value.problem
    assert str(caught.value).startswith(f"{path}:{key_path}: ")


def test_parse_reads_an_already_parsed_mapping() -> None:
    config = parse_project_config(tomllib.loads(FULL), "inline.toml")
    assert config.features == ("age", "annual_income", "home_ownership")
    with pytest.raises(ConfigError) as caught:
        parse_project_config({"model": {"name": "m"}}, "inline.toml")
    assert caught.value.name == "inline.toml:model.target"


PYPROJECT = """
[project]
name = "someone-elses-package"

[tool.cloudscore.model]
name = "loan-default"
target = "defaulted"

[tool.cloudscore.training]
seed = 3
"""


def test_pyproject_is_read_through_its_tool_cloudscore_table(tmp_path: Path) -> None:
    config = load_project_config(write(tmp_path, PYPROJECT, "pyproject.toml"))
    assert (config.model_name, config.target, config.seed) == ("loan-default", "defaulted", 3)


def test_errors_in_pyproject_name_the_full_key_path(tmp_path: Path) -> None:
    path = write(tmp_path, PYPROJECT.replace("seed = 3", "seed = -1"), "pyproject.toml")
    with pytest.raises(ConfigError) as caught:
        load_project_config(path)
    assert caught.value.name == f"{path}:tool.cloudscore.training.seed"


def test_a_pyproject_without_the_table_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[project]\nname = "x"\n', "pyproject.toml")
    with pytest.raises(ConfigError) as caught:
        load_project_config(path)
    assert caught.value.name == f"{path}:tool.cloudscore"


def test_the_default_is_cloudscore_toml_then_pyproject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, PYPROJECT, "pyproject.toml")
    assert load_project_config().seed == 3
    write(tmp_path, MINIMAL)
    assert load_project_config().seed == 42


def test_no_configuration_in_the_directory_is_an_error_and_the_env_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = write(tmp_path, MINIMAL, "elsewhere.toml")
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    monkeypatch.setenv("CLOUDSCORE_CONFIG", str(elsewhere))
    write(empty, '[project]\nname = "x"\n', "pyproject.toml")
    with pytest.raises(ConfigError) as caught:
        load_project_config()
    assert caught.value.name == "cloudscore.toml"
    assert "found neither" in caught.value.problem


def test_unreadable_files_are_config_errors_naming_them(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_project_config(tmp_path / "absent.toml")
    # Broken TOML, bytes that are not UTF-8, an integer of more digits than Python converts.
    for text in ["[model\nname = 1\n", '[model]\nname = "\xff"\n', "x = " + "9" * 5000 + "\n"]:
        broken = write(tmp_path, text)
        broken.write_bytes(text.encode("latin-1"))
        with pytest.raises(ConfigError) as caught:
            load_project_config(broken)
        assert caught.value.name == str(broken)
        assert "not valid TOML" in caught.value.problem


def test_direct_construction_is_checked_too() -> None:
    with pytest.raises(ConfigError) as caught:
        ProjectConfig(model_name="m", target="y", seed=-5)
    assert caught.value.name == "ProjectConfig:training.seed"


def test_column_roles_infer_features_from_the_data() -> None:
    config = ProjectConfig(
        model_name="m", target="y", id_column="id", time_column="t", passthrough=("note",)
    )
    roles = config.column_roles(["note", "b", "y", "id", "a", "t", "c"])
    assert roles == {
        "id": "id", "t": "time", "b": "feature", "a": "feature", "c": "feature",
        "note": "passthrough", "y": "target",
    }  # fmt: skip
    assert list(roles) == ["id", "t", "b", "a", "c", "note", "y"]


def test_column_roles_keep_declared_features_in_their_order() -> None:
    config = ProjectConfig(model_name="m", target="y", features=("c", "a"))
    assert config.column_roles(["a", "b", "c", "y"]) == {
        "c": "feature",
        "a": "feature",
        "y": "target",
    }


def test_column_roles_name_a_configured_column_missing_from_the_data() -> None:
    config = ProjectConfig(model_name="m", target="y", passthrough=("branch",))
    with pytest.raises(ConfigError) as caught:
        config.column_roles(["a", "y"])
    assert caught.value.name == "ProjectConfig:model.passthrough"
    assert "found 'branch'" in caught.value.problem
    assert "a, y" in caught.value.problem


def test_data_with_no_feature_left_is_refused() -> None:
    config = ProjectConfig(model_name="m", target="y", id_column="id")
    with pytest.raises(ConfigError) as caught:
        config.column_roles(["id", "y"])
    assert caught.value.name == "ProjectConfig:model.features"
