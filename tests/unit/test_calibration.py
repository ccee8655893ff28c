import numpy as np
import pytest

from service.calibration import llr_to_probability, logits_to_llr, verdict
from service.card import Calibration, ModelCard
from tests.modelkit import _card


def test_llr_is_platt_scaled_logit_difference() -> None:
    cal = Calibration(scale=2.0, bias=-1.0)
    logits = np.array([[0.0, 1.0], [3.0, 3.0], [10.0, 0.0]])
    assert logits_to_llr(logits, cal).tolist() == [1.0, -1.0, -21.0]


def test_probability_is_stable_and_monotonic() -> None:
    llr = np.array([-1000.0, -5.0, 0.0, 5.0, 1000.0])
    p = llr_to_probability(llr)
    assert np.all(np.isfinite(p)) and np.all(np.diff(p) >= 0)
    assert p[2] == pytest.approx(0.5)
    assert p[3] == pytest.approx(1 / (1 + np.exp(-5.0)))
    assert p.min() >= 0.0 and p.max() <= 1.0


@pytest.mark.parametrize(
    ("llr", "band"), [(-5.0, "genuine"), (-1.0, "inconclusive"), (-0.5, "inconclusive"), (0.0, "likely_fake"),
                      (1.99, "likely_fake"), (2.0, "fake"), (50.0, "fake")]
)
def test_verdict_bands_follow_card_thresholds(llr: float, band: str) -> None:
    card = ModelCard.model_validate(_card("voice", "voice", "1", "model.onnx", "0" * 64,
                                          input={"sample_rate": 16000, "window_s": 1, "hop_s": 1,
                                                 "min_duration_s": 0.5}))
    assert verdict(llr, card) == band
