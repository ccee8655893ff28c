"""Platt calibration and verdict thresholds for a text detector, from development-set scores.

The exporter fits them for the ONNX model (on raw logit differences, max over windows) and the evaluation fits
them for the TF-IDF baseline (on its log-odds), so both are judged at thresholds chosen the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from service.card import TEXT_BANDS
from training.calibrate import fit_platt, operating_points

BAND_NAMES: tuple[str, str, str] = (TEXT_BANDS[1], TEXT_BANDS[2], TEXT_BANDS[3])  # inconclusive, likely_scam, scam


@dataclass(frozen=True)
class TextCalibration:
    scale: float
    bias: float
    thresholds: dict[str, float]  # lowest LLR of each band above "legit"

    def llr(self, raw_scores: np.ndarray) -> np.ndarray:
        return self.scale * np.asarray(raw_scores, dtype=np.float64) + self.bias

    def card_calibration(self) -> dict[str, float | str]:
        return {"method": "platt", "scale": self.scale, "bias": self.bias}


def calibrate(labels: Sequence[int] | np.ndarray, raw_scores: np.ndarray) -> TextCalibration:
    """Platt scale and bias on the raw scores, then the band thresholds on the resulting dev LLRs
    (`inconclusive` at 5% missed scams, `likely_scam` at the equal-error point, `scam` at 1% false alarms)."""
    y = np.asarray(labels, dtype=np.int64)
    raw = np.asarray(raw_scores, dtype=np.float64)
    if y.shape != raw.shape:
        raise ValueError(f"{y.size} labels for {raw.size} scores")
    scale, bias = fit_platt(raw[y == 0], raw[y == 1])
    llr = scale * raw + bias
    thresholds = operating_points(llr[y == 0], llr[y == 1]).as_bands(BAND_NAMES)
    return TextCalibration(scale=scale, bias=bias, thresholds=thresholds)
