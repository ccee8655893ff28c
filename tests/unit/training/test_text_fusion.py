"""The logistic fusion of the transformer and TF-IDF LLRs: weights from dev, bands from out-of-fold dev scores."""

from __future__ import annotations

import numpy as np
import pytest

from training.text.fusion import calibrate_fusion, fit_fusion, out_of_fold_raw


def _two_noisy_views(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int64)
    signal = np.where(y == 1, 2.0, -2.0)
    x = np.column_stack([signal + rng.normal(0, 2.0, n), signal + rng.normal(0, 2.0, n)])
    return y, x, [f"family-{i // 3}" for i in range(n)]


def test_fusion_of_two_independent_views_weighs_both_and_separates_better_than_either() -> None:
    y, x, _ = _two_noisy_views()
    fusion = fit_fusion(y, x)
    assert fusion.weights[0] > 0 and fusion.weights[1] > 0
    fused = fusion.raw(x)
    errors = [np.mean((view > np.median(view)) != y) for view in (x[:, 0], x[:, 1])]
    threshold = np.quantile(fused, 1 - y.mean())
    assert np.mean((fused > threshold) != y) < min(errors)


def test_out_of_fold_scores_never_use_their_own_family_and_bands_are_ordered() -> None:
    y, x, groups = _two_noisy_views()
    oof = out_of_fold_raw(y, x, groups)
    assert oof.shape == y.shape and np.all(np.isfinite(oof))
    assert not np.allclose(oof, fit_fusion(y, x).raw(x))  # each fold's weights differ from the full fit's
    _, calibration = calibrate_fusion(y, x, groups)
    bands = calibration.thresholds
    assert bands["inconclusive"] < bands["likely_scam"] <= bands["scam"]


def test_fusion_needs_two_features_per_text() -> None:
    with pytest.raises(ValueError, match="features"):
        fit_fusion([0, 1, 0], np.zeros((3, 3)))
