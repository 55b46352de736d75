"""What each kind of model cloudscore trains is, in one table: training, scoring, serving, the
API document, the tables, monitoring and the configuration all read it here. Standard library
only, so that the request path and the configuration import it for nothing.

    TASK_DEFINITIONS["regression"]       a `TaskDefinition`
    definition(task)                     the same, with an error that lists the tasks

| task       | the model outputs | `score`                | `predicted_label`    | `probabilities` |
|------------|-------------------|------------------------|----------------------|-----------------|
| binary     | P(positive class) | that probability       | by the threshold     | —               |
| multiclass | P(each class)     | P(the predicted class) | the most probable    | every class's   |
| regression | a value           | the value              | —                    | —               |

(the columns of `predictions` and `online_predictions`; the tasks are named
binary_classification, multiclass_classification and regression)

Only binary classification has a decision threshold, a probability calibrator and a business
cost (`[cost]` prices the four outcomes of a yes/no decision; a cost matrix of k classes is not
offered). The baseline every model must beat on the test split predicts what is known without
the features: the training positive rate, the training class shares (its label: the majority
class), or the training mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

from shared.errors import UsageError

Task = Literal["binary_classification", "multiclass_classification", "regression"]
TASKS: Final[tuple[Task, ...]] = get_args(Task)
# What a model of the task outputs for one row.
Output = Literal["probability", "probabilities", "value"]


@dataclass(frozen=True)
class TaskDefinition:
    name: Task
    output: Output
    # The fields of one prediction in an HTTP answer (explanations add theirs), and the API
    # document's component that describes it (`shared/serving/openapi.json`).
    answer_fields: tuple[str, ...]
    answer_schema: str
    # The families that can learn it (`shared.model.FAMILIES`), and those used when the
    # configuration names none.
    families: tuple[str, ...]
    default_candidates: tuple[str, ...]
    default_metric: str
    # The trivial model of the training gate, in words.
    baseline: str
    # XGBoost's objective and evaluation metric for it.
    xgboost_objective: str
    xgboost_eval_metric: str

    @property
    def labelled(self) -> bool:
        """A prediction carries a class label."""
        return self.output != "value"

    @property
    def has_threshold(self) -> bool:
        """A decision threshold is chosen on validation (and a calibrator may be fitted)."""
        return self.output == "probability"

    @property
    def has_cost(self) -> bool:
        """`[cost]` applies: the business cost of each outcome of a yes/no decision."""
        return self.output == "probability"

    @property
    def has_probabilities(self) -> bool:
        """Predictions carry one probability per class."""
        return self.output == "probabilities"


_ALL_FAMILIES = ("xgboost", "logistic_regression", "random_forest", "hist_gradient_boosting")

TASK_DEFINITIONS: Final[dict[Task, TaskDefinition]] = {
    "binary_classification": TaskDefinition(
        name="binary_classification",
        output="probability",
        answer_fields=("label", "score"),
        answer_schema="BinaryPrediction",
        families=_ALL_FAMILIES,
        default_candidates=("xgboost", "logistic_regression"),
        default_metric="roc_auc",
        baseline="always predict the training positive rate",
        xgboost_objective="binary:logistic",
        xgboost_eval_metric="logloss",
    ),
    "multiclass_classification": TaskDefinition(
        name="multiclass_classification",
        output="probabilities",
        answer_fields=("label", "score", "probabilities"),
        answer_schema="MulticlassPrediction",
        families=_ALL_FAMILIES,
        default_candidates=("xgboost", "logistic_regression"),
        default_metric="log_loss",
        baseline="always predict the training class shares (the label: the majority class)",
        xgboost_objective="multi:softprob",
        xgboost_eval_metric="mlogloss",
    ),
    "regression": TaskDefinition(
        name="regression",
        output="value",
        answer_fields=("value",),
        answer_schema="RegressionPrediction",
        families=("xgboost", "random_forest", "hist_gradient_boosting"),
        default_candidates=("xgboost", "hist_gradient_boosting"),
        default_metric="rmse",
        baseline="always predict the training mean",
        xgboost_objective="reg:squarederror",
        xgboost_eval_metric="rmse",
    ),
}


def definition(task: str) -> TaskDefinition:
    try:
        return TASK_DEFINITIONS[task]  # type: ignore[index]
    except KeyError:
        raise UsageError(f"unknown task {task!r}; known: {', '.join(TASKS)}") from None
