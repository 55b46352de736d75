"""Probability calibration on the validation split, applied only when it helps.

Judging a calibrator by the log loss on the rows it was fitted on would always favour it
(isotonic regression in particular memorises them), so each method is judged by cross-fitting:
fitted on four fifths of the validation rows, scored on the fifth left out, five times. A method
is used only when that out-of-fold log loss beats the raw scores' log loss on the same rows; it is
then refitted on the whole validation split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from shared.model import Calibrator, FloatArray, IsotonicCalibrator, SigmoidCalibrator
from shared.training.metrics import log_loss

_FOLDS = 5
_LOGIT_CLIP = 1e-12
Fitter = Callable[[npt.NDArray[np.integer], FloatArray], Calibrator]


@dataclass(frozen=True)
class CalibrationChoice:
    """The chosen calibrator (None: raw scores were best) and the evidence for the choice."""

    calibrator: Calibrator | None
    # Validation log loss of the raw scores ("none") and out of fold for each method.
    log_loss: dict[str, float]
    # The scores the choice would have produced on validation rows it was not fitted on.
    out_of_fold_scores: FloatArray

    @property
    def method(self) -> str:
        return "none" if self.calibrator is None else self.calibrator.method


def choose_calibration(
    y: npt.NDArray[np.integer], raw_scores: FloatArray, seed: int
) -> CalibrationChoice:
    folds = _stratified_folds(y, seed)
    out_of_fold = {"none": raw_scores}
    for method, fit in FITTERS.items():
        out_of_fold[method] = _cross_fit(fit, y, raw_scores, folds)
    losses = {method: log_loss(y, scores) for method, scores in out_of_fold.items()}
    # "none" comes first, so a tie keeps the raw scores.
    best = min(losses, key=lambda method: losses[method])
    calibrator = None if best == "none" else FITTERS[best](y, raw_scores)
    return CalibrationChoice(calibrator, losses, out_of_fold[best])


def fit_sigmoid(y: npt.NDArray[np.integer], scores: FloatArray) -> SigmoidCalibrator:
    """Maximum-likelihood Platt scaling by Newton's method, starting from the identity map."""
    clipped = np.clip(scores, _LOGIT_CLIP, 1 - _LOGIT_CLIP)
    design = np.column_stack([np.log(clipped) - np.log1p(-clipped), np.ones(len(scores))])
    weights = np.array([1.0, 0.0])
    for _ in range(100):
        p = 0.5 * (1.0 + np.tanh(0.5 * (design @ weights)))  # the logistic, without overflow
        gradient = design.T @ (p - y)
        # The tiny ridge keeps the step defined when the scores are all equal.
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.abs(step).max() < 1e-10:
            break
    return SigmoidCalibrator(slope=float(weights[0]), intercept=float(weights[1]))


def fit_isotonic(y: npt.NDArray[np.integer], scores: FloatArray) -> IsotonicCalibrator:
    from sklearn.isotonic import IsotonicRegression

    # Kept off exactly 0 and 1: one surprise on fresh data would cost an unbounded log loss.
    floor = 0.5 / len(y)
    fitted = IsotonicRegression(y_min=floor, y_max=1 - floor, out_of_bounds="clip").fit(scores, y)
    return IsotonicCalibrator(
        knots_x=np.asarray(fitted.X_thresholds_, dtype=np.float64),
        knots_y=np.asarray(fitted.y_thresholds_, dtype=np.float64),
    )


FITTERS: dict[str, Fitter] = {"sigmoid": fit_sigmoid, "isotonic": fit_isotonic}


def _stratified_folds(y: npt.NDArray[np.integer], seed: int) -> npt.NDArray[np.intp]:
    fold = np.empty(len(y), dtype=np.intp)
    rng = np.random.default_rng([seed, _FOLDS])
    for label in (0, 1):
        rows = rng.permutation(np.flatnonzero(y == label))
        fold[rows] = np.arange(len(rows)) % _FOLDS
    return fold


def _cross_fit(
    fit: Fitter,
    y: npt.NDArray[np.integer],
    scores: FloatArray,
    folds: npt.NDArray[np.intp],
) -> FloatArray:
    out = np.empty(len(scores), dtype=np.float64)
    for fold in range(_FOLDS):
        held_out = folds == fold
        calibrator = fit(y[~held_out], scores[~held_out])
        out[held_out] = calibrator(scores[held_out])
    return out
