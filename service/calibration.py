"""From raw logits to what a caller reads: a log-likelihood ratio, a probability and a verdict band."""

from __future__ import annotations

import numpy as np

from service.card import Calibration, ModelCard


def logits_to_llr(logits: np.ndarray, calibration: Calibration, offset: np.ndarray | float = 0.0) -> np.ndarray:
    """Platt-scaled logit difference. Using the difference keeps the result invariant to a shared logit offset.

    `offset` is added to the difference before scaling: a text model's n-gram term (service.text.ngram_model)."""
    logits = np.asarray(logits, dtype=np.float64)
    return calibration.scale * (logits[..., 1] - logits[..., 0] + offset) + calibration.bias


def llr_to_probability(llr: np.ndarray | float) -> np.ndarray:
    """Posterior at equal priors; the tanh form never overflows for large |llr|."""
    return 0.5 * (1.0 + np.tanh(np.asarray(llr, dtype=np.float64) / 2.0))


def verdict(llr: float, card: ModelCard) -> str:
    """The highest band whose threshold the LLR reaches; the lowest band when it reaches none."""
    band = card.bands[0]
    for name in card.bands[1:]:
        if llr >= card.thresholds[name]:
            band = name
    return band
