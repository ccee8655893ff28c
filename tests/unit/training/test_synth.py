"""Offline synthesisers and vocoder resynthesis: every engine that exists here speaks, every vocoder keeps the voice.

Engines and vocoders are optional on a developer machine, so each test skips with the reason when its engine or
package is missing; what is installed must work.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from training.synth import ENGINES, RESYNTHESIZERS, SENTENCES, Engine, SynthesisError, sentences
from training.synth.engines import Festival, Pico, run_tool
from training.synth.resynth import _REQUIRES

RATE = 16000


# --- prompts ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_sentences_are_many_unique_and_clean(lang: str) -> None:
    pool = SENTENCES[lang]
    assert len(pool) >= 120
    assert len(set(pool)) == len(pool)
    assert all(s == s.strip() and len(s.split()) >= 3 for s in pool)
    if lang == "en":
        assert all(s.isascii() for s in pool), "festival and flite read Latin-1 at best"


@pytest.mark.parametrize(
    ("lang", "phrases"),
    [
        ("nl", ["fraudeafdeling van uw bank", "veilige rekening", "verificatiecode", "hoi mam", "bitcoin"]),
        ("en", ["fraud department of your bank", "safe account", "verification code", "hi mum", "bitcoin"]),
    ],
)
def test_fraud_call_phrases_are_present(lang: str, phrases: list[str]) -> None:
    text = " ".join(SENTENCES[lang]).lower()
    for phrase in phrases:
        assert phrase in text


def test_sampling_is_without_replacement_until_the_pool_is_used_up() -> None:
    pool = SENTENCES["nl"]
    picked = sentences("nl", rng=np.random.default_rng(0), n=len(pool))
    assert sorted(picked) == sorted(pool)
    more = sentences("en", rng=np.random.default_rng(1), n=len(SENTENCES["en"]) + 5)
    assert len(more) == len(SENTENCES["en"]) + 5 and set(more) == set(SENTENCES["en"])
    assert sentences("en", rng=np.random.default_rng(2), n=7) == sentences("en", rng=np.random.default_rng(2), n=7)
    with pytest.raises(ValueError):
        sentences("de", rng=np.random.default_rng(0), n=1)


# --- engines -----------------------------------------------------------------------------------------------------

ENGINE_PARAMS = [
    pytest.param(cls(), marks=pytest.mark.skipif(not cls().available(), reason=f"{cls.name} is not installed here"),
                 id=cls.name)
    for cls in ENGINES
]  # fmt: skip


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_engine_speaks_a_short_sentence(engine: Engine) -> None:
    lang = "nl" if engine.voices("nl") else "en"
    voices = engine.voices(lang)
    assert voices and all(isinstance(v, str) for v in voices)
    text = {"nl": "Goedemiddag, u spreekt met de bank.", "en": "Good afternoon, this is your bank calling."}[lang]
    audio, rate = engine.synthesize(text, lang=lang, voice=voices[0], rng=np.random.default_rng(0))
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert np.all(np.isfinite(audio))
    assert 8000 <= rate <= 48000
    assert 0.3 <= audio.size / rate <= 15.0
    assert float(np.max(np.abs(audio))) > 0.01


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_engine_rejects_an_unknown_voice(engine: Engine) -> None:
    with pytest.raises(SynthesisError):
        engine.synthesize("Hello there.", lang="en", voice="zz_no_such_voice", rng=np.random.default_rng(0))


def test_a_failing_subprocess_raises_with_its_stderr() -> None:
    cmd = [sys.executable, "-c", "import sys; sys.stderr.write('voice file missing'); sys.exit(3)"]
    with pytest.raises(SynthesisError, match="voice file missing"):
        run_tool(cmd, timeout=30)
    with pytest.raises(SynthesisError, match="could not start"):
        run_tool(["/nonexistent/synthesiser"], timeout=30)


@pytest.mark.skipif(not Pico().available(), reason="pico2wave is not installed here")
def test_pico_exit_status_failure_carries_stderr() -> None:
    with pytest.raises(SynthesisError, match="Unknown language"):
        Pico().synthesize("Hello.", lang="en", voice="xx-XX", rng=np.random.default_rng(0))


@pytest.mark.skipif(not Festival().available(), reason="festival is not installed here")
def test_festival_scheme_error_is_caught_despite_exit_status_zero() -> None:
    with pytest.raises(SynthesisError, match="SIOD ERROR|voice_zz"):
        Festival().synthesize("Hello.", lang="en", voice="zz_no_such_voice", rng=np.random.default_rng(0))


# --- resynthesis ---------------------------------------------------------------------------------------------------


def voiced_signal(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """A vowel-like tone: harmonics with a falling tilt, slowly gliding F0, syllable-rate loudness, a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 140.0 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    tone = sum(np.sin(k * phase) / k for k in range(1, 20)) * (0.3 + 0.7 * np.sin(2 * np.pi * 2 * t) ** 2)
    return (0.3 * tone + 0.003 * rng.standard_normal(t.size)).astype(np.float32)


def _log_mel(x: np.ndarray, n_fft: int = 512, hop: int = 160, n_mels: int = 40) -> np.ndarray:
    """Level-normalised log-mel frames in plain numpy, so the check does not depend on the vocoders' packages."""
    frames = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), n_fft)[::hop] * np.hanning(n_fft)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    edges = 700 * (10 ** (np.linspace(0, mel(RATE / 2), n_mels + 2) / 2595) - 1)
    bins = np.fft.rfftfreq(n_fft, 1 / RATE)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    bank = np.maximum(0, np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)))
    logmel = np.log10(power @ bank.T + 1e-10)
    return logmel - logmel.mean()


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(_log_mel(a) - _log_mel(b))))


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.skipif(not _has(m), reason=f"{m} is not installed here"), id=n)
        for n, m in _REQUIRES.items()
    ],
)
def test_resynthesis_keeps_length_and_spectral_envelope(name: str) -> None:
    x = voiced_signal()
    y = RESYNTHESIZERS[name](x, RATE, rng=np.random.default_rng(0))
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.all(np.isfinite(y))
    assert np.isclose(np.max(np.abs(y)), np.max(np.abs(x)), rtol=1e-4)
    noise = np.random.default_rng(1).standard_normal(x.size)
    noise = (noise * np.max(np.abs(x)) / np.max(np.abs(noise))).astype(np.float32)
    assert _distance(x, y) < 0.25 * _distance(x, noise)


def test_resynthesizer_ids_are_the_manifest_system_ids() -> None:
    assert set(RESYNTHESIZERS) == {"world", "mlsa", "griffin_lim"}
