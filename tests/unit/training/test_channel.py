"""Channel simulation: filters, G.711 parity with the service, codecs, impairments, conditions, matched chain."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.audio import alaw_encode, mulaw_decode, mulaw_encode, resample
from training import channel as ch

RATE = 16000


def tone(freq: float, *, seconds: float = 1.0, rate: int = RATE, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def speech_like(*, seconds: float = 1.0, rate: int = RATE, seed: int = 0, top_hz: float = 3000.0) -> np.ndarray:
    """Voiced-speech stand-in: harmonics of a wandering 100-200 Hz pitch below `top_hz`, with syllable envelope."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = 150.0 + 40.0 * np.sin(2 * np.pi * rng.uniform(1.0, 3.0) * t + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    y = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k for k in range(1, int(top_hz // 190) + 1))
    y = y * (0.6 + 0.4 * np.sin(2 * np.pi * 4.0 * t))
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


def voiced(*, seconds: float = 1.0, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """Source-filter speech stand-in (pitch-jittered pulses through three formants): what speech codecs model.

    CELP codecs such as AMR-NB reproduce the waveform of LPC-shaped speech, not of arbitrary harmonic tones.
    """
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    pulses = 0.02 * rng.standard_normal(n)
    position = 0.0
    while position < n:
        pulses[int(position)] += 1.0
        position += rate / rng.uniform(100.0, 200.0)
    t = np.arange(int(0.02 * rate)) / rate
    bands = ((500, 80), (1500, 120), (2500, 200))
    formants = np.sum([np.exp(-np.pi * bw * t) * np.sin(2 * np.pi * f * t) for f, bw in bands], axis=0)
    y = np.convolve(pulses, formants)[:n] * (0.6 + 0.4 * np.sin(2 * np.pi * 3.0 * np.arange(n) / rate))
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


def level_db(y: np.ndarray, x: np.ndarray) -> float:
    """Gain of y over x in dB, on the middle half so filter transients do not count."""
    mid = slice(len(x) // 4, 3 * len(x) // 4)
    return float(10 * np.log10(np.mean(y[mid].astype(np.float64) ** 2) / np.mean(x[mid].astype(np.float64) ** 2)))


def snr_db(reference: np.ndarray, y: np.ndarray) -> float:
    reference = reference.astype(np.float64)
    return float(10 * np.log10(np.sum(reference**2) / np.sum((y.astype(np.float64) - reference) ** 2)))


# --------------------------------------------------------------------------------------------- band-pass


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
def test_bandpass_stops_out_of_band_tones_and_keeps_voice_band(rate: int) -> None:
    for freq in (100.0, 6000.0):
        if freq < rate / 2:
            x = tone(freq, rate=rate)
            assert level_db(ch.bandpass(x, rate), x) < -20.0
    x = tone(1000.0, rate=rate)
    assert abs(level_db(ch.bandpass(x, rate), x)) < 1.0


def test_bandpass_rejects_edges_outside_nyquist() -> None:
    with pytest.raises(ValueError):
        ch.bandpass(tone(1000.0, rate=8000), 8000, 300.0, 4000.0)
    with pytest.raises(ValueError):
        ch.bandpass(tone(1000.0), RATE, 500.0, 300.0)


# --------------------------------------------------------------------------------------------- G.711


@pytest.mark.parametrize("law", ["mulaw", "alaw"])
def test_g711_round_trip_keeps_speech_above_30_db_snr(law: ch.Law) -> None:
    x = speech_like()
    y = ch.g711(x, RATE, law=law)
    assert y.dtype == np.float32 and len(y) == len(x)
    assert snr_db(x, y) > 30.0


def test_g711_output_keeps_the_8k_band_limit() -> None:
    x = (0.1 * np.random.default_rng(0).standard_normal(RATE)).astype(np.float32)
    y = ch.g711(x, RATE)
    power = np.abs(np.fft.rfft(y.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(y), 1 / RATE)
    assert power[freqs > 4100].sum() / power.sum() < 1e-3


@pytest.mark.parametrize("law", ["mulaw", "alaw"])
def test_telephone_is_the_service_codec_path(law: ch.Law) -> None:
    x = speech_like(seed=3, top_hz=7000.0)
    x8k = resample(x, RATE, 8000)
    encode = mulaw_encode if law == "mulaw" else alaw_encode
    assert ch.telephone_codes(x, RATE, law=law) == encode(ch.bandpass(x8k, 8000))
    assert ch.telephone_codes(x, RATE, law=law, bandpass=False) == encode(x8k)


def test_telephone_decodes_its_codes_with_the_service_decoder() -> None:
    x = speech_like(seed=4)
    expected = resample(mulaw_decode(ch.telephone_codes(x, RATE, law="mulaw")), 8000, RATE)
    y = ch.telephone(x, RATE, law="mulaw")
    assert len(y) == len(x)
    np.testing.assert_array_equal(y[: len(expected)], expected[: len(y)])


def test_telephone_with_rng_varies_band_edges_deterministically() -> None:
    x = speech_like(seed=5, top_hz=7000.0)
    a = ch.telephone(x, RATE, law="alaw", rng=np.random.default_rng(1))
    b = ch.telephone(x, RATE, law="alaw", rng=np.random.default_rng(1))
    c = ch.telephone(x, RATE, law="alaw", rng=np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, ch.telephone(x, RATE, law="alaw"))


# --------------------------------------------------------------------------------------------- lossy codecs


def test_opus_or_mp3_is_available() -> None:
    available = ch.available_codecs()
    assert "opus" in available or "mp3" in available


@pytest.mark.parametrize("codec", ["opus", "mp3", "aac", "amr_nb", "g722"])
@pytest.mark.parametrize("rate", [8000, 16000])
def test_lossy_codec_keeps_length_and_waveform(codec: str, rate: int) -> None:
    if codec not in ch.available_codecs():
        pytest.skip(f"{codec} not in this FFmpeg build")
    x = voiced(rate=rate, seed=6)
    y = ch.lossy_codec(x, rate, codec=codec)
    assert y.dtype == np.float32 and len(y) == len(x)
    assert np.all(np.isfinite(y)) and np.max(np.abs(y)) <= 1.0
    assert np.corrcoef(x, y)[0, 1] > 0.5
    for n in (1, 7, 1234):
        assert len(ch.lossy_codec(x[:n], rate, codec=codec)) == n
    assert len(ch.lossy_codec(np.zeros(0, np.float32), rate, codec=codec)) == 0


def test_lossy_codec_refuses_unavailable_codecs(monkeypatch: pytest.MonkeyPatch) -> None:
    x = speech_like()
    with pytest.raises(ch.CodecUnavailableError, match="unknown codec"):
        ch.lossy_codec(x, RATE, codec="speex-ultra")
    monkeypatch.setattr(ch, "available_codecs", lambda: ["mp3"])
    with pytest.raises(ch.CodecUnavailableError, match="not available"):
        ch.lossy_codec(x, RATE, codec="opus")


def test_lossy_codec_refuses_bitrates_the_codec_lacks() -> None:
    if "amr_nb" not in ch.available_codecs():
        pytest.skip("amr_nb not in this FFmpeg build")
    with pytest.raises(ValueError, match="bitrate"):
        ch.lossy_codec(speech_like(), RATE, codec="amr_nb", bitrate=9000)


# --------------------------------------------------------------------------------------------- packet loss


def _frames(y: np.ndarray, frame: int) -> np.ndarray:
    return y[: len(y) // frame * frame].reshape(-1, frame)


@pytest.mark.parametrize("concealment", ["repeat", "zero"])
def test_packet_loss_hits_about_loss_rate_of_frames_deterministically(concealment: Literal["repeat", "zero"]) -> None:
    x = (0.1 * np.random.default_rng(0).standard_normal(20 * RATE)).astype(np.float32)  # 1000 frames of 20 ms
    a = ch.packet_loss(x, RATE, loss_rate=0.1, rng=np.random.default_rng(7), concealment=concealment)
    b = ch.packet_loss(x, RATE, loss_rate=0.1, rng=np.random.default_rng(7), concealment=concealment)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, ch.packet_loss(x, RATE, loss_rate=0.1, rng=np.random.default_rng(8)))
    assert len(a) == len(x)
    frame = RATE // 50
    xs, ys = _frames(x, frame), _frames(a, frame)
    lost = np.flatnonzero(np.any(xs != ys, axis=1))
    assert 0.07 < len(lost) / len(xs) < 0.13
    for i in lost:
        if concealment == "zero" or i == 0:
            assert not ys[i].any()
        else:  # the previous output frame replayed, halved if that one was itself a replay
            assert np.allclose(ys[i], ys[i - 1]) or np.allclose(ys[i], 0.5 * ys[i - 1])


def test_packet_loss_extremes() -> None:
    x = speech_like()
    np.testing.assert_array_equal(ch.packet_loss(x, RATE, loss_rate=0.0, rng=np.random.default_rng(0)), x)
    assert not ch.packet_loss(x, RATE, loss_rate=1.0, rng=np.random.default_rng(0)).any()


# --------------------------------------------------------------------------------------------- noise


@pytest.mark.parametrize("colour", ["white", "pink"])
@pytest.mark.parametrize("target", [0.0, 10.0, 20.0, 45.0])
def test_add_noise_hits_the_snr(colour: Literal["white", "pink"], target: float) -> None:
    x = speech_like(seed=9)
    y = ch.add_noise(x, snr_db=target, rng=np.random.default_rng(1), colour=colour)
    assert abs(snr_db(x, y) - target) < 0.1


def test_add_noise_uses_given_noise_at_the_snr() -> None:
    x = speech_like(seed=10)
    hum = tone(50.0, seconds=0.3, amplitude=0.8)  # shorter than the clip: tiled
    y = ch.add_noise(x, snr_db=15.0, rng=np.random.default_rng(2), noise=hum)
    assert abs(snr_db(x, y) - 15.0) < 0.1
    power = np.abs(np.fft.rfft((y - x).astype(np.float64))) ** 2  # 1 Hz bins: all of the added noise is the hum
    assert power[50] / power.sum() > 0.99


def test_add_noise_leaves_silence_alone_and_never_clips() -> None:
    silence = np.zeros(RATE, np.float32)
    np.testing.assert_array_equal(ch.add_noise(silence, snr_db=10.0, rng=np.random.default_rng(0)), silence)
    loud = np.ones(RATE, np.float32)
    y = ch.add_noise(loud, snr_db=0.0, rng=np.random.default_rng(0))
    assert np.max(np.abs(y)) <= 1.0
    assert abs(snr_db(loud * (np.dot(y, loud) / np.dot(loud, loud)), y) - 0.0) < 0.1


# --------------------------------------------------------------------------------------------- conditions


def test_condition_names() -> None:
    names = set(ch.CONDITIONS)
    assert {"clean", "mulaw8k", "alaw8k", "telephone_mulaw", "packetloss5", "noise20db", "noise10db"} <= names
    assert ({"opus8k", "opus16k"} <= names) == ("opus" in ch.available_codecs())
    with pytest.raises(ValueError, match="unknown condition"):
        ch.apply_condition("underwater", speech_like(), RATE, rng=np.random.default_rng(0))


@pytest.mark.parametrize("rate", [8000, 16000])
def test_every_condition_runs_and_keeps_length(rate: int) -> None:
    x = speech_like(rate=rate, seed=11, seconds=0.7)
    for name in ch.CONDITIONS:
        a = ch.apply_condition(name, x, rate, rng=np.random.default_rng(3))
        b = ch.apply_condition(name, x, rate, rng=np.random.default_rng(3))
        assert a.dtype == np.float32 and len(a) == len(x), name
        assert np.all(np.isfinite(a)) and np.max(np.abs(a)) <= 1.0, name
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ch.apply_condition("clean", x, rate, rng=np.random.default_rng(0)), x)


# --------------------------------------------------------------------------------------------- matched chain

FULL = ch.MatchedChain(p_reverb=1.0, p_channel=1.0)


def padded_utterance(seconds_silence: float = 1.0) -> np.ndarray:
    gap = np.zeros(int(seconds_silence * RATE), np.float32)
    return np.concatenate([gap, speech_like(seed=12, top_hz=6000.0), gap])


@pytest.mark.parametrize("config", [ch.MatchedChain(), FULL, ch.MatchedChain(p_channel=1.0, p_telephone=0.0)])
def test_apply_chain_is_deterministic_bounded_and_at_target_loudness(config: ch.MatchedChain) -> None:
    x = padded_utterance()
    outputs = []
    for seed in range(6):
        y = ch.apply_chain(x, RATE, config, rng=np.random.default_rng(seed))
        np.testing.assert_array_equal(y, ch.apply_chain(x, RATE, config, rng=np.random.default_rng(seed)))
        assert y.dtype == np.float32 and np.all(np.isfinite(y)) and np.max(np.abs(y)) <= 1.0
        low, high = config.loudness_dbfs
        assert low - 0.5 <= ch.rms_dbfs(y) <= high + 0.5
        outputs.append(y)
    assert all(not np.array_equal(outputs[0][:16000], y[:16000]) for y in outputs[1:])


def test_apply_chain_trims_surrounding_silence_to_the_margin() -> None:
    x = padded_utterance()
    for seed in range(4):
        y = ch.apply_chain(x, RATE, FULL, rng=np.random.default_rng(seed))
        assert 1.0 + 2 * 0.05 - 0.03 <= len(y) / RATE <= 1.0 + 2 * 0.15 + 0.03


def test_trim_silence_leaves_exact_margins() -> None:
    x = padded_utterance(0.5)
    y = ch.trim_silence(x, RATE, lead_s=0.1, trail_s=0.05)
    active = np.flatnonzero(y)
    assert abs(active[0] / RATE - 0.1) < 0.002
    assert abs((len(y) - 1 - active[-1]) / RATE - 0.05) < 0.002
    # too little silence in the source: the margin is padded rather than lost
    z = ch.trim_silence(speech_like(seed=1), RATE, lead_s=0.1, trail_s=0.1)
    assert len(z) >= RATE + int(0.19 * RATE) and not z[: int(0.09 * RATE)].any() and not z[-int(0.09 * RATE) :].any()


def test_apply_chain_config_validation() -> None:
    with pytest.raises(ValueError):
        ch.MatchedChain(snr_db=(50.0, 30.0))
    with pytest.raises(ValueError):
        ch.MatchedChain(p_channel=1.5)


short_audio = st.one_of(
    st.lists(st.floats(-1.0, 1.0, width=32), min_size=0, max_size=600).map(lambda v: np.array(v, np.float32)),
    st.integers(0, 3000).map(lambda n: np.zeros(n, np.float32)),
    st.tuples(st.integers(1, 3000), st.floats(-1.0, 1.0, width=32)).map(
        lambda t: np.eye(1, t[0], t[0] // 2, dtype=np.float32)[0] * t[1]
    ),
)


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=short_audio, rate=st.sampled_from([8000, 16000]), seed=st.integers(0, 2**32 - 1))
def test_apply_chain_never_yields_nan(x: np.ndarray, rate: int, seed: int) -> None:
    y = ch.apply_chain(x, rate, FULL, rng=np.random.default_rng(seed))
    assert y.dtype == np.float32
    assert np.all(np.isfinite(y)) and (y.size == 0 or np.max(np.abs(y)) <= 1.0)


def test_apply_chain_sanitises_non_finite_input() -> None:
    x = speech_like(seed=2)
    x[100], x[200], x[300] = np.nan, np.inf, -np.inf
    y = ch.apply_chain(x, RATE, FULL, rng=np.random.default_rng(0))
    assert np.all(np.isfinite(y))


# --------------------------------------------------------------------------------------------- crop


def test_crop_returns_fixed_length_windows() -> None:
    x = speech_like(seconds=2.0)
    a = ch.crop(x, RATE, seconds=0.5, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(a, ch.crop(x, RATE, seconds=0.5, rng=np.random.default_rng(0)))
    assert len(a) == RATE // 2
    start = int(np.flatnonzero(np.all(np.lib.stride_tricks.sliding_window_view(x, len(a)) == a, axis=1))[0])
    assert 0 <= start <= len(x) - len(a)


def test_crop_repeat_pads_short_clips() -> None:
    x = speech_like(seconds=0.3)
    y = ch.crop(x, RATE, seconds=1.0, rng=np.random.default_rng(0))
    assert len(y) == RATE
    np.testing.assert_array_equal(y[: len(x)], x)
    np.testing.assert_array_equal(y[len(x) : 2 * len(x)], x)
    assert len(ch.crop(np.zeros(0, np.float32), RATE, seconds=0.25, rng=np.random.default_rng(0))) == RATE // 4
