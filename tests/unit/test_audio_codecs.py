"""G.711 / PCM codecs and resampling.

libsndfile's own RAW ULAW/ALAW codec is the independent reference: it is a separate implementation (lookup
tables, not Sun's segment code), so agreement is evidence rather than a tautology.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from service.audio import (
    RAW_CODECS,
    RAW_ENCODINGS,
    StreamResampler,
    alaw_decode,
    alaw_encode,
    decode_audio,
    mulaw_decode,
    mulaw_encode,
    pcm16_decode,
    pcm16_encode,
    resample,
)
from service.errors import InvalidInput

ALL_CODES = bytes(range(256))
ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)
G711 = {
    "ULAW": (mulaw_encode, mulaw_decode),
    "ALAW": (alaw_encode, alaw_decode),
}


def sndfile_decode(codes: bytes, subtype: str) -> np.ndarray:
    samples, _ = sf.read(io.BytesIO(codes), format="RAW", subtype=subtype, samplerate=8000, channels=1, dtype="int16")
    return samples


def sndfile_encode(samples: np.ndarray, subtype: str) -> np.ndarray:
    buffer = io.BytesIO()
    sf.write(buffer, samples, 8000, format="RAW", subtype=subtype)
    return np.frombuffer(buffer.getvalue(), dtype=np.uint8)


def as_int16(x: np.ndarray) -> np.ndarray:
    scaled = x.astype(np.float64) * 32768
    assert np.array_equal(scaled, np.round(scaled)), "decoded G.711 must be an exact int16 / 32768"
    return scaled.astype(np.int32)


@pytest.mark.parametrize("subtype", sorted(G711))
def test_decode_all_codes_matches_libsndfile(subtype: str) -> None:
    _, decode = G711[subtype]
    decoded = decode(ALL_CODES)
    assert decoded.dtype == np.float32
    assert decoded.shape == (256,)
    np.testing.assert_array_equal(as_int16(decoded), sndfile_decode(ALL_CODES, subtype))


@pytest.mark.parametrize(
    ("decode", "code", "value"),
    [
        (mulaw_decode, 0xFF, 0),
        (mulaw_decode, 0x7F, 0),
        (mulaw_decode, 0x00, -32124),
        (mulaw_decode, 0x80, 32124),
        (alaw_decode, 0xD5, 8),
        (alaw_decode, 0x55, -8),
        (alaw_decode, 0xAA, 32256),
        (alaw_decode, 0x2A, -32256),
    ],
)
def test_textbook_values(decode, code: int, value: int) -> None:
    assert as_int16(decode(bytes([code])))[0] == value


@pytest.mark.parametrize("decode", [mulaw_decode, alaw_decode])
def test_decode_accepts_uint8_and_int_arrays(decode) -> None:
    expected = decode(ALL_CODES)
    np.testing.assert_array_equal(decode(np.arange(256, dtype=np.uint8)), expected)
    np.testing.assert_array_equal(decode(np.arange(256, dtype=np.int64)), expected)
    with pytest.raises(ValueError):
        decode(np.array([256]))
    with pytest.raises(ValueError):
        decode(np.array([0.5]))
    assert decode(b"").shape == (0,)


@pytest.mark.parametrize("subtype", sorted(G711))
def test_encoder_matches_libsndfile_on_non_negative_and_code_values(subtype: str) -> None:
    encode, decode = G711[subtype]
    code_values = as_int16(decode(ALL_CODES)).astype(np.int16)
    samples = np.concatenate([ALL_INT16[ALL_INT16 >= 0], code_values])
    mine = np.frombuffer(encode(samples / 32768), dtype=np.uint8)
    np.testing.assert_array_equal(mine, sndfile_encode(samples, subtype))


@pytest.mark.parametrize("subtype", sorted(G711))
def test_encoder_differs_from_libsndfile_only_at_negative_thresholds(subtype: str) -> None:
    """Sun's g711.c floors a negative sample before taking its magnitude, libsndfile truncates toward zero.

    So the two disagree on a few negative samples that sit just past a decision threshold; the codes they pick
    there are neighbours (one quantisation step apart) and everything else is identical.
    """
    encode, decode = G711[subtype]
    mine = np.frombuffer(encode(ALL_INT16 / 32768), dtype=np.uint8)
    reference = sndfile_encode(ALL_INT16, subtype)
    differ = mine != reference
    assert ALL_INT16[differ].max() < 0
    assert differ.sum() < 0.01 * len(ALL_INT16)
    levels = np.unique(as_int16(decode(ALL_CODES)))
    mine_rank = np.searchsorted(levels, as_int16(decode(mine[differ])))
    reference_rank = np.searchsorted(levels, as_int16(decode(reference[differ])))
    np.testing.assert_array_equal(np.abs(mine_rank - reference_rank), 1)


@pytest.mark.parametrize("subtype", sorted(G711))
def test_encode_of_decoded_codes_is_stable(subtype: str) -> None:
    encode, decode = G711[subtype]
    decoded = decode(ALL_CODES)
    np.testing.assert_array_equal(decode(encode(decoded)), decoded)
    if subtype == "ALAW":  # A-law has no negative zero, so every code survives a round trip
        assert encode(decoded) == ALL_CODES


@pytest.mark.parametrize("subtype", sorted(G711))
def test_round_trip_error_is_bounded(subtype: str) -> None:
    encode, decode = G711[subtype]
    x = ALL_INT16 / 32768
    error = np.abs(decode(encode(x)) - x) * 32768
    in_range = np.abs(x) <= np.abs(decode(ALL_CODES)).max()
    # Half a quantisation step: about 1/32 of the magnitude, 8 LSB near zero.
    assert np.all(error[in_range] <= np.abs(x[in_range]) * 32768 / 32 + 8)
    assert error.max() <= 0.02 * 32768  # beyond the top level only clipping adds error
    tone = 0.9 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)
    noise = decode(encode(tone)) - tone
    assert 10 * np.log10(np.sum(tone**2) / np.sum(noise**2)) > 35


@pytest.mark.parametrize("encode", [mulaw_encode, alaw_encode, pcm16_encode])
def test_encoders_clip_and_survive_non_finite(encode) -> None:
    loud = np.array([2.0, -2.0, 1.0, -1.0, np.inf, -np.inf, np.nan], dtype=np.float32)
    out = encode(loud)
    per_sample = len(out) // len(loud)
    assert encode(np.array([2.0])) == out[0:per_sample] == encode(np.array([1.0]))
    assert encode(np.array([-2.0])) == out[per_sample : 2 * per_sample] == encode(np.array([-1.0]))
    assert out[4 * per_sample : 5 * per_sample] == encode(np.array([1.0]))
    assert out[6 * per_sample :] == encode(np.array([0.0]))


@given(arrays(np.float32, st.integers(0, 300), elements=st.floats(-1, 1, width=32)))
@settings(max_examples=50, deadline=None, database=None)
def test_encoders_emit_one_code_per_sample(x: np.ndarray) -> None:
    assert len(mulaw_encode(x)) == len(alaw_encode(x)) == len(x)
    assert len(pcm16_encode(x)) == 2 * len(x)
    # Half an LSB of rounding, one LSB at +1.0, which clips to 32767.
    assert np.abs(pcm16_decode(pcm16_encode(x)) - x).max(initial=0) <= 1 / 32768


def test_pcm16_decode_is_little_endian_and_exact() -> None:
    data = ALL_INT16.astype("<i2").tobytes()
    decoded = pcm16_decode(data)
    assert decoded.dtype == np.float32
    np.testing.assert_array_equal(as_int16(decoded), ALL_INT16)
    assert pcm16_decode(b"\x01\x00\x00\x80").tolist() == [1 / 32768, -1.0]
    assert pcm16_encode(decoded) == data
    assert pcm16_encode(np.array([1.0])) == (32767).to_bytes(2, "little", signed=True)


def test_pcm16_decode_odd_length_is_bad_raw_audio() -> None:
    with pytest.raises(InvalidInput) as info:
        pcm16_decode(b"\x00\x01\x02")
    assert info.value.code == "bad_raw_audio"
    assert info.value.status == 422


def tone(freq: float, rate: int, seconds: float = 1.0) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


def peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize(("from_rate", "to_rate"), [(44100, 16000), (8000, 16000), (48000, 8000), (16000, 16000)])
def test_resample_length_dtype_and_frequency(from_rate: int, to_rate: int) -> None:
    x = tone(1000, from_rate)
    y = resample(x, from_rate, to_rate)
    assert y.dtype == np.float32
    assert abs(len(y) - to_rate) <= 1
    assert abs(peak_hz(y, to_rate) - 1000) <= 2
    assert 0.45 < np.abs(y[len(y) // 4 : -len(y) // 4]).max() < 0.55


def test_resample_same_rate_is_a_no_op_and_casts() -> None:
    x = np.linspace(-1, 1, 100)
    y = resample(x, 8000, 8000)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, x.astype(np.float32))
    assert resample(np.zeros(0, np.float32), 8000, 16000).shape == (0,)
    with pytest.raises(ValueError):
        resample(x, 0, 16000)


@pytest.mark.parametrize(("from_rate", "to_rate"), [(8000, 16000), (44100, 16000), (16000, 16000)])
def test_stream_resampler_matches_one_shot(from_rate: int, to_rate: int) -> None:
    x = tone(440, from_rate, seconds=2.0)
    stream = StreamResampler(from_rate, to_rate)
    chunks = [stream.push(x[i : i + 1234]) for i in range(0, len(x), 1234)]
    chunks.append(stream.flush())
    streamed = np.concatenate(chunks)
    one_shot = resample(x, from_rate, to_rate)
    assert streamed.dtype == np.float32
    assert abs(len(streamed) - len(one_shot)) <= 4
    middle = slice(len(one_shot) // 4, 3 * len(one_shot) // 4)
    np.testing.assert_allclose(streamed[middle], one_shot[middle], atol=1e-3)
    with pytest.raises(RuntimeError):
        stream.push(x[:10])


def test_the_raw_codec_table_round_trips_every_encoding() -> None:
    assert RAW_ENCODINGS == tuple(RAW_CODECS) == ("pcm_s16le", "mulaw", "alaw")
    x = (0.5 * np.sin(np.linspace(0, 60, 800))).astype(np.float32)
    for name, codec in RAW_CODECS.items():
        data = codec.encode(x)
        assert len(data) == x.size * codec.bytes_per_sample
        np.testing.assert_allclose(codec.decode(data), x, atol=0.02)
        decoded = decode_audio(data, encoding=name, sample_rate=codec.default_rate or 16000, max_duration_s=10)
        assert np.array_equal(decoded.samples, codec.decode(data))
