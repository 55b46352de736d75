"""The project configuration: what to train, how to judge it and when to retrain, in one file.

Read from ``cloudscore.toml`` or from the ``[tool.cloudscore]`` table of a pyproject.toml (the
deployed functions are configured by environment variables instead, see `shared.config`)::

    [model]
    name = "loan-default"              # registry name; same rule as CLOUDSCORE_MODEL_NAME
    task = "binary_classification"     # or "multiclass_classification", "regression"
    target = "defaulted"
    positive_label = 1                 # binary only: the label value that means "positive"
    id_column = "application_id"       # optional: keys the predictions
    time_column = "application_date"   # optional: split by time, and monitoring windows
    passthrough = ["branch_code"]      # optional: carried from input to output untouched
    features = ["age", "income"]       # optional: default is every other column

    [training]
    candidates = ["xgboost", "logistic_regression"]   # also random_forest, hist_gradient_boosting
    primary_metric = "roc_auc"         # binary: roc_auc pr_auc log_loss brier expected_cost;
                                       # multiclass: log_loss macro_f1 weighted_f1 accuracy;
                                       # regression: rmse mae r2
    time_budget_s = 300
    max_trials = 10                    # optional: this many trials per family, each to its end,
                                       # whatever the time: the same data, settings and seed
                                       # give the same model, byte for byte
    seed = 42
    test_fraction = 0.2
    validation_fraction = 0.2
    source = "gs://bucket/train.parquet"   # optional: the data a retrain reads

    [cost]                             # optional, binary only: the business cost of each outcome
    false_positive = 1.0               # >= 0, more than true_negative (0 when not given)
    false_negative = 5.0               # >= 0, more than true_positive
    true_positive = 0.0                # optional; negative for a gain
    true_negative = 0.0

    [monitoring]                       # optional; every key has a default (`MonitoringPolicy`)
    window_days = 30                   # read what was scored in the last 30 days, with its labels
    period = "week"                    # cut it into periods by model.time_column: day, week,
                                       # month or "<N>d"
    alert_periods = 2                  # retrain when a measure is past its threshold in 2 of
    recent_periods = 3                 # the last 3 periods that have data
    training_window_days = 180         # a retrain uses the source's last 180 days

    [contract.age]                     # optional: reviewed overrides of the inferred contract,
    min = 18                           # as `DataContract.to_toml()` writes them
    max = 100

Each task's defaults and what applies to it are `shared.tasks`': for multiclass
``primary_metric = "log_loss"``, for regression ``candidates = ["xgboost",
"hist_gradient_boosting"]`` and ``primary_metric = "rmse"``; ``positive_label`` and ``[cost]``
(which price a yes/no decision) are errors for both, and ``logistic_regression`` for regression.
Without ``max_trials`` the search is bounded by ``time_budget_s`` (at most 20 trials a family),
and a busy machine may run fewer trials than a quiet one. Every error names
the file and the key path (``cloudscore.toml:training.time_budget_s``) and says what was expected
and what was found; an unknown key at any level is an error.
"""

from __future__ import annotations

import difflib
import math
import re
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from shared.config import VARIABLES
from shared.contract import KINDS, ColumnOverride, Role, toml_key
from shared.errors import ConfigError
from shared.json_values import decode_error_text
from shared.metric_table import TASKS, Task, metrics_of, primary_metrics
from shared.model import FAMILIES
from shared.periods import EXPECTED as PERIOD_EXPECTED
from shared.periods import Period
from shared.tasks import definition
from shared.training.spec import Cost, TrainingSpec

# The vocabulary is the training code's and the metric table's: one place for each name.
ModelFamily = str
MODEL_FAMILIES: Final[tuple[ModelFamily, ...]] = FAMILIES
METRICS: Final[dict[Task, tuple[str, ...]]] = {task: metrics_of(task) for task in TASKS}
# The defaults of the [training] settings are TrainingSpec's, which training is given.
_TRAINING: Final[dict[str, Any]] = {f.name: f.default for f in fields(TrainingSpec)}
# Of the training rows, at least this share is left to train on.
MIN_TRAIN_SHARE: Final = 0.1
DEFAULT_FILE: Final = Path("cloudscore.toml")
PYPROJECT: Final = Path("pyproject.toml")

_MODEL_NAME = next(v for v in VARIABLES if v.name == "CLOUDSCORE_MODEL_NAME")


def training_defaults(task: Task) -> tuple[tuple[ModelFamily, ...], str]:
    """The candidate families and primary metric a task gets when the file names none."""
    defined = definition(task)
    return defined.default_candidates, defined.default_metric


# What each outcome of a binary decision costs the business, per row (a gain is negative): the
# one type training and monitoring take. Training picks the decision threshold that minimises
# the expected cost per row.
BusinessCost = Cost


DRIFT_STATISTICS: Final = ("jensen_shannon", "psi")


@dataclass(frozen=True)
class MonitoringPolicy:
    """When the scheduled check retrains, and when a challenger replaces the champion.

    The check reads what the champion scored in the last `window_days` (by scoring time) and
    cuts it into periods of `period` by the data's own time (`model.time_column`; the scoring
    time where there is none). Each period is judged on its own; a measure (realized
    performance, estimated performance, drift) calls for a retrain when it is past its
    threshold in at least `alert_periods` of the last `recent_periods` periods that have data.
    """

    window_days: int = 30  # the check reads what was scored in the last N days, with its labels
    period: str = "week"  # day, week, month or "<N>d": see shared.periods
    recent_periods: int = 3  # the verdict reads the last N periods that have data …
    alert_periods: int = 2  # … and retrains when a measure alerts in at least this many
    min_labelled_rows: int = 200  # a period with fewer labelled rows: no verdict on its quality
    # The worst acceptable value of the primary metric (a ceiling when lower is better).
    metric_floor: float | None = None
    # Retrain when the metric is this much worse than it was on the test set at training (for
    # RMSE and MAE, in the target's units: this share of the test value).
    max_metric_drop: float = 0.03
    # A period's performance estimated from its scores (before its labels arrive) may call for
    # a retrain, judged by the same floor and drop as the realized one, in the periods with
    # too few labels. Off by default: an estimate holds only while the scores stay calibrated
    # and the link between inputs and label is unchanged, which no score can show.
    retrain_on_estimate: bool = False
    # Which statistic judges a feature drifted; both are measured and shown.
    drift_statistic: str = "jensen_shannon"
    drift_js_threshold: float = 0.1  # Jensen-Shannon distance (base 2) at or above: drifted
    drift_psi_threshold: float = 0.2  # PSI at or above: drifted
    drift_min_features: int = 3  # a period has drifted when at least this many features have
    max_model_age_days: int = 90  # retrain a champion older than this whatever its metrics
    # What a challenger is compared on (paired bootstrap on the same holdout); none: the
    # primary metric. "expected_cost" compares the business cost per row ([cost] needed).
    promotion_metric: str | None = None
    # A challenger must beat the champion by more than this, in the promotion metric's own units
    # (0.005 of ROC AUC; for RMSE, the target's units), better in the metric's own direction.
    promotion_margin: float = 0.0

    @property
    def periods(self) -> Period:
        parsed = Period.parse(self.period)
        if parsed is None:  # the configuration refuses it before this is read
            raise ConfigError("monitoring.period", f"expected {PERIOD_EXPECTED}")
        return parsed

    bootstrap_rounds: int = 1000  # resamples of the fresh holdout when comparing the two
    # A retrain reads `training.source` and keeps the rows of its last N days (by the time
    # column, counted back from the newest row); none: every row the source returns.
    training_window_days: int | None = None


@dataclass(frozen=True, kw_only=True)
class ProjectConfig:
    """The project configuration, checked as a whole when built (see the module docstring)."""

    model_name: str
    target: str
    task: Task = "binary_classification"
    positive_label: int | str = 1  # binary only
    id_column: str | None = None
    passthrough: tuple[str, ...] = ()
    time_column: str | None = None
    features: tuple[str, ...] | None = None  # None: every column but the others named here
    candidates: tuple[ModelFamily, ...] = _TRAINING["candidates"]
    primary_metric: str = _TRAINING["primary_metric"]
    cost: BusinessCost | None = None
    time_budget_s: float = _TRAINING["time_budget_s"]
    # Set: the search runs this many trials per family whatever the time (reproducible).
    max_trials: int | None = None
    seed: int = _TRAINING["seed"]
    test_fraction: float = _TRAINING["test_fraction"]
    validation_fraction: float = _TRAINING["validation_fraction"]
    training_source: str | None = None
    contract: Mapping[str, ColumnOverride] = field(default_factory=dict)
    monitoring: MonitoringPolicy = field(default_factory=MonitoringPolicy)
    # Where the settings came from, for error messages: "<source>:<key_prefix><key path>".
    source: str = field(default="ProjectConfig", compare=False)
    key_prefix: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "contract", MappingProxyType(dict(self.contract)))
        problem = (
            _value_problem(self)
            or _role_problem(self)
            or _task_problem(self)
            or _window_problem(self)
        )
        if problem is not None:
            path, message = problem
            raise ConfigError(self.where(path), message)

    @property
    def promotion_metric(self) -> str:
        """What a challenger is compared with the champion on."""
        return self.monitoring.promotion_metric or self.primary_metric

    def where(self, key_path: str) -> str:
        """The name of a setting in errors: file and key path."""
        return f"{self.source}:{self.key_prefix}{key_path}"

    def column_roles(self, columns: Sequence[str]) -> dict[str, Role]:
        """The role of every column the model uses or carries: id, time, features (declared
        order, else the data's), passthrough, target. Columns with no role are left out."""
        present = set(columns)
        for path, names in _declared_columns(self):
            for name in names:
                if name not in present:
                    raise ConfigError(
                        self.where(path),
                        f"expected a column of the data, found {name!r}; the data's columns: "
                        f"{_names(columns)}",
                    )
        taken = {name for _, names in _declared_columns(self) for name in names}
        features = self.features or tuple(c for c in columns if c not in taken)
        if not features:
            raise ConfigError(
                self.where("model.features"),
                "expected at least one feature column, found none: the data has only the "
                f"target, id, time and passthrough columns ({_names(columns)})",
            )
        roles: dict[str, Role] = {}
        if self.id_column:
            roles[self.id_column] = "id"
        if self.time_column:
            roles[self.time_column] = "time"
        roles.update(dict.fromkeys(features, "feature"))
        roles.update(dict.fromkeys(self.passthrough, "passthrough"))
        roles[self.target] = "target"
        return roles


def _names(columns: Sequence[str], limit: int = 30) -> str:
    shown = ", ".join(columns[:limit])
    return shown + (f", … ({len(columns) - limit} more)" if len(columns) > limit else "")


# --- the rules every setting must follow --------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    expected: str
    accepts: Callable[[Any], bool]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_bound(value: object) -> bool:
    # Bounds are compared as floats: an int beyond what a float holds is no bound.
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) <= sys.float_info.max
    return _is_float(value)


def _is_name(value: object) -> bool:
    return isinstance(value, str) and value != "" and value.strip() == value


def _is_names(value: object) -> bool:
    return (
        isinstance(value, tuple)
        and all(_is_name(v) for v in value)
        and len(set(value)) == len(value)
    )


def _integer(minimum: int) -> _Rule:
    return _Rule(f"an integer >= {minimum}", lambda v: _is_int(v) and v >= minimum)


def _number(minimum: float, *, inclusive: bool = True) -> _Rule:
    sign = ">=" if inclusive else ">"
    return _Rule(
        f"a number {sign} {minimum:g}",
        lambda v: _is_number(v) and (v >= minimum if inclusive else v > minimum),
    )


def _optional(rule: _Rule) -> _Rule:
    return _Rule(f"{rule.expected}, or no value", lambda v: v is None or rule.accepts(v))


def _one_of(choices: Sequence[str]) -> _Rule:
    return _Rule(f"one of {', '.join(choices)}", lambda v: isinstance(v, str) and v in choices)


_NAME = _Rule("a column name (non-empty text without surrounding blanks)", _is_name)
_FRACTION = _Rule("a number between 0 and 1 (both excluded)", lambda v: _is_number(v) and 0 < v < 1)
_ANY_NUMBER = _Rule("a finite number", _is_number)

# Field of ProjectConfig → its key path in the file and its rule.
_FIELDS: Final[dict[str, tuple[str, _Rule]]] = {
    "model_name": ("model.name", _Rule(
        _MODEL_NAME.expected,
        lambda v: isinstance(v, str) and re.fullmatch(_MODEL_NAME.pattern or "", v) is not None,
    )),
    "task": ("model.task", _one_of(TASKS)),
    "target": ("model.target", _NAME),
    "positive_label": ("model.positive_label", _Rule(
        "an integer, a boolean or non-empty text",
        lambda v: isinstance(v, int) or (isinstance(v, str) and v != ""),
    )),
    "id_column": ("model.id_column", _optional(_NAME)),
    "passthrough": ("model.passthrough", _Rule("a list of distinct column names", _is_names)),
    "time_column": ("model.time_column", _optional(_NAME)),
    "features": ("model.features", _optional(_Rule(
        "a non-empty list of distinct column names", lambda v: _is_names(v) and len(v) > 0
    ))),
    "candidates": ("training.candidates", _Rule(
        f"a non-empty list of distinct model families from {', '.join(MODEL_FAMILIES)}",
        lambda v: _is_names(v) and len(v) > 0 and set(v) <= set(MODEL_FAMILIES),
    )),
    "primary_metric": ("training.primary_metric", _one_of(primary_metrics())),
    "time_budget_s": ("training.time_budget_s", _number(0, inclusive=False)),
    "max_trials": ("training.max_trials", _optional(_integer(1))),
    "seed": ("training.seed", _integer(0)),
    "test_fraction": ("training.test_fraction", _FRACTION),
    "validation_fraction": ("training.validation_fraction", _FRACTION),
    "training_source": ("training.source", _optional(_Rule("non-empty text", _is_name))),
}  # fmt: skip

_COST_FIELDS: Final[dict[str, _Rule]] = {
    "false_positive": _number(0),
    "false_negative": _number(0),
    "true_positive": _ANY_NUMBER,
    "true_negative": _ANY_NUMBER,
}

_MONITORING_FIELDS: Final[dict[str, _Rule]] = {
    "window_days": _integer(1),
    "period": _Rule(PERIOD_EXPECTED, lambda v: Period.parse(v) is not None),
    "recent_periods": _integer(1),
    "alert_periods": _integer(1),
    "min_labelled_rows": _integer(1),
    "metric_floor": _optional(_ANY_NUMBER),
    "max_metric_drop": _number(0),
    "retrain_on_estimate": _Rule("true or false", lambda v: isinstance(v, bool)),
    "drift_statistic": _one_of(DRIFT_STATISTICS),
    "drift_js_threshold": _Rule(
        "a number above 0 and at most 1", lambda v: _is_number(v) and 0 < v <= 1
    ),
    "drift_psi_threshold": _number(0, inclusive=False),
    "drift_min_features": _integer(1),
    "max_model_age_days": _integer(1),
    "promotion_metric": _optional(_one_of(primary_metrics())),
    "promotion_margin": _number(0),
    "bootstrap_rounds": _integer(1),
    "training_window_days": _optional(_integer(1)),
}

_OVERRIDE_FIELDS: Final[dict[str, _Rule]] = {
    "kind": _one_of(KINDS),
    "nullable": _Rule("true or false", lambda v: isinstance(v, bool)),
    "min": _Rule("a number (-inf: no lower bound)", _is_bound),
    "max": _Rule("a number (inf: no upper bound)", _is_bound),
    "categories": _Rule("a non-empty list of text values", lambda v: _is_texts(v) and len(v) > 0),
    "strict_categories": _Rule("true or false", lambda v: isinstance(v, bool)),
}


def _is_float(value: object) -> bool:
    return isinstance(value, float) and not math.isnan(value)


def _is_texts(value: object) -> bool:
    return isinstance(value, tuple) and all(isinstance(v, str) for v in value)


def _describe(value: object) -> str:
    """A found value as the error shows it: TOML spelling, with its type when that is the issue."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return f"{value!r} (text)"
    if isinstance(value, list | tuple):
        return f"{list(value)!r} (a list)"
    if isinstance(value, Mapping):
        return "a table"
    return f"{value!r} ({type(value).__name__})"


def _first_broken(
    values: Mapping[str, object], rules: Mapping[str, _Rule], path: Callable[[str], str]
) -> tuple[str, str] | None:
    for name, rule in rules.items():
        value = values[name]
        if not rule.accepts(value):
            return path(name), f"expected {rule.expected}, found {_describe(value)}"
    return None


def _value_problem(config: ProjectConfig) -> tuple[str, str] | None:
    own = {name: getattr(config, name) for name in _FIELDS}
    rules = {name: rule for name, (_, rule) in _FIELDS.items()}
    problem = _first_broken(own, rules, lambda name: _FIELDS[name][0])
    if problem is None and config.cost is not None:
        cost = {f.name: getattr(config.cost, f.name) for f in fields(config.cost)}
        problem = _first_broken(cost, _COST_FIELDS, lambda name: f"cost.{name}")
        if problem is None:
            problem = _cost_problem(config.cost)
    if problem is None:
        policy = {f.name: getattr(config.monitoring, f.name) for f in fields(config.monitoring)}
        problem = _first_broken(policy, _MONITORING_FIELDS, lambda name: f"monitoring.{name}")
    return problem


def _cost_problem(cost: BusinessCost) -> tuple[str, str] | None:
    # Otherwise one constant decision is always cheapest, and no model can help.
    for wrong, right in (("false_positive", "true_negative"), ("false_negative", "true_positive")):
        if getattr(cost, wrong) <= getattr(cost, right):
            return f"cost.{wrong}", (
                f"expected more than cost.{right} ({getattr(cost, right):g}): else flagging a row "
                f"wrongly costs no more than judging it rightly; found {getattr(cost, wrong):g}"
            )
    return None


def _declared_columns(config: ProjectConfig) -> list[tuple[str, tuple[str, ...]]]:
    """Each setting that names columns, with the columns it names, the target first."""
    return [
        ("model.target", (config.target,)),
        ("model.id_column", (config.id_column,) if config.id_column else ()),
        ("model.time_column", (config.time_column,) if config.time_column else ()),
        ("model.passthrough", config.passthrough),
        ("model.features", config.features or ()),
    ]


def _role_problem(config: ProjectConfig) -> tuple[str, str] | None:
    claimed: dict[str, str] = {}
    for path, names in _declared_columns(config):
        for name in names:
            if name in claimed:
                return path, f"column {name!r} is already {claimed[name]}; a column has one role"
            claimed[name] = path
    return None


def _task_problem(config: ProjectConfig) -> tuple[str, str] | None:
    metrics = METRICS[config.task]
    if config.primary_metric not in metrics:
        return "training.primary_metric", (
            f"expected a {config.task} metric ({', '.join(metrics)}), "
            f"found {config.primary_metric!r}"
        )
    task = definition(config.task)
    wrong = [c for c in config.candidates if c not in task.families]
    if wrong:
        return "training.candidates", (
            f"expected {config.task} model families ({', '.join(task.families)}), "
            f"found {wrong[0]!r}, which cannot learn it"
        )
    if config.cost is not None and not task.has_cost:
        return "cost", f"expected no [cost] for {config.task}: it prices binary decisions"
    if config.primary_metric == "expected_cost" and config.cost is None:
        return "training.primary_metric", "expected_cost needs a [cost] table, found none"
    promotion = config.monitoring.promotion_metric
    if promotion is not None and promotion not in metrics:
        return "monitoring.promotion_metric", (
            f"expected a {config.task} metric ({', '.join(metrics)}), found {promotion!r}"
        )
    if promotion == "expected_cost" and config.cost is None:
        return "monitoring.promotion_metric", "expected_cost needs a [cost] table, found none"
    if config.test_fraction + config.validation_fraction > 1 - MIN_TRAIN_SHARE:
        return "training.validation_fraction", (
            f"expected test_fraction + validation_fraction <= {1 - MIN_TRAIN_SHARE:g}, so that "
            f"at least {MIN_TRAIN_SHARE:.0%} of the rows are left to train on, found "
            f"{config.test_fraction!r} + {config.validation_fraction!r}"
        )
    return None


def _window_problem(config: ProjectConfig) -> tuple[str, str] | None:
    policy = config.monitoring
    if policy.alert_periods > policy.recent_periods:
        return "monitoring.alert_periods", (
            f"expected at most monitoring.recent_periods ({policy.recent_periods}): a measure "
            f"cannot alert in more periods than are read, found {policy.alert_periods}"
        )
    if config.monitoring.training_window_days is not None and config.time_column is None:
        return "monitoring.training_window_days", (
            "expected a model.time_column to count the days by, found none"
        )
    return None


# --- reading the file ---------------------------------------------------------------------------

_TABLES: Final[dict[str, tuple[str, ...]]] = {
    "": ("model", "training", "cost", "monitoring", "contract"),
    "model": tuple(p.split(".")[1] for p, _ in _FIELDS.values() if p.startswith("model.")),
    "training": tuple(p.split(".")[1] for p, _ in _FIELDS.values() if p.startswith("training.")),
    "cost": tuple(_COST_FIELDS),
    "monitoring": tuple(_MONITORING_FIELDS),
}
_REQUIRED: Final = ("model.name", "model.target")


@dataclass(frozen=True)
class _Source:
    source: str
    key_prefix: str

    def name(self, path: str) -> str:
        return f"{self.source}:{self.key_prefix}{path}"

    def table(self, data: object, path: str, known: Sequence[str]) -> Mapping[str, Any]:
        """`data` as the table at `path`, refusing anything but a table with known keys."""
        if not isinstance(data, Mapping):
            raise ConfigError(self.name(path), f"expected a table, found {_describe(data)}")
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"; did you mean {close[0]!r}" if close else ""
                label = f"[{self.key_prefix}{path}]" if path else "the top level"
                raise ConfigError(
                    self.name(f"{path}.{key}" if path else key),
                    f"unknown key{hint} (known keys of {label}: {', '.join(sorted(known))})",
                )
        return data


def _as_tuple(value: object) -> object:
    # TOML lists become tuples, so the frozen configuration holds no mutable value.
    return tuple(value) if isinstance(value, list) else value


def parse_project_config(
    data: Mapping[str, Any], source: str, *, key_prefix: str = ""
) -> ProjectConfig:
    """The configuration in `data` (parsed TOML); `source` and `key_prefix` name it in errors."""
    where = _Source(source, key_prefix)
    root = where.table(data, "", _TABLES[""])
    monitoring = root.get("monitoring")
    if isinstance(monitoring, Mapping) and "schedule" in monitoring:
        raise ConfigError(
            where.name("monitoring.schedule"),
            "is a deployment setting: set CLOUDSCORE_RETRAIN_SCHEDULE (Terraform and the local "
            "scheduler read it), not the project file",
        )
    tables = {
        name: where.table(root.get(name, {}), name, _TABLES[name]) for name in _TABLES if name
    }
    values: dict[str, Any] = {}
    for name, (path, rule) in _FIELDS.items():
        table, key = path.split(".")
        if key in tables[table]:
            values[name] = _as_tuple(tables[table][key])
        elif path in _REQUIRED:
            raise ConfigError(where.name(path), f"is required; expected {rule.expected}")
    _apply_task_defaults(values, tables["model"], where)
    return ProjectConfig(
        **values,
        cost=_cost(root, tables["cost"], where),
        monitoring=MonitoringPolicy(**tables["monitoring"]),
        contract=_overrides(root.get("contract", {}), where),
        source=source,
        key_prefix=key_prefix,
    )


def project_config_tables(config: ProjectConfig) -> dict[str, Any]:
    """`config` as the tables `parse_project_config` reads: what a model version stores, so the
    retrain function judges and retrains it by the settings it was trained with."""
    root: dict[str, Any] = {"model": {}, "training": {}}
    for name, (path, _) in _FIELDS.items():
        table, key = path.split(".")
        value = getattr(config, name)
        if value is None or (name == "positive_label" and config.task != "binary_classification"):
            continue
        root[table][key] = list(value) if isinstance(value, tuple) else value
    if config.cost is not None:
        root["cost"] = {f.name: getattr(config.cost, f.name) for f in fields(config.cost)}
    root["monitoring"] = {
        f.name: getattr(config.monitoring, f.name)
        for f in fields(config.monitoring)
        if getattr(config.monitoring, f.name) is not None
    }
    root["contract"] = {
        column: {
            f.name: list(value) if isinstance(value, tuple) else value
            for f in fields(override)
            if (value := getattr(override, f.name)) is not None
        }
        for column, override in config.contract.items()
    }
    return root


def _apply_task_defaults(values: dict[str, Any], model: Mapping[str, Any], where: _Source) -> None:
    task = values.get("task", "binary_classification")
    if task not in TASKS:
        return  # refused by ProjectConfig, which names the tasks
    if task != "binary_classification":
        if "positive_label" in model:
            raise ConfigError(
                where.name("model.positive_label"),
                f"expected no positive_label for {task}: it names a class of a binary target",
            )
        candidates, metric = training_defaults(task)
        values.setdefault("candidates", candidates)
        values.setdefault("primary_metric", metric)


def _cost(root: Mapping[str, Any], table: Mapping[str, Any], where: _Source) -> BusinessCost | None:
    if "cost" not in root:
        return None
    for key in ("false_positive", "false_negative"):
        if key not in table:
            raise ConfigError(
                where.name(f"cost.{key}"),
                f"is required in [cost]; expected {_COST_FIELDS[key].expected}, found nothing",
            )
    return BusinessCost(**table)


def _overrides(data: object, where: _Source) -> dict[str, ColumnOverride]:
    if not isinstance(data, Mapping):
        raise ConfigError(where.name("contract"), f"expected a table, found {_describe(data)}")
    return {str(column): _override(column, settings, where) for column, settings in data.items()}


def _override(column: str, data: object, where: _Source) -> ColumnOverride:
    path = f"contract.{toml_key(column)}"
    table = where.table(data, path, tuple(_OVERRIDE_FIELDS))
    values: dict[str, Any] = {key: _as_tuple(value) for key, value in table.items()}
    for key, value in values.items():
        rule = _OVERRIDE_FIELDS[key]
        if not rule.accepts(value):
            raise ConfigError(
                where.name(f"{path}.{key}"), f"expected {rule.expected}, found {_describe(value)}"
            )
    for key in ("min", "max"):
        if key in values:
            values[key] = float(values[key])
    override = ColumnOverride(**values)
    problems = override.problems()
    if problems:
        raise ConfigError(where.name(path), "; ".join(problems))
    return override


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(str(path), "expected a TOML file, found no such file") from exc
    except (OSError, ValueError) as exc:  # ValueError: a path Python cannot open (a NUL in it)
        raise ConfigError(
            str(path), f"cannot be read: {getattr(exc, 'strerror', None) or exc}"
        ) from exc
    try:
        return tomllib.loads(data.decode("utf-8"))
    except ValueError as exc:
        # TOMLDecodeError, and what tomllib lets through: bytes that are not UTF-8, an integer
        # of more digits than Python converts.
        raise ConfigError(str(path), f"is not valid TOML: {decode_error_text(exc)}") from exc


def load_project_config(path: Path | None = None) -> ProjectConfig:
    """The configuration in `path`, or found in the current directory: ./cloudscore.toml, else
    the ``[tool.cloudscore]`` table of ./pyproject.toml. A file named pyproject.toml is always
    read through its ``[tool.cloudscore]`` table."""
    if path is None:
        path = _find_default()
    data = _read_toml(path)
    if path.name != PYPROJECT.name:
        return parse_project_config(data, str(path))
    tool = data.get("tool")
    if not isinstance(tool, Mapping) or "cloudscore" not in tool:
        raise ConfigError(
            f"{path}:tool.cloudscore", "expected a [tool.cloudscore] table, found none"
        )
    return parse_project_config(tool["cloudscore"], str(path), key_prefix="tool.cloudscore.")


def find_project_file() -> Path | None:
    """The project configuration of the current directory, as `load_project_config` finds it:
    ./cloudscore.toml, else ./pyproject.toml when it has a [tool.cloudscore] table; None when
    there is neither."""
    if DEFAULT_FILE.is_file():
        return DEFAULT_FILE
    if PYPROJECT.is_file():
        tool = _read_toml(PYPROJECT).get("tool")
        if isinstance(tool, Mapping) and "cloudscore" in tool:
            return PYPROJECT
    return None


def _find_default() -> Path:
    found = find_project_file()
    if found is not None:
        return found
    raise ConfigError(
        str(DEFAULT_FILE),
        "expected a project configuration in the current directory (./cloudscore.toml, or a "
        "[tool.cloudscore] table in ./pyproject.toml), found neither; pass the file explicitly",
    )
