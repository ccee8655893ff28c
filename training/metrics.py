"""Evaluation metrics shared by training, evaluation and the shortcut audit.

Convention everywhere: a higher score means more spoof-like. Both metrics depend only on the ranks of the
scores (ties included), so any strictly increasing transform of the scores leaves them unchanged; that is what
lets the audit use a raw cue (a sample rate, a dB level) directly as a score.

Kept to numpy on purpose: scipy and scikit-learn are not service dependencies, and these few lines are easier
to check by hand than a library's conventions (ASVspoof's script, for one, takes the point nearest the
crossing instead of interpolating, which is off by up to a step on small sets).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["compute_eer", "roc_auc"]


def _as_scores(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    scores = np.asarray(values, dtype=np.float64).ravel()
    if scores.size == 0:
        raise ValueError(f"{name} is empty: an error rate needs scores of both classes")
    if not np.isfinite(scores).all():
        raise ValueError(f"{name} contains NaN or infinite scores")
    return scores


def compute_eer(
    bonafide_scores: Sequence[float] | np.ndarray, spoof_scores: Sequence[float] | np.ndarray
) -> tuple[float, float]:
    """Equal error rate and the threshold at which it is reached; `score >= threshold` means spoof.

    At every distinct score t (and at +inf) the miss rates are FRR(t) = share of bona fide with score >= t and
    FAR(t) = share of spoof with score < t. FRR - FAR strictly decreases along these points (each step passes
    at least one score), so it crosses zero exactly once. Where it lands on a point, that point is the EER
    and the threshold is the midpoint of the score interval that yields it (the choice that generalises best
    to unseen scores); otherwise the EER is read off the straight ROC segment between the two neighbouring
    points, which is also the expected error when tied scores are broken at random. A fully reversed score
    gives 1.0, not 0.0: the audit tries both directions itself.
    """
    bonafide = _as_scores(bonafide_scores, "bonafide_scores")
    spoof = _as_scores(spoof_scores, "spoof_scores")
    thresholds = np.unique(np.concatenate([bonafide, spoof]))
    bonafide_sorted = np.sort(bonafide)
    spoof_sorted = np.sort(spoof)
    # Share of each class strictly below every threshold, then one more point at +inf where all are below.
    bonafide_below = np.searchsorted(bonafide_sorted, thresholds, side="left") / bonafide.size
    spoof_below = np.searchsorted(spoof_sorted, thresholds, side="left") / spoof.size
    frr = np.append(1.0 - bonafide_below, 0.0)
    far = np.append(spoof_below, 1.0)
    gap = frr - far  # starts at 1 (lowest threshold: everything called spoof), ends at -1
    j = int(np.argmax(gap <= 0.0))  # first point at or past the crossing; j >= 1 since gap[0] == 1
    if gap[j] == 0.0:
        # j < len(thresholds) because gap[-1] == -1; scores in (t[j-1], t[j]] all give this very point.
        return float(frr[j]), float((thresholds[j - 1] + thresholds[j]) / 2.0)
    i = j - 1
    alpha = gap[i] / (gap[i] - gap[j])
    eer = frr[i] + alpha * (frr[j] - frr[i])
    # Past the highest score (j == size) only a coin toss among that score's ties reaches the crossing.
    threshold = thresholds[i] + alpha * (thresholds[j] - thresholds[i]) if j < thresholds.size else thresholds[i]
    return float(eer), float(threshold)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing the mean of the ranks they span (what Mann-Whitney needs)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    mean_rank = ends - (counts - 1) / 2.0
    return mean_rank[inverse.ravel()]


def roc_auc(bonafide_scores: Sequence[float] | np.ndarray, spoof_scores: Sequence[float] | np.ndarray) -> float:
    """P(spoof score > bona fide score) + P(tie) / 2: the Mann-Whitney U statistic over all pairs.

    Computed from average ranks, so it is exact with ties and costs a sort rather than n*m comparisons.
    """
    bonafide = _as_scores(bonafide_scores, "bonafide_scores")
    spoof = _as_scores(spoof_scores, "spoof_scores")
    ranks = _average_ranks(np.concatenate([bonafide, spoof]))
    spoof_rank_sum = float(ranks[bonafide.size :].sum())
    u = spoof_rank_sum - spoof.size * (spoof.size + 1) / 2.0
    return u / (bonafide.size * spoof.size)
