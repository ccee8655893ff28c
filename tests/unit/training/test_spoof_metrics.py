"""The metrics against hand-computed cases, brute-force loops over thresholds, and rank-invariance properties."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.spoof_metrics import (
    act_dcf,
    bayes_threshold,
    cllr,
    compute_eer,
    error_curve,
    min_cllr,
    min_dcf,
    rate_at_threshold,
    roc_auc,
)

# Small integer scores make ties common, and cubing or exp(x/10) keeps them exact and strictly increasing.
scores = st.lists(st.integers(-50, 50), min_size=1, max_size=25)


def brute_force_auc(bonafide: Sequence[float], spoof: Sequence[float]) -> float:
    pairs = list(itertools.product(bonafide, spoof))
    return sum(1.0 if s > b else 0.5 if s == b else 0.0 for b, s in pairs) / len(pairs)


def error_rates(bonafide: Sequence[float], spoof: Sequence[float], threshold: float) -> tuple[float, float]:
    frr = float(np.mean(np.asarray(bonafide) >= threshold))
    far = float(np.mean(np.asarray(spoof) < threshold))
    return frr, far


# --- hand-computed cases ---------------------------------------------------------------------------------------


def test_perfect_separation_is_zero_with_a_threshold_between_the_classes() -> None:
    eer, threshold = compute_eer([0.0, 1.0], [2.0, 3.0])
    assert eer == 0.0
    assert 1.0 < threshold <= 2.0
    assert error_rates([0.0, 1.0], [2.0, 3.0], threshold) == (0.0, 0.0)


def test_reversed_scores_give_one() -> None:
    assert compute_eer([2.0, 3.0], [0.0, 1.0])[0] == 1.0


def test_crossing_on_a_roc_point() -> None:
    # thresholds 1,2,3,4,inf: FRR 1,.5,.5,0,0; FAR 0,0,.5,.5,1 -> equal (0.5) at t=3, reached for t in (2, 3].
    eer, threshold = compute_eer([1.0, 3.0], [2.0, 4.0])
    assert eer == 0.5
    assert threshold == 2.5
    assert error_rates([1.0, 3.0], [2.0, 4.0], threshold) == (0.5, 0.5)


def test_crossing_between_roc_points_is_interpolated() -> None:
    # thresholds 1,2,2.5,3,4,inf: FRR 1,2/3,1/3,1/3,0,0; FAR 0,0,0,.5,.5,1. FRR-FAR goes 1/3 -> -1/6 between
    # t=2.5 and t=3, so alpha = 2/3: EER = 1/3 + 2/3 * 0 = 0 + 2/3 * 0.5 = 1/3, threshold 2.5 + 2/3 * 0.5.
    eer, threshold = compute_eer([1.0, 2.0, 3.0], [2.5, 4.0])
    assert eer == pytest.approx(1 / 3)
    assert threshold == pytest.approx(2.5 + 1 / 3)


def test_ties_across_classes_count_as_a_coin_toss() -> None:
    # thresholds 0,1,2,inf: FRR 1,.5,0,0; FAR 0,0,.5,1 -> crossing halfway between t=1 and t=2: 0.25.
    eer, threshold = compute_eer([0.0, 1.0], [1.0, 2.0])
    assert eer == pytest.approx(0.25)
    assert threshold == pytest.approx(1.5)


def test_constant_scores_give_one_half() -> None:
    assert compute_eer([3.0] * 5, [3.0] * 7)[0] == pytest.approx(0.5)


def test_unbalanced_classes() -> None:
    # bona fide 0,1,2,3 and spoof 2.5: thresholds 0,1,2,2.5,3,inf; FRR 1,.75,.5,.25,.25,0; FAR 0,0,0,0,1,1.
    # FRR-FAR: .25 at t=2.5, -.75 at t=3 -> alpha .25, EER .25.
    eer, _ = compute_eer([0.0, 1.0, 2.0, 3.0], [2.5])
    assert eer == pytest.approx(0.25)


def test_auc_hand_cases() -> None:
    assert roc_auc([0.0, 1.0], [2.0, 3.0]) == 1.0
    assert roc_auc([2.0, 3.0], [0.0, 1.0]) == 0.0
    assert roc_auc([0.0, 1.0], [1.0, 2.0]) == pytest.approx(0.875)
    assert roc_auc([5.0, 5.0], [5.0]) == 0.5


@pytest.mark.parametrize("metric", [compute_eer, roc_auc, min_dcf, act_dcf, cllr, min_cllr, error_curve])
def test_empty_or_non_finite_scores_are_refused(metric: Callable[..., object]) -> None:
    with pytest.raises(ValueError):
        metric([], [1.0])
    with pytest.raises(ValueError):
        metric([1.0], [])
    with pytest.raises(ValueError):
        metric([float("nan")], [1.0])


# --- properties -------------------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(bonafide=scores, spoof=scores)
def test_eer_is_invariant_under_strictly_increasing_transforms(bonafide: list[int], spoof: list[int]) -> None:
    eer, _ = compute_eer(bonafide, spoof)
    for transform in (lambda v: 3.0 * v**3 + 7.0, lambda v: np.exp(v / 10.0), lambda v: v * 1e-3 - 1e6):
        moved, _ = compute_eer(transform(np.asarray(bonafide, float)), transform(np.asarray(spoof, float)))
        assert moved == pytest.approx(eer, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(bonafide=scores, spoof=scores)
def test_eer_sits_between_the_error_rates_of_neighbouring_thresholds(bonafide: list[int], spoof: list[int]) -> None:
    eer, threshold = compute_eer(bonafide, spoof)
    assert 0.0 <= eer <= 1.0
    # No threshold gets both of its errors under the EER: the crossing is the best worst case.
    best_worst = min(max(error_rates(bonafide, spoof, t)) for t in [*sorted(set(bonafide) | set(spoof)), float("inf")])
    assert best_worst >= eer - 1e-12
    frr, far = error_rates(bonafide, spoof, threshold)
    # The returned threshold is a real operating point on one side of the crossing (or on it).
    assert min(frr, far) - 1e-12 <= eer <= max(frr, far) + 1e-12


@settings(max_examples=100, deadline=None)
@given(bonafide=scores, spoof=scores)
def test_auc_matches_pairwise_counting_and_is_antisymmetric(bonafide: list[int], spoof: list[int]) -> None:
    auc = roc_auc(bonafide, spoof)
    assert auc == pytest.approx(brute_force_auc(bonafide, spoof), abs=1e-12)
    assert auc + roc_auc(spoof, bonafide) == pytest.approx(1.0, abs=1e-12)
    assert roc_auc(np.exp(np.asarray(bonafide) / 10.0), np.exp(np.asarray(spoof) / 10.0)) == pytest.approx(auc)


# --- detection cost, Cllr ---------------------------------------------------------------------------------------

# ASVspoof 5 defaults: weights c_miss * (1 - p) = 0.95 and c_fa * p = 0.5, normalised by 0.5.


def brute_force_dcf(
    bonafide: Sequence[float], spoof: Sequence[float], threshold: float, p: float, c_miss: float, c_fa: float
) -> float:
    p_miss = sum(b >= threshold for b in bonafide) / len(bonafide)
    p_fa = sum(s < threshold for s in spoof) / len(spoof)
    return (c_miss * (1 - p) * p_miss + c_fa * p * p_fa) / min(c_miss * (1 - p), c_fa * p)


def test_rate_at_threshold_counts_ties_as_flagged() -> None:
    assert rate_at_threshold([0.0, 1.0, 2.0, 3.0], 2.0) == 0.5
    assert rate_at_threshold([0.0, 1.0], 5.0) == 0.0
    assert rate_at_threshold([0.0, 1.0], -5.0) == 1.0


def test_error_curve_hand_case() -> None:
    thresholds, p_miss, p_fa = error_curve([1.0, 3.0], [2.0, 4.0])
    assert thresholds.tolist() == [1.0, 2.0, 3.0, 4.0, math.inf]
    assert p_miss.tolist() == [1.0, 0.5, 0.5, 0.0, 0.0]
    assert p_fa.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]


def test_min_dcf_perfect_separation_is_zero() -> None:
    dcf, threshold = min_dcf([0.0, 1.0], [2.0, 3.0])
    assert dcf == 0.0
    assert threshold == 1.5


def test_min_dcf_hand_case() -> None:
    # Points as in test_error_curve_hand_case. Normalised DCF = (0.95 P_miss + 0.5 P_fa) / 0.5:
    # t=1: 1.9, t=2: 0.95, t=3: 1.45, t=4: 0.5, inf: 1.0 -> 0.5, reached for t in (3, 4].
    dcf, threshold = min_dcf([1.0, 3.0], [2.0, 4.0])
    assert dcf == pytest.approx(0.5)
    assert threshold == 3.5
    # Equal priors and costs: DCF = P_miss + P_fa = 1, .5, 1, .5, 1; the first minimum (lowest threshold) wins.
    dcf, threshold = min_dcf([1.0, 3.0], [2.0, 4.0], p_spoof=0.5, c_miss=1.0, c_fa=1.0)
    assert dcf == pytest.approx(0.5)
    assert threshold == 1.5


def test_min_dcf_of_a_useless_score_is_one_with_everything_accepted() -> None:
    # All tied: calling everything spoof costs 0.95 / 0.5 = 1.9, accepting everything 0.5 / 0.5 = 1.
    dcf, threshold = min_dcf([5.0, 5.0], [5.0])
    assert dcf == pytest.approx(1.0)
    assert threshold > 5.0
    assert brute_force_dcf([5.0, 5.0], [5.0], threshold, 0.05, 1.0, 10.0) == pytest.approx(1.0)


def test_bayes_threshold_hand_values() -> None:
    assert bayes_threshold() == pytest.approx(math.log(1.9))
    assert bayes_threshold(p_spoof=0.5, c_miss=1.0, c_fa=1.0) == 0.0
    assert bayes_threshold(p_spoof=0.5, c_miss=1.0, c_fa=2.0) == pytest.approx(math.log(0.5))


def test_act_dcf_hand_case() -> None:
    # Threshold ln 1.9 = 0.642: bona fide -2, 1 -> P_miss 0.5; spoof 0.5, 3 -> P_fa 0.5; (0.475 + 0.25) / 0.5.
    assert act_dcf([-2.0, 1.0], [0.5, 3.0]) == pytest.approx(1.45)
    # An LLR exactly at the threshold is called spoof.
    at = math.log(1.9)
    assert act_dcf([at], [at]) == pytest.approx(1.9)
    assert act_dcf([-10.0], [10.0]) == 0.0


def test_act_dcf_shows_miscalibration_that_min_dcf_ignores() -> None:
    bonafide, spoof = [-3.0, -2.0, -1.0], [1.0, 2.0, 3.0]
    shifted_b, shifted_s = [b + 5.0 for b in bonafide], [s + 5.0 for s in spoof]
    assert min_dcf(shifted_b, shifted_s)[0] == min_dcf(bonafide, spoof)[0] == 0.0
    assert act_dcf(bonafide, spoof) == 0.0
    assert act_dcf(shifted_b, shifted_s) == pytest.approx(1.9)  # every human flagged


@pytest.mark.parametrize("bad", [{"p_spoof": 0.0}, {"p_spoof": 1.0}, {"c_miss": 0.0}, {"c_fa": -1.0}])
def test_cost_model_is_checked(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        min_dcf([0.0], [1.0], **bad)
    with pytest.raises(ValueError):
        act_dcf([0.0], [1.0], **bad)


def test_cllr_hand_cases() -> None:
    assert cllr([0.0, 0.0], [0.0]) == pytest.approx(1.0)
    # log2(1 + 1/3) for each class.
    assert cllr([-math.log(3.0)], [math.log(3.0)]) == pytest.approx(math.log2(4.0 / 3.0))
    # Unbalanced classes are averaged per class: bona fide terms log2(2) and log2(1 + e^-1), spoof log2(1 + e^-2).
    expected = 0.5 * ((1.0 + math.log2(1 + math.exp(-1.0))) / 2 + math.log2(1 + math.exp(-2.0)))
    assert cllr([0.0, -1.0], [2.0]) == pytest.approx(expected)
    # Confidently wrong LLRs cost about |LLR| / ln 2 bits without overflowing.
    assert cllr([-1000.0], [1000.0]) == pytest.approx(0.0, abs=1e-12)
    assert cllr([-1000.0], [-1000.0]) == pytest.approx(0.5 * 1000.0 / math.log(2.0))


def test_min_cllr_hand_cases() -> None:
    assert min_cllr([0.0, 1.0], [2.0, 3.0]) == pytest.approx(0.0, abs=1e-12)
    assert min_cllr([3.0] * 4, [3.0] * 2) == pytest.approx(1.0)
    assert min_cllr([2.0, 3.0], [0.0, 1.0]) == pytest.approx(1.0)  # reversed: PAV pools everything
    # Sorted labels 0,1,0,1 -> PAV posteriors 0, .5, .5, 1 -> LLRs -inf, 0, 0, inf: 1 bit on half of each class.
    assert min_cllr([0.0, 2.0], [1.0, 3.0]) == pytest.approx(0.5)
    # Labels 0,1,0,0 -> posteriors 0, 1/3, 1/3, 1/3; prior odds 1/3, so the pooled LLR is ln(0.5) - ln(1/3) = ln 1.5.
    expected = 0.5 * (2 / 3 * math.log2(2.5) + math.log2(1 + 1 / 1.5))
    assert min_cllr([0.0, 2.0, 3.0], [1.0]) == pytest.approx(expected)


@settings(max_examples=100, deadline=None)
@given(
    bonafide=scores,
    spoof=scores,
    cost=st.sampled_from([(0.05, 1.0, 10.0), (0.5, 1.0, 1.0), (0.01, 1.0, 1.0), (0.3, 2.0, 0.5)]),
)
def test_min_dcf_matches_a_brute_force_loop_over_thresholds(
    bonafide: list[int], spoof: list[int], cost: tuple[float, float, float]
) -> None:
    p, c_miss, c_fa = cost
    values = sorted(set(bonafide) | set(spoof))
    candidates = [v + offset for v in values for offset in (-0.5, 0.0, 0.5)]
    brute = min(brute_force_dcf(bonafide, spoof, t, p, c_miss, c_fa) for t in candidates)
    dcf, threshold = min_dcf(bonafide, spoof, p_spoof=p, c_miss=c_miss, c_fa=c_fa)
    assert dcf == pytest.approx(brute, abs=1e-12)
    assert brute_force_dcf(bonafide, spoof, threshold, p, c_miss, c_fa) == pytest.approx(dcf, abs=1e-12)
    assert 0.0 <= dcf <= 1.0 + 1e-12  # accepting everything costs exactly 1
    assert act_dcf(bonafide, spoof, p_spoof=p, c_miss=c_miss, c_fa=c_fa) >= dcf - 1e-12


@settings(max_examples=100, deadline=None)
@given(bonafide=scores, spoof=scores)
def test_min_cllr_bounds_and_invariance(bonafide: list[int], spoof: list[int]) -> None:
    b, s = np.asarray(bonafide, float) / 10.0, np.asarray(spoof, float) / 10.0
    best = min_cllr(b, s)
    assert -1e-12 <= best <= 1.0 + 1e-9
    assert best <= cllr(b, s) + 1e-9  # no recalibration beats the optimal monotonic one
    assert min_cllr(np.exp(b), np.exp(s)) == pytest.approx(best, abs=1e-9)
    # Cllr is symmetric: ASVspoof's bona-fide-high LLRs give the same cost.
    assert cllr(-s, -b) == pytest.approx(cllr(b, s))


def test_min_cllr_is_finite_for_almost_constant_scores() -> None:
    # An untrained model's outputs differ in the last bits; PAV on raw floats gave NaN here.
    rng = np.random.default_rng(3)
    base = 0.4567
    bonafide = base + 1e-15 * rng.integers(0, 5, 12)
    spoof = base + 1e-15 * rng.integers(0, 5, 10)
    value = min_cllr(bonafide, spoof)
    assert np.isfinite(value) and 0.0 <= value <= 1.0 + 1e-9
