"""Calibration and operating points, shared by the voice and text exporters.

A detector's raw logit difference is not a log-likelihood ratio: its scale depends on training length and its
offset on the class balance the model was trained with. Platt scaling on a development set of held-out systems
maps it to an LLR (`scale * s + bias`), which is what the service turns into a probability and a verdict band.
The band thresholds are LLRs read off the same development scores, so they mean the same thing for every
model version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from training.spoof_metrics import compute_eer

__all__ = ["OperatingPoints", "fit_platt", "operating_points", "threshold_at_fpr", "threshold_at_miss"]


def fit_platt(negative: np.ndarray, positive: np.ndarray, *, prior: float = 0.5) -> tuple[float, float]:
    """Scale and bias so that `scale * s + bias` is an LLR (positive class over negative).

    Fits logistic regression at an effective prior of `prior` (each class weighted to that share), so the
    fitted log-odds minus logit(prior) is an LLR whatever the dev set's class balance. This is the weighted
    Platt objective used for Cllr-optimal calibration in speaker and spoofing evaluation (BOSARIS). The scale
    is kept positive: a detector whose dev scores are reversed must not be shipped with a flipped sign.
    """
    negative = np.asarray(negative, dtype=np.float64).ravel()
    positive = np.asarray(positive, dtype=np.float64).ravel()
    if negative.size == 0 or positive.size == 0:
        raise ValueError("Platt calibration needs development scores of both classes")
    logit_prior = math.log(prior / (1.0 - prior))
    spread = float(np.std(np.concatenate([negative, positive]))) or 1.0

    def loss(params: np.ndarray) -> float:
        scale, bias = math.exp(params[0]) / spread, params[1]
        pos = np.logaddexp(0.0, -(scale * positive + bias + logit_prior)).mean()
        neg = np.logaddexp(0.0, scale * negative + bias + logit_prior).mean()
        return float(prior * pos + (1.0 - prior) * neg)

    result = minimize(loss, x0=np.array([0.0, 0.0]), method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-10})
    return math.exp(float(result.x[0])) / spread, float(result.x[1])


def threshold_at_fpr(negative: np.ndarray, fpr: float) -> float:
    """Lowest score at which at most `fpr` of the negatives score at or above it."""
    negative = np.sort(np.asarray(negative, dtype=np.float64).ravel())
    allowed = int(math.floor(fpr * negative.size))
    # The (allowed+1)-th highest negative must fall below the threshold.
    if allowed >= negative.size:
        return float(negative[0])
    boundary = negative[negative.size - 1 - allowed]
    return float(np.nextafter(boundary, np.inf))


def threshold_at_miss(positive: np.ndarray, miss: float) -> float:
    """Highest score at which at most `miss` of the positives score below it."""
    positive = np.sort(np.asarray(positive, dtype=np.float64).ravel())
    allowed = int(math.floor(miss * positive.size))
    return float(positive[min(allowed, positive.size - 1)])


@dataclass(frozen=True)
class OperatingPoints:
    """Band thresholds as LLRs: lowest LLR of each band above the first (the card's `thresholds`)."""

    low: float  # below: few positives score this low (miss rate <= `miss` on dev)
    eer: float  # the equal-error point on dev
    strict: float  # false-positive rate <= `fpr` on dev

    def as_bands(self, names: tuple[str, str, str]) -> dict[str, float]:
        return dict(zip(names, (self.low, self.eer, self.strict), strict=True))


def operating_points(
    negative_llr: np.ndarray, positive_llr: np.ndarray, *, fpr: float = 0.01, miss: float = 0.05
) -> OperatingPoints:
    """The three band edges from calibrated dev scores, forced into non-decreasing order.

    `low` is the point under which a clip is called genuine/legit (at most `miss` of positives fall there),
    `eer` is the balanced point, `strict` the point where at most `fpr` of negatives are flagged.
    """
    _, eer_threshold = compute_eer(negative_llr, positive_llr)
    low = min(threshold_at_miss(positive_llr, miss), eer_threshold)
    strict = max(threshold_at_fpr(negative_llr, fpr), eer_threshold)
    return OperatingPoints(low=round(low, 4), eer=round(eer_threshold, 4), strict=round(strict, 4))
