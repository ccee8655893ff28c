"""Spoofing-detection metrics (EER, minDCF, actDCF, Cllr, ROC AUC) shared by training, evaluation and the audit.

Convention everywhere: a higher score means more spoof-like. EER, ROC AUC and minDCF depend only on the ranks of
the scores (ties included), so any strictly increasing transform of the scores leaves them unchanged; that is what
lets the audit use a raw cue (a sample rate, a dB level) directly as a score.

Kept to numpy on purpose: scipy and scikit-learn are not service dependencies, and these few lines are easier
to check by hand than a library's conventions (ASVspoof's script, for one, takes the point nearest the
crossing instead of interpolating, which is off by up to a step on small sets). Only `min_cllr` needs
scikit-learn (its isotonic regression is the PAV algorithm) and imports it when called.

The cost metrics follow the ASVspoof 5 evaluation plan, written for this module's direction. ASVspoof scores
bona fide high; here spoof is high, so a score file for the official scripts must carry the negated score
(see `training.spoof_report.write_asvspoof_scores`). `min_dcf` and `compute_eer` are rank-only; `act_dcf` and
`cllr` judge calibration too and need LLRs: log p(x | spoof) / p(x | bona fide), natural log.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "DEFAULT_C_FA",
    "DEFAULT_C_MISS",
    "DEFAULT_P_SPOOF",
    "act_dcf",
    "bayes_threshold",
    "cllr",
    "compute_eer",
    "error_curve",
    "min_cllr",
    "min_dcf",
    "rate_at_threshold",
    "roc_auc",
]

# ASVspoof 5 track 1 cost model: spoofs are 5% of trials, passing one costs ten times rejecting a human.
DEFAULT_P_SPOOF = 0.05
DEFAULT_C_MISS = 1.0
DEFAULT_C_FA = 10.0


def _as_scores(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    scores = np.asarray(values, dtype=np.float64).ravel()
    if scores.size == 0:
        raise ValueError(f"{name} is empty: an error rate needs scores of both classes")
    if not np.isfinite(scores).all():
        raise ValueError(f"{name} contains NaN or infinite scores")
    return scores


def error_curve(
    bonafide_scores: Sequence[float] | np.ndarray, spoof_scores: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every achievable operating point, from everything called spoof to everything accepted.

    Returns (thresholds, p_miss, p_fa): the distinct scores in increasing order followed by +inf, and at each
    threshold t the miss rate P_miss(t) = share of bona fide with score >= t (a human called spoof) and the
    false-alarm rate P_fa(t) = share of spoof with score < t (a spoof accepted). Any threshold in
    (t[k-1], t[k]] gives point k, so these are all the points a threshold can reach, ties kept together.
    """
    bonafide = _as_scores(bonafide_scores, "bonafide_scores")
    spoof = _as_scores(spoof_scores, "spoof_scores")
    thresholds = np.unique(np.concatenate([bonafide, spoof]))
    # Share of each class strictly below every threshold, then one more point at +inf where all are below.
    bonafide_below = np.searchsorted(np.sort(bonafide), thresholds, side="left") / bonafide.size
    spoof_below = np.searchsorted(np.sort(spoof), thresholds, side="left") / spoof.size
    p_miss = np.append(1.0 - bonafide_below, 0.0)
    p_fa = np.append(spoof_below, 1.0)
    return np.append(thresholds, np.inf), p_miss, p_fa


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
    thresholds, frr, far = error_curve(bonafide_scores, spoof_scores)
    gap = frr - far  # starts at 1 (lowest threshold: everything called spoof), ends at -1
    j = int(np.argmax(gap <= 0.0))  # first point at or past the crossing; j >= 1 since gap[0] == 1
    if gap[j] == 0.0:
        # t[j] is a score (finite) because gap[-1] == -1; scores in (t[j-1], t[j]] all give this very point.
        return float(frr[j]), float((thresholds[j - 1] + thresholds[j]) / 2.0)
    i = j - 1
    alpha = gap[i] / (gap[i] - gap[j])
    eer = frr[i] + alpha * (frr[j] - frr[i])
    # Past the highest score (t[j] == inf) only a coin toss among that score's ties reaches the crossing.
    threshold = thresholds[i] + alpha * (thresholds[j] - thresholds[i]) if np.isfinite(thresholds[j]) else thresholds[i]
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


def rate_at_threshold(scores: Sequence[float] | np.ndarray, threshold: float) -> float:
    """Share of `scores` at or above `threshold`, i.e. the share the detector calls spoof.

    For bona fide scores that is the false-positive (miss) rate; for spoof scores, one minus it is the share of
    spoofs let through. One helper for both keeps the `>=` tie rule in a single place.
    """
    values = _as_scores(scores, "scores")
    return float(np.count_nonzero(values >= threshold) / values.size)


def _check_cost_model(p_spoof: float, c_miss: float, c_fa: float) -> None:
    if not 0.0 < p_spoof < 1.0:
        raise ValueError(f"p_spoof must lie strictly between 0 and 1, got {p_spoof}")
    if c_miss <= 0.0 or c_fa <= 0.0:
        raise ValueError(f"costs must be positive, got c_miss={c_miss}, c_fa={c_fa}")


def _normalised_dcf(
    p_miss: float | np.ndarray, p_fa: float | np.ndarray, p_spoof: float, c_miss: float, c_fa: float
) -> float | np.ndarray:
    """Cost divided by that of the better trivial system (accept all or reject all), so 1.0 means useless."""
    weight_miss = c_miss * (1.0 - p_spoof)
    weight_fa = c_fa * p_spoof
    return (weight_miss * p_miss + weight_fa * p_fa) / min(weight_miss, weight_fa)


def min_dcf(
    bonafide_scores: Sequence[float] | np.ndarray,
    spoof_scores: Sequence[float] | np.ndarray,
    *,
    p_spoof: float = DEFAULT_P_SPOOF,
    c_miss: float = DEFAULT_C_MISS,
    c_fa: float = DEFAULT_C_FA,
) -> tuple[float, float]:
    """Normalised minimum detection cost over all thresholds, and a threshold that reaches it.

    DCF(t) = c_miss * (1 - p_spoof) * P_miss(t) + c_fa * p_spoof * P_fa(t), divided by
    min(c_miss * (1 - p_spoof), c_fa * p_spoof) (ASVspoof 5 evaluation plan). With `score >= t` meaning spoof:
    P_miss(t) = share of bona fide scored >= t (a human rejected), P_fa(t) = share of spoof scored < t (a spoof
    accepted as bona fide). The defaults are ASVspoof 5's (0.05, 1, 10), normalised by 0.5.

    Only achievable operating points are searched: every distinct score, plus one threshold above all scores
    (everything accepted). Tied scores of both classes therefore move together, unlike the official script,
    which walks the sorted scores one by one and can split a tie. The threshold is the midpoint between the
    minimising score and the next lower one (as in `compute_eer`); the lowest score itself when everything is
    called spoof; and the next float above the highest score when everything is accepted. The first minimum,
    from the lowest threshold up, is returned.
    """
    _check_cost_model(p_spoof, c_miss, c_fa)
    thresholds, p_miss, p_fa = error_curve(bonafide_scores, spoof_scores)
    costs = np.asarray(_normalised_dcf(p_miss, p_fa, p_spoof, c_miss, c_fa))
    k = int(np.argmin(costs))
    if k == 0:
        threshold = thresholds[0]
    elif k == thresholds.size - 1:
        threshold = np.nextafter(thresholds[-2], np.inf)
    else:
        threshold = (thresholds[k - 1] + thresholds[k]) / 2.0
    return float(costs[k]), float(threshold)


def bayes_threshold(
    *, p_spoof: float = DEFAULT_P_SPOOF, c_miss: float = DEFAULT_C_MISS, c_fa: float = DEFAULT_C_FA
) -> float:
    """LLR above which calling spoof has the lower expected cost: log(c_miss * (1 - p) / (c_fa * p)).

    Calling spoof risks c_miss * (1 - p) * p(x | bona fide), accepting risks c_fa * p * p(x | spoof); the
    second is larger exactly when the LLR exceeds this value. 0.642 (log 1.9) for the ASVspoof 5 defaults.
    """
    _check_cost_model(p_spoof, c_miss, c_fa)
    return math.log(c_miss * (1.0 - p_spoof) / (c_fa * p_spoof))


def act_dcf(
    bonafide_llr: Sequence[float] | np.ndarray,
    spoof_llr: Sequence[float] | np.ndarray,
    *,
    p_spoof: float = DEFAULT_P_SPOOF,
    c_miss: float = DEFAULT_C_MISS,
    c_fa: float = DEFAULT_C_FA,
) -> float:
    """Normalised DCF (as in `min_dcf`) at the Bayes threshold, i.e. the cost of the decisions the LLRs imply.

    The gap to `min_dcf` is the price of miscalibration: a well-ranked but badly scaled or shifted score has a
    low minDCF and a high actDCF. A clip with LLR >= `bayes_threshold(...)` is called spoof.
    """
    threshold = bayes_threshold(p_spoof=p_spoof, c_miss=c_miss, c_fa=c_fa)
    p_miss = rate_at_threshold(_as_scores(bonafide_llr, "bonafide_llr"), threshold)
    p_fa = 1.0 - rate_at_threshold(_as_scores(spoof_llr, "spoof_llr"), threshold)
    return float(_normalised_dcf(p_miss, p_fa, p_spoof, c_miss, c_fa))


def _cllr_bits(bonafide_llr: np.ndarray, spoof_llr: np.ndarray) -> float:
    """Cllr of arrays that may hold +-inf (PAV output); logaddexp keeps log(1 + e^x) exact for large |x|."""
    spoof_cost = np.logaddexp(0.0, -spoof_llr).mean()
    bonafide_cost = np.logaddexp(0.0, bonafide_llr).mean()
    return float((spoof_cost + bonafide_cost) / (2.0 * math.log(2.0)))


def cllr(bonafide_llr: Sequence[float] | np.ndarray, spoof_llr: Sequence[float] | np.ndarray) -> float:
    """Log-likelihood-ratio cost in bits: mean of log2(1 + e^-LLR) over spoofs and log2(1 + e^LLR) over bona fide.

    LLR = ln p(x | spoof) / p(x | bona fide). The two class means are averaged with equal weight, so it is the
    cross-entropy at a 50% prior whatever the set's balance. 0 is perfect, 1 bit is an uninformative LLR of 0
    for every clip, and above 1 the scores do harm. Symmetric in the sign convention: ASVspoof's bona-fide-high
    LLRs give the same value with the classes' roles swapped.
    """
    bonafide = _as_scores(bonafide_llr, "bonafide_llr")
    spoof = _as_scores(spoof_llr, "spoof_llr")
    return _cllr_bits(bonafide, spoof)


def min_cllr(bonafide_scores: Sequence[float] | np.ndarray, spoof_scores: Sequence[float] | np.ndarray) -> float:
    """Cllr after the best monotonic recalibration of the scores: the discrimination part of `cllr`.

    PAV (isotonic regression of the spoof label on the score; tied scores share one value) gives the optimal
    non-decreasing posterior; subtracting the set's log prior odds turns it into an LLR (BOSARIS's min Cllr).
    cllr - min_cllr is the calibration loss. Rank-only, at most 1 bit (a constant LLR of 0 is one candidate).
    """
    from sklearn.isotonic import IsotonicRegression  # training-only dependency, kept out of module import

    bonafide = _as_scores(bonafide_scores, "bonafide_scores")
    spoof = _as_scores(spoof_scores, "spoof_scores")
    scores = np.concatenate([bonafide, spoof])
    is_spoof = np.concatenate([np.zeros(bonafide.size), np.ones(spoof.size)])
    # PAV on dense ranks rather than raw scores: the result is the same (rank-only), and sklearn returns NaN for
    # near-equal float scores (seen with an untrained model's almost constant outputs).
    _, ranks = np.unique(scores, return_inverse=True)
    posterior = IsotonicRegression(increasing=True).fit_transform(ranks.astype(np.float64), is_spoof)
    with np.errstate(divide="ignore"):
        # Pure bins give posteriors of exactly 0 or 1, hence infinite LLRs, which cost nothing on their own class.
        llr = np.log(posterior) - np.log1p(-posterior) - math.log(spoof.size / bonafide.size)
    return _cllr_bits(llr[: bonafide.size], llr[bonafide.size :])
