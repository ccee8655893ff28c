"""Platt calibration and verdict thresholds for a text detector, from development-set scores.

The exporter fits them for the ONNX model (on raw logit differences, max over windows) and the evaluation fits
them for the TF-IDF baseline (on its log-odds), so both are judged at thresholds chosen the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from service.card import TEXT_BANDS
from training.calibrate import fit_platt, threshold_at_fpr, threshold_at_miss
from training.spoof_metrics import compute_eer

BAND_NAMES: tuple[str, str, str] = (TEXT_BANDS[1], TEXT_BANDS[2], TEXT_BANDS[3])  # inconclusive, likely_scam, scam
# Operating points for a service whose users drown in false alarms first: an ad platform or a telecom scores
# millions of legit texts for every scam. `likely_scam` flags at most 2% of legit dev texts, `scam` at most 0.5%.
LIKELY_SCAM_MAX_FPR = 0.02
SCAM_MAX_FPR = 0.005
INCONCLUSIVE_MISS = 0.05
MIN_INCONCLUSIVE_WIDTH = 1.0  # LLR: a band a reviewer can use, not a sliver


@dataclass(frozen=True)
class TextCalibration:
    scale: float
    bias: float
    thresholds: dict[str, float]  # lowest LLR of each band above "legit"

    def llr(self, raw_scores: np.ndarray) -> np.ndarray:
        return self.scale * np.asarray(raw_scores, dtype=np.float64) + self.bias

    def card_calibration(self) -> dict[str, float | str]:
        return {"method": "platt", "scale": self.scale, "bias": self.bias}


def band_thresholds(legit_llr: np.ndarray, scam_llr: np.ndarray) -> dict[str, float]:
    """`likely_scam` where at most 2% of legit texts score (or the equal-error point if stricter), `scam` at
    0.5%, and `inconclusive` where 95% of scams score, at least 1 LLR below `likely_scam`."""
    _, eer_threshold = compute_eer(legit_llr, scam_llr)
    likely = max(eer_threshold, threshold_at_fpr(legit_llr, LIKELY_SCAM_MAX_FPR))
    scam = max(likely, threshold_at_fpr(legit_llr, SCAM_MAX_FPR))
    low = min(threshold_at_miss(scam_llr, INCONCLUSIVE_MISS), likely - MIN_INCONCLUSIVE_WIDTH)
    # rounded outward, so the rounding never lets more legit texts over a line than the rate allows
    return dict(zip(BAND_NAMES, (math.floor(low * 1e4) / 1e4, math.ceil(likely * 1e4) / 1e4,
                                 math.ceil(scam * 1e4) / 1e4), strict=True))


def calibrate(labels: Sequence[int] | np.ndarray, raw_scores: np.ndarray) -> TextCalibration:
    """Platt scale and bias on the raw scores, then the band thresholds on the resulting dev LLRs
    (`band_thresholds`)."""
    y = np.asarray(labels, dtype=np.int64)
    raw = np.asarray(raw_scores, dtype=np.float64)
    if y.shape != raw.shape:
        raise ValueError(f"{y.size} labels for {raw.size} scores")
    scale, bias = fit_platt(raw[y == 0], raw[y == 1])
    llr = scale * raw + bias
    thresholds = band_thresholds(llr[y == 0], llr[y == 1])
    return TextCalibration(scale=scale, bias=bias, thresholds=thresholds)
