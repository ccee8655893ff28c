"""The speech gate: non-speech is never judged, speech is, and a live stream gates like the whole clip."""

import numpy as np
import pytest

from service.audio.vad import FRAME_S, SpeechActivity, SpeechGate, enough_speech, frame_probabilities
from tests.audiokit import speech, tone

RATE = 16000


def _t(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * RATE)) / RATE


def dtmf(seconds: float = 4.0) -> np.ndarray:
    t = _t(seconds)
    x = np.zeros_like(t)
    for i, (low, high) in enumerate([(697, 1209), (770, 1336), (852, 1477), (941, 1336)] * 2):
        on = (t >= i * 0.5) & (t < i * 0.5 + 0.3)
        x[on] = 0.3 * (np.sin(2 * np.pi * low * t[on]) + np.sin(2 * np.pi * high * t[on]))
    return x.astype(np.float32)


def plucked_strings(seconds: float = 4.0) -> np.ndarray:
    t = _t(seconds)
    x = np.zeros_like(t)
    for i, f in enumerate([220, 262, 330, 392, 440, 523, 659, 784]):
        on = t >= i * 0.5
        tt = t[on] - i * 0.5
        x[on] += 0.3 * np.exp(-3 * tt) * sum(np.sin(2 * np.pi * f * k * tt) / k for k in range(1, 6))
    return x.astype(np.float32)


def noise(seconds: float = 4.0, *, pink: bool = False) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(int(seconds * RATE))
    if pink:
        spectrum = np.fft.rfft(x)
        x = np.fft.irfft(spectrum / np.sqrt(np.arange(1, spectrum.size + 1)), x.size)
    return (0.2 * x / x.std()).astype(np.float32)


NON_SPEECH = {
    "digital silence": lambda: np.zeros(4 * RATE, np.float32),
    "440 Hz tone": lambda: tone(4.0, RATE),
    "DTMF": dtmf,
    "plucked strings": plucked_strings,
    "white noise": noise,
    "pink noise": lambda: noise(pink=True),
}


@pytest.mark.parametrize("name", sorted(NON_SPEECH))
def test_non_speech_holds_no_speech(name: str) -> None:
    probs = frame_probabilities(NON_SPEECH[name](), RATE)
    assert probs.size == 125
    assert np.count_nonzero(probs >= 0.5) * FRAME_S < 0.2


@pytest.mark.parametrize("lang", ["en", "nl"])
@pytest.mark.parametrize("rate", [8000, 16000])
def test_speech_is_speech_at_both_rates(lang: str, rate: int) -> None:
    probs = frame_probabilities(speech(4.0, rate, lang=lang), rate)
    assert np.count_nonzero(probs >= 0.5) * FRAME_S > 2.5


def test_pieces_give_the_same_probabilities_as_the_whole() -> None:
    x = speech(3.0)
    whole = frame_probabilities(x, RATE)
    activity = SpeechActivity()
    pieces = [activity.push(x[i : i + 320]) for i in range(0, x.size, 320)]  # 20 ms frames
    streamed = np.concatenate([*pieces, activity.finish()])
    np.testing.assert_allclose(streamed, whole, atol=1e-5)


def test_gate_counts_speech_inside_a_span_at_the_model_rate() -> None:
    x = np.concatenate([np.zeros(2 * 8000, np.float32), speech(2.0, 8000)])
    gate = SpeechGate(8000, 0.5)
    for i in range(0, x.size, 160):
        gate.push(x[i : i + 160])
    gate.finish()
    assert gate.speech_in(0, 2 * 8000) < 0.1
    assert gate.speech_in(2 * 8000, 4 * 8000) > 1.2
    assert gate.speech_s == pytest.approx(gate.speech_in(0, x.size))


def test_enough_speech_asks_half_of_a_short_clip() -> None:
    assert enough_speech(1.0, 4.0, 1.0) and not enough_speech(0.9, 4.0, 1.0)
    assert enough_speech(0.6, 1.2, 1.0) and not enough_speech(0.5, 1.2, 1.0)
    assert not enough_speech(0.0, 4.0, 0.0)


def test_push_after_finish_is_refused() -> None:
    activity = SpeechActivity()
    activity.finish()
    with pytest.raises(RuntimeError):
        activity.push(np.zeros(10, np.float32))
