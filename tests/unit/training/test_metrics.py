"""compute_eer and roc_auc against hand-computed cases and rank-invariance properties."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.metrics import compute_eer, roc_auc

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


@pytest.mark.parametrize("metric", [compute_eer, roc_auc])
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
