"""Time-bounded random search over the candidate families.

The families run one after another, the quick ones first (`SEARCH_ORDER`). Each gets a fair
share of what is left of the budget: the remaining time divided by the families still to run,
so time a quick family leaves over goes to the slower ones after it. Within its share a family
runs its default trial (always, even past the share: a tiny budget still yields a sensible
model), then random draws until `max_trials` or the share's end; a trial that runs out of time
keeps what it has fit so far. The best trial on the validation split (primary metric) is the
family's result.

Given the seed, the trials and their order are fixed; only the time limits can cut a search
short, so two runs agree whenever neither hit a limit (see `CandidateSearch.stopped_by_time`).
A search with no deadline (`math.inf`: the configuration's `max_trials`) runs every trial to its
end, so the same data, settings and seed always give the same model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from shared.metric_table import is_better
from shared.model import FloatArray, ScoringModel
from shared.training.candidates import SEARCH_SPACES, Params, family_rng
from shared.training.fitting import FittedTrial, SplitData, Trainer, past
from shared.training.sklearn_fit import Preprocessed, SklearnTrainer, preprocess
from shared.training.spec import Cost
from shared.training.task_metrics import metric_value
from shared.training.xgboost_fit import XGBoostTrainer

# (what is being done, fraction of the search done)
SearchProgress = Callable[[str, float], None]
# Quickest per trial first; XGBoost last, as it gains most from the time the others leave.
SEARCH_ORDER = ("logistic_regression", "hist_gradient_boosting", "random_forest", "xgboost")


@dataclass(frozen=True)
class CandidateSearch:
    """One family's search: its best model (uncalibrated) and what the search cost."""

    family: str
    params: Params
    model: ScoringModel
    validation_scores: FloatArray  # the best model's raw scores on the validation split
    validation_score: float  # the primary metric of those scores
    trials: int
    seconds: float
    stopped_by_time: bool


@dataclass(frozen=True)
class _Criteria:
    task: str
    metric: str
    cost: Cost | None
    max_trials: int


def search_candidates(
    data: SplitData,
    candidates: tuple[str, ...],
    *,
    metric: str,
    cost: Cost | None,
    max_trials: int,
    deadline: float,
    progress: SearchProgress,
) -> list[CandidateSearch]:
    """One search per family, returned in the order of `candidates`."""
    criteria = _Criteria(data.task, metric, cost, max_trials)
    results: dict[str, CandidateSearch] = {}
    preprocessed: Preprocessed | None = None
    for position, family in enumerate(sorted(candidates, key=SEARCH_ORDER.index)):
        now = time.monotonic()
        share_end = now + (deadline - now) / (len(candidates) - position)  # inf stays inf

        def report(step: str, done: float, position: int = position) -> None:
            progress(step, (position + min(done, 1.0)) / len(candidates))

        report(f"{family}: preparing the data", 0.0)
        trainer: Trainer
        if family == "xgboost":
            trainer = XGBoostTrainer(data)
        else:
            preprocessed = preprocessed or preprocess(data)
            trainer = SklearnTrainer(family, data, preprocessed)
        results[family] = _search_family(trainer, data, criteria, share_end, report)
    return [results[family] for family in candidates]


def _search_family(
    trainer: Trainer,
    data: SplitData,
    criteria: _Criteria,
    share_end: float,
    report: SearchProgress,
) -> CandidateSearch:
    started = time.monotonic()
    rng = family_rng(trainer.family, data.seed)
    space = SEARCH_SPACES[trainer.family]

    def run(params: Params, deadline: float) -> tuple[FittedTrial, float]:
        trial = trainer.fit(params, deadline)
        y = data.y_validation
        score = metric_value(
            criteria.task, criteria.metric, y, trial.validation_scores, criteria.cost
        )
        return trial, score

    def tell(trials: int, best_score: float) -> None:
        elapsed = (time.monotonic() - started) / max(share_end - started, 1e-9)
        report(
            f"{trainer.family}: trial {trials}/{criteria.max_trials}, "
            f"best {criteria.metric} {best_score:.4f}",
            max(trials / criteria.max_trials, elapsed),
        )

    best, best_score = run(dict(space.default), math.inf)
    trials, stopped = 1, best.stopped_by_time
    tell(trials, best_score)
    while trials < criteria.max_trials and not past(share_end):
        trial, score = run(space.draw(rng), share_end)
        trials += 1
        stopped = stopped or trial.stopped_by_time
        if is_better(criteria.metric, score, best_score):
            best, best_score = trial, score
        tell(trials, best_score)
    return CandidateSearch(
        family=trainer.family,
        params=best.params,
        model=trainer.scoring_model(best),
        validation_scores=best.validation_scores,
        validation_score=best_score,
        trials=trials,
        seconds=time.monotonic() - started,
        stopped_by_time=stopped or trials < criteria.max_trials,
    )
