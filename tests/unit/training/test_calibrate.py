from __future__ import annotations

import numpy as np
import pytest

from training.calibrate import fit_platt, operating_points, threshold_at_fpr, threshold_at_miss


def test_platt_recovers_the_true_llr_of_gaussian_scores_whatever_the_class_balance() -> None:
    # bona fide ~ N(0, 1), spoof ~ N(2, 1): the true LLR is 2 s - 2.
    rng = np.random.default_rng(0)
    for n_neg, n_pos in ((20_000, 20_000), (2_000, 30_000)):
        scale, bias = fit_platt(rng.normal(0, 1, n_neg), rng.normal(2, 1, n_pos))
        assert scale == pytest.approx(2.0, abs=0.08)
        assert bias == pytest.approx(-2.0, abs=0.08)


def test_platt_keeps_a_positive_scale_for_reversed_scores() -> None:
    scale, _ = fit_platt(np.array([1.0, 2.0, 3.0]), np.array([-1.0, -2.0, -3.0]))
    assert scale > 0


def test_fpr_and_miss_thresholds_count_exactly() -> None:
    negative = np.arange(100, dtype=float)  # 0..99
    t = threshold_at_fpr(negative, 0.05)
    assert np.mean(negative >= t) == pytest.approx(0.05)
    positive = np.arange(100, dtype=float)
    m = threshold_at_miss(positive, 0.05)
    assert np.mean(positive < m) == pytest.approx(0.05)


def test_operating_points_are_ordered() -> None:
    rng = np.random.default_rng(1)
    points = operating_points(rng.normal(-2, 1, 500), rng.normal(2, 1, 500))
    assert points.low <= points.eer <= points.strict
    bands = points.as_bands(("inconclusive", "likely_fake", "fake"))
    assert list(bands.values()) == sorted(bands.values())
