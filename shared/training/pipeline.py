"""`train_model`: split, search, calibrate, choose the threshold, evaluate, gate, describe.

1. Features are brought to the model's types; the target becomes 0/1 (binary), a class index
   (multiclass) or a number (regression) (`shared.tasks` says what each task outputs).
2. Train / validation / test split (stratified, or by time).
3. Random search per candidate family within the time budget, or `max_trials` trials whatever
   the time (see `search`).
4. Binary: each family's best model gets the calibration that helps it (see `calibration`).
   The family with the best validation score wins. Ranking metrics (ROC AUC, PR AUC, expected
   cost at the best threshold) are compared on the raw scores, which calibration does not
   reorder; probability metrics (log loss, Brier) on the out-of-fold calibrated scores.
5. Binary: the threshold minimises expected cost (no cost: maximises F1) on the validation split.
6. Test metrics of the model and of the baseline; the gate refuses a model that does not beat it.
7. Reference statistics of the training data and of the model's test scores.

Validation metrics describe the final model on the rows that also chose its calibrator and
threshold, so they flatter it; the test metrics are the unbiased estimate.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from shared.errors import DataError
from shared.metric_table import is_better, is_ranking
from shared.model import FloatArray, Label, ScoringModel, scores_of, select_features
from shared.tasks import definition
from shared.training.calibration import CalibrationChoice, choose_calibration
from shared.training.candidates import Params
from shared.training.fitting import SplitData, Target, fitter_threads
from shared.training.gate import GateVerdict, baseline_outputs, judge
from shared.training.labels import binary_target, class_target, negative_label, value_target
from shared.training.reference import reference_statistics
from shared.training.search import CandidateSearch, search_candidates
from shared.training.spec import TrainingSpec
from shared.training.split import SplitPositions, split_rows
from shared.training.task_metrics import metric_value, output_metrics
from shared.training.threshold import choose_threshold
from shared.values import label_text

# (what is being done, fraction of the whole training done, 0..1)
Progress = Callable[[str, float], None]
_SEARCH_START, _SEARCH_END = 0.05, 0.85
# Share of the time budget the search may use; the rest is kept for calibration, evaluation (the
# gate's bootstrap among it) and the reference statistics: about 13 s at 1M rows.
SEARCH_SHARE = 0.9


@dataclass(frozen=True)
class CandidateResult:
    """One family's search, as reported: its best parameters and their validation score."""

    family: str
    params: Params
    validation_score: float  # primary metric on validation, after the family's calibration
    calibration: str  # "none", "sigmoid" or "isotonic" (binary only)
    trials: int
    seconds: float
    stopped_by_time: bool


@dataclass(frozen=True)
class TrainingOutcome:
    model: ScoringModel
    test_metrics: dict[str, float]
    validation_metrics: dict[str, float]
    baseline_metrics: dict[str, float]  # the baseline on the test split
    threshold: float | None  # binary only
    reference: dict[str, Any]  # see shared.training.reference
    candidates: list[CandidateResult]
    rows: dict[str, int]  # train / validation / test
    seed: int
    primary_metric: str
    # Validation log loss of the raw scores ("none") and out of fold per calibration method.
    calibration: dict[str, float]
    gate: GateVerdict
    seconds: float
    # Positions of the test split's rows in the frame given to `train_model`: the held-out rows
    # a retrain also scores the champion on.
    test_positions: npt.NDArray[np.intp] = dataclasses.field(
        default_factory=lambda: np.empty(0, dtype=np.intp), compare=False, repr=False
    )

    def summary(self) -> dict[str, Any]:
        """Everything but the model, as JSON-serialisable values (for metrics.json, lineage)."""
        return {
            "task": self.model.task,
            "family": self.model.family,
            **({"classes": list(self.model.classes)} if self.model.classes else {}),
            "calibrated": self.model.calibrated,
            "threshold": self.threshold,
            "primary_metric": self.primary_metric,
            "test_metrics": self.test_metrics,
            "validation_metrics": self.validation_metrics,
            "baseline_metrics": self.baseline_metrics,
            "gate": dataclasses.asdict(self.gate) | {"passed": self.gate.passed},
            "calibration": self.calibration,
            "candidates": [dataclasses.asdict(candidate) for candidate in self.candidates],
            "rows": self.rows,
            "seed": self.seed,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class _Prepared:
    features: pd.DataFrame
    y: Target
    split: SplitPositions
    negative: Label | None  # binary
    classes: tuple[str, ...]  # multiclass


class _Reporter:
    """Passes progress on, never going backwards, so progress bars only grow."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._done = 0.0

    def __call__(self, step: str, done: float) -> None:
        self._done = max(self._done, min(done, 1.0))
        if self._progress is not None:
            self._progress(step, self._done)


def train_model(
    frame: pd.DataFrame, spec: TrainingSpec, progress: Progress | None = None
) -> TrainingOutcome:
    """Train, evaluate and gate a model; raises GateRefused when it does not beat the baseline."""
    # Every fit and prediction of the training on its thread count, spec.n_jobs, histogram
    # boosting's too (it reads OpenMP's setting, not a parameter).
    with fitter_threads(spec.n_jobs):
        return _train(frame, spec, progress)


def _train(frame: pd.DataFrame, spec: TrainingSpec, progress: Progress | None) -> TrainingOutcome:
    started = time.monotonic()
    report = _Reporter(progress)
    report("checking and splitting the data", 0.0)
    prepared = _prepare(frame, spec)
    data = _split_data(prepared, spec)
    deadline = started + SEARCH_SHARE * spec.time_budget_s if spec.time_bounded else math.inf
    searches = search_candidates(
        data,
        spec.candidates,
        metric=spec.primary_metric,
        cost=spec.cost,
        max_trials=spec.max_trials,
        deadline=deadline,
        progress=lambda step, done: report(
            step, _SEARCH_START + done * (_SEARCH_END - _SEARCH_START)
        ),
    )
    report("calibrating the candidates", _SEARCH_END)
    model, candidates, calibration, validation_scores = _finalise(
        searches, data, prepared.negative, spec
    )
    report("evaluating on the test split", 0.9)
    evaluation = _evaluate(model, prepared, data, validation_scores, spec)
    report("describing the training data", 0.96)
    reference = reference_statistics(data.train, data.features, scores_of(evaluation.test_scores))
    reference["sampling"] = _sampling_reference(prepared, model, evaluation.test_scores, spec)
    # Stored single-threaded, the way the HTTP path wants it (see ScoringModel.set_threads).
    model.set_threads(1)
    outcome = TrainingOutcome(
        model=model,
        test_metrics=evaluation.test,
        validation_metrics=evaluation.validation,
        baseline_metrics=evaluation.baseline,
        threshold=model.threshold if definition(spec.task).has_threshold else None,
        reference=reference,
        candidates=candidates,
        rows=prepared.split.counts(),
        seed=spec.seed,
        primary_metric=spec.primary_metric,
        calibration=calibration,
        gate=evaluation.verdict,
        seconds=time.monotonic() - started,
        test_positions=np.asarray(prepared.split.test, dtype=np.intp),
    )
    if not evaluation.verdict.passed:
        raise evaluation.verdict.refusal(outcome)
    report("done", 1.0)
    return outcome


def _sampling_reference(
    prepared: _Prepared, model: ScoringModel, test_outputs: FloatArray, spec: TrainingSpec
) -> dict[str, Any]:
    """How much each metric varies from sample to sample on the test split: what a monitoring
    check states the uncertainty of a period's measured and estimated performance with."""
    from shared.monitoring.tasks import MetricContext, task_monitoring

    monitoring = task_monitoring(spec.task)
    if monitoring.reference is None:
        return {}
    y_test = prepared.y[prepared.split.test]
    context = MetricContext(
        "1", model.threshold, spec.cost, spec.seed, classes=tuple(model.classes)
    )
    return monitoring.reference(y_test, test_outputs, context)


@dataclass(frozen=True)
class _Evaluation:
    test_scores: FloatArray  # the model's outputs on the test split
    test: dict[str, float]
    validation: dict[str, float]
    baseline: dict[str, float]
    verdict: GateVerdict


def _finalise(
    searches: list[CandidateSearch], data: SplitData, negative: Label | None, spec: TrainingSpec
) -> tuple[ScoringModel, list[CandidateResult], dict[str, float], FloatArray]:
    """The winning family's model, calibrated if that helped, with its validation threshold;
    also the calibration evidence and the model's validation scores (binary). Other tasks: the
    best family on validation, as it is."""
    if not definition(spec.task).has_threshold:
        candidates = [
            _candidate_result(search, None, data.y_validation, spec) for search in searches
        ]
        winner = _winner(candidates, spec.primary_metric)
        return searches[winner].model, candidates, {}, searches[winner].validation_scores
    if negative is None:
        raise DataError("binary training needs the label that is not the positive one")
    y_validation = data.y_validation.astype(np.int8)
    choices = [
        choose_calibration(y_validation, search.validation_scores, spec.seed) for search in searches
    ]
    candidates = [
        _candidate_result(search, choice, data.y_validation, spec)
        for search, choice in zip(searches, choices, strict=True)
    ]
    winner = _winner(candidates, spec.primary_metric)
    model = dataclasses.replace(
        searches[winner].model,
        calibrator=choices[winner].calibrator,
        positive_label=label_text(spec.positive_label),
        negative_label=negative,
    )
    validation_scores = model.predict_scores(data.validation)
    threshold = choose_threshold(y_validation, validation_scores, spec.cost)
    model = dataclasses.replace(model, threshold=threshold)
    return model, candidates, choices[winner].log_loss, validation_scores


def _evaluate(
    model: ScoringModel,
    prepared: _Prepared,
    data: SplitData,
    validation_scores: FloatArray,
    spec: TrainingSpec,
) -> _Evaluation:
    y_test = prepared.y[prepared.split.test]
    test_scores = model.predict_outputs(prepared.features.iloc[prepared.split.test])
    measure = functools.partial(
        output_metrics,
        spec.task,
        threshold=model.threshold,
        cost=spec.cost,
        classes=prepared.classes,
    )
    test = measure(y_test, test_scores)
    validation = measure(data.y_validation, validation_scores)
    baseline, verdict = _gate(
        data,
        y_test=y_test,
        test_scores=test_scores,
        test_metrics=test,
        threshold=model.threshold,
        spec=spec,
    )
    return _Evaluation(test_scores, test, validation, baseline, verdict)


def _prepare(frame: pd.DataFrame, spec: TrainingSpec) -> _Prepared:
    features = select_features(frame, spec.features)
    output = definition(spec.task).output
    y: Target
    negative: Label | None = None
    classes: tuple[str, ...] = ()
    if output == "probability":
        y = binary_target(frame, spec.target, spec.positive_label)
        negative = negative_label(frame, spec.target, spec.positive_label)
    elif output == "probabilities":
        y, classes = class_target(frame, spec.target)
    else:
        y = value_target(frame, spec.target)
    split = split_rows(
        frame,
        y,
        seed=spec.seed,
        test_fraction=spec.test_fraction,
        validation_fraction=spec.validation_fraction,
        time_column=spec.time_column,
        task=spec.task,
    )
    return _Prepared(features, y, split, negative, classes)


def _split_data(prepared: _Prepared, spec: TrainingSpec) -> SplitData:
    train = prepared.features.iloc[prepared.split.train]
    empty = [name for name in train.columns if train[name].isna().all()]
    if empty:
        raise DataError(f"feature(s) {empty} have no value in the {len(train)} training rows")
    return SplitData(
        features=spec.features,
        train=train,
        y_train=prepared.y[prepared.split.train],
        validation=prepared.features.iloc[prepared.split.validation],
        y_validation=prepared.y[prepared.split.validation],
        seed=spec.seed,
        n_jobs=spec.n_jobs,
        task=spec.task,
        classes=prepared.classes,
    )


def _candidate_result(
    search: CandidateSearch,
    choice: CalibrationChoice | None,
    y_validation: Target,
    spec: TrainingSpec,
) -> CandidateResult:
    if choice is None or is_ranking(spec.primary_metric):
        score = search.validation_score
    else:
        score = metric_value(
            spec.task, spec.primary_metric, y_validation, choice.out_of_fold_scores
        )
    return CandidateResult(
        family=search.family,
        params=search.params,
        validation_score=score,
        calibration="none" if choice is None else choice.method,
        trials=search.trials,
        seconds=search.seconds,
        stopped_by_time=search.stopped_by_time,
    )


def _winner(candidates: list[CandidateResult], metric: str) -> int:
    """Index of the best candidate; on a tie the one listed first."""
    best = 0
    for index, candidate in enumerate(candidates[1:], start=1):
        if is_better(metric, candidate.validation_score, candidates[best].validation_score):
            best = index
    return best


def _gate(
    data: SplitData,
    *,
    y_test: Target,
    test_scores: FloatArray,
    test_metrics: dict[str, float],
    threshold: float,
    spec: TrainingSpec,
) -> tuple[dict[str, float], GateVerdict]:
    task = definition(spec.task)
    baseline = baseline_outputs(spec.task, data.y_train, len(y_test), len(data.classes))
    baseline_threshold = threshold
    if task.has_threshold:
        on_validation = baseline_outputs(spec.task, data.y_train, len(data.y_validation))
        baseline_threshold = choose_threshold(
            data.y_validation.astype(np.int8), on_validation, spec.cost
        )
    baseline_metrics = output_metrics(
        spec.task,
        y_test,
        baseline,
        threshold=baseline_threshold,
        cost=spec.cost,
        classes=data.classes,
    )
    metric = spec.primary_metric
    verdict = judge(
        spec.task,
        y_test,
        test_scores,
        baseline,
        metric=metric,
        model_value=test_metrics[metric],
        baseline_value=baseline_metrics[metric],
        cost=spec.cost,
        thresholds=(threshold, baseline_threshold),
        seed=spec.seed,
    )
    return baseline_metrics, verdict
