"""decode_audio on every accepted format and on hostile input.

All audio is generated here: libsndfile writes WAV/FLAC/OGG/MP3, PyAV writes AAC in MP4 and ADTS, and lying
WAV headers are assembled by hand.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.audio import (
    ACCEPTED_CONTENT_TYPES,
    RAW_ENCODINGS,
    DecodedAudio,
    alaw_encode,
    decode_audio,
    mulaw_encode,
)
from service.audio import decode as decode_module
from service.errors import InvalidInput, NepcheckError, UnsupportedMediaType
from tests.audiokit import CONTAINERS, RAW_ENCODERS, encode_av, encode_sndfile, silent_flac, speech, tone, wav_bytes

RATE = 16000
LIMIT_S = 30.0


def pcm16(x: np.ndarray) -> bytes:
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


def assert_code(error: pytest.ExceptionInfo[NepcheckError], cls: type[NepcheckError], code: str) -> None:
    assert type(error.value) is cls
    assert error.value.code == code
    assert error.value.detail


def assert_valid(audio: DecodedAudio) -> None:
    assert isinstance(audio, DecodedAudio)
    assert audio.samples.dtype == np.float32
    assert audio.samples.ndim == 1 and len(audio.samples) > 0
    assert np.isfinite(audio.samples).all()
    assert 4000 <= audio.sample_rate <= 192000
    assert 1 <= audio.channels <= 8


# --- formats that decode -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "subtype", "content_type", "container", "atol"),
    [
        ("WAV", "PCM_16", "audio/wav", "wav", 1 / 32767),
        ("WAV", "PCM_24", "audio/x-wav", "wav", 1e-6),
        ("WAV", "FLOAT", "audio/vnd.wave", "wav", 0.0),
        ("FLAC", "PCM_16", "audio/flac", "flac", 1 / 32767),
        ("OGG", "VORBIS", "audio/ogg", "ogg", None),
        ("OGG", "OPUS", "audio/ogg; codecs=opus", "ogg", None),
        ("MP3", "MPEG_LAYER_III", "audio/mpeg", "mp3", None),
    ],
)
def test_decodes_sndfile_formats(fmt: str, subtype: str, content_type: str, container: str, atol) -> None:
    x = tone()
    audio = decode_audio(encode_sndfile(x, fmt, subtype), content_type=content_type, max_duration_s=LIMIT_S)
    assert_valid(audio)
    assert (audio.container, audio.sample_rate, audio.channels) == (container, RATE, 1)
    if atol is not None:
        np.testing.assert_allclose(audio.samples, x, atol=atol)
    else:
        assert abs(audio.duration_s - 1.0) < 0.1
        assert abs(peak_hz(audio.samples, RATE) - 440) < 5
        assert 0.3 < np.sqrt(np.mean(audio.samples**2)) < 0.4  # the tone's RMS is 0.354


@pytest.mark.parametrize(
    ("fmt", "content_type", "container"),
    [
        ("mp4", "audio/mp4", "mp4"),
        ("ipod", "audio/x-m4a", "mp4"),
        ("mp4", "video/mp4", "mp4"),
        ("adts", "audio/aac", "aac"),
    ],
)
def test_decodes_aac_with_pyav(fmt: str, content_type: str, container: str) -> None:
    stereo = np.stack([tone(), tone(amplitude=0.25)], axis=1)
    audio = decode_audio(encode_av(stereo, fmt), content_type=content_type, max_duration_s=LIMIT_S)
    assert_valid(audio)
    assert (audio.container, audio.sample_rate, audio.channels) == (container, RATE, 2)
    assert 1.0 <= audio.duration_s < 1.1  # AAC adds encoder priming / padding
    assert abs(peak_hz(audio.samples, RATE) - 440) < 5
    assert 0.23 < np.sqrt(np.mean(audio.samples**2)) < 0.3  # mean of 0.5 and 0.25 amplitude tones: RMS 0.265


def test_stereo_is_downmixed_to_the_channel_mean() -> None:
    left, right = tone(), tone(freq=1000, amplitude=0.25)
    audio = decode_audio(encode_sndfile(np.stack([left, right], axis=1), "WAV", "FLOAT"), max_duration_s=LIMIT_S)
    assert audio.channels == 2
    np.testing.assert_allclose(audio.samples, (left + right) / 2, atol=1e-7)


def test_eight_channels_are_accepted() -> None:
    x = np.tile(tone(0.1)[:, None], (1, 8))
    audio = decode_audio(encode_sndfile(x, "WAV", "PCM_16"), max_duration_s=LIMIT_S)
    assert audio.channels == 8
    np.testing.assert_allclose(audio.samples, x[:, 0], atol=1 / 32767)


@pytest.mark.parametrize("content_type", [None, "", "application/octet-stream", "AUDIO/WAV", " audio/wave ; x=y"])
def test_content_type_is_normalised_and_container_sniffed(content_type: str | None) -> None:
    audio = decode_audio(encode_sndfile(tone(), "FLAC", "PCM_16"), content_type=content_type, max_duration_s=5)
    assert audio.container == "flac"  # the label only gates acceptance: a FLAC body labelled WAV decodes


def test_decoded_audio_is_frozen_and_reports_duration() -> None:
    audio = decode_audio(encode_sndfile(tone(0.5), "WAV", "PCM_16"), max_duration_s=5)
    assert audio.duration_s == pytest.approx(0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        audio.sample_rate = 8000  # type: ignore[misc]


# --- raw, headerless audio -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "rate"),
    [
        ({"encoding": "pcm_s16le", "sample_rate": 16000}, 16000),
        ({"encoding": "mulaw"}, 8000),
        ({"encoding": "alaw", "sample_rate": 16000}, 16000),
        ({"encoding": "MULAW", "sample_rate": 8000}, 8000),
    ],
)
def test_raw_encodings_with_query_style_params(params: dict, rate: int) -> None:
    x = tone(rate=rate)
    name = params["encoding"].lower()
    data = {"pcm_s16le": pcm16, "mulaw": mulaw_encode, "alaw": alaw_encode}[name](x)
    audio = decode_audio(data, content_type="application/octet-stream", max_duration_s=LIMIT_S, **params)
    assert_valid(audio)
    assert (audio.container, audio.sample_rate, audio.channels) == (f"raw:{name}", rate, 1)
    assert name in RAW_ENCODINGS
    np.testing.assert_allclose(audio.samples, x, atol=0.02)


@pytest.mark.parametrize(
    ("data", "params", "code"),
    [
        (b"\x00\x00" * 100, {"encoding": "pcm_s16le"}, "bad_sample_rate"),
        (b"\x00" * 100, {"encoding": "mulaw", "sample_rate": 1000}, "bad_sample_rate"),
        (b"\x00" * 100, {"encoding": "alaw", "sample_rate": 200_000}, "bad_sample_rate"),
        (b"\x00" * 100, {"encoding": "opus", "sample_rate": 16000}, "bad_encoding"),
        (b"\x00\x00\x00", {"encoding": "pcm_s16le", "sample_rate": 16000}, "bad_raw_audio"),
        (b"\xff" * 8001, {"encoding": "mulaw", "max_duration_s": 1.0}, "audio_too_long"),
        (b"", {"encoding": "mulaw"}, "empty_audio"),
    ],
)
def test_raw_errors(data: bytes, params: dict, code: str) -> None:
    params = {"max_duration_s": LIMIT_S, **params}
    with pytest.raises(InvalidInput) as error:
        decode_audio(data, **params)
    assert_code(error, InvalidInput, code)


def test_raw_exactly_at_the_limit_is_accepted() -> None:
    assert decode_audio(b"\xff" * 8000, encoding="mulaw", max_duration_s=1.0).duration_s == 1.0


# --- bad containers ------------------------------------------------------------------------------------------

ONE_SECOND = pcm16(tone())


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_audio"),
        (np.random.default_rng(0).bytes(5000), "undecodable_audio"),
        (b"RIFF", "undecodable_audio"),
        (wav_bytes(b""), "empty_audio"),  # header only
        (wav_bytes(b"", data_size=32000), "empty_audio"),  # header promising data that is not there
        (wav_bytes(ONE_SECOND, channels=16), "too_many_channels"),
        (wav_bytes(ONE_SECOND, channels=9), "too_many_channels"),
        (wav_bytes(ONE_SECOND, rate=1), "bad_sample_rate"),
        (wav_bytes(ONE_SECOND, rate=3999), "bad_sample_rate"),
        (wav_bytes(ONE_SECOND, rate=400_000), "bad_sample_rate"),
        (wav_bytes(ONE_SECOND, format_tag=0x1234), "undecodable_audio"),
    ],
)
def test_bad_containers(data: bytes, code: str) -> None:
    with pytest.raises(InvalidInput) as error:
        decode_audio(data, content_type="audio/wav", max_duration_s=LIMIT_S)
    assert_code(error, InvalidInput, code)
    assert "sndfile" not in error.value.detail.lower() and "0x" not in error.value.detail


def test_huge_channel_count_is_refused() -> None:
    """libsndfile refuses > 1024 channels at open and FFmpeg then reports 0 channels: undecodable."""
    with pytest.raises(InvalidInput) as error:
        decode_audio(wav_bytes(ONE_SECOND, channels=60000), max_duration_s=LIMIT_S)
    assert error.value.code in {"too_many_channels", "undecodable_audio"}


def test_wav_cut_mid_data_keeps_the_samples_present() -> None:
    data = wav_bytes(ONE_SECOND)[: 44 + 2 * 5000 + 1]
    audio = decode_audio(data, max_duration_s=LIMIT_S)
    assert len(audio.samples) == 5000


def test_truncated_compressed_stream_keeps_the_clean_prefix() -> None:
    data = encode_sndfile(tone(4.0), "FLAC", "PCM_16")
    audio = decode_audio(data[: len(data) // 2], max_duration_s=LIMIT_S)
    assert 0.5 < audio.duration_s < 3.0


def test_wav_header_lying_about_frames_reads_only_what_is_there() -> None:
    audio = decode_audio(wav_bytes(ONE_SECOND, data_size=0x7FFFFFF0), max_duration_s=LIMIT_S)
    assert len(audio.samples) == RATE


@pytest.mark.parametrize("content_type", ["text/plain", "image/png", "audio/webm", "multipart/form-data; b=x"])
def test_unknown_content_type_is_415(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType) as error:
        decode_audio(wav_bytes(ONE_SECOND), content_type=content_type, max_duration_s=LIMIT_S)
    assert_code(error, UnsupportedMediaType, "unsupported_media_type")
    assert error.value.status == 415


def test_formats_outside_the_accepted_set_are_refused() -> None:
    with pytest.raises(UnsupportedMediaType) as error:
        decode_audio(encode_sndfile(tone(), "AIFF", "PCM_16"), max_duration_s=LIMIT_S)
    assert error.value.code == "unsupported_audio_format"
    # FFmpeg demuxers are whitelisted too: WebM is not among them.
    with pytest.raises(InvalidInput) as invalid:
        decode_audio(encode_av(tone(rate=48000), "webm", "libopus", rate=48000), max_duration_s=LIMIT_S)
    assert invalid.value.code == "undecodable_audio"


@pytest.mark.parametrize(
    "make",
    [
        lambda x: wav_bytes(pcm16(x)),
        lambda x: encode_sndfile(x, "FLAC", "PCM_16"),
        lambda x: encode_sndfile(x, "OGG", "VORBIS"),
        lambda x: encode_av(x, "mp4"),
    ],
    ids=["wav", "flac", "ogg", "m4a"],
)
def test_too_long_audio_is_refused(make) -> None:
    with pytest.raises(InvalidInput) as error:
        decode_audio(make(tone(3.0)), max_duration_s=2.0)
    assert_code(error, InvalidInput, "audio_too_long")


@pytest.fixture
def decoded_blocks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Lengths of the blocks the decoder hands to the collector, to see how far decoding went."""
    added: list[int] = []
    original = decode_module._MonoCollector.add

    def counting_add(self, block: np.ndarray) -> None:
        added.append(len(block))
        original(self, block)

    monkeypatch.setattr(decode_module._MonoCollector, "add", counting_add)
    return added


def test_too_long_stops_decoding_early(decoded_blocks: list[int]) -> None:
    with pytest.raises(InvalidInput, match="longer"):
        decode_audio(encode_sndfile(tone(20.0), "WAV", "PCM_16"), max_duration_s=2.0)
    assert sum(decoded_blocks) <= 3 * RATE


def test_a_decompression_bomb_is_refused_from_its_header_before_decoding(decoded_blocks: list[int]) -> None:
    bomb = silent_flac(60.0, 192_000, 8)  # a few hundred KB, 92 million samples decoded
    assert len(bomb) < 2_000_000
    with pytest.raises(InvalidInput) as error:
        decode_audio(bomb, max_duration_s=600.0, max_decoded_samples=10_000_000)
    assert_code(error, InvalidInput, "audio_too_large")
    assert decoded_blocks == []  # refused from the header's frame count, before a single block was decoded


def test_the_budget_holds_while_decoding_when_no_header_states_a_length() -> None:
    m4a = encode_av(np.zeros((48_000 * 4, 2), np.float32), rate=48_000)  # AAC in MP4: lengths come per frame
    with pytest.raises(InvalidInput) as error:
        decode_audio(m4a, max_duration_s=600.0, max_decoded_samples=100_000)
    assert_code(error, InvalidInput, "audio_too_large")
    assert decode_audio(m4a, max_duration_s=600.0, max_decoded_samples=1_000_000).duration_s > 3.9


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_float_samples_are_refused(bad: float) -> None:
    x = tone(0.2)
    x[100] = bad
    with pytest.raises(InvalidInput) as error:
        decode_audio(encode_sndfile(x, "WAV", "FLOAT"), max_duration_s=LIMIT_S)
    assert_code(error, InvalidInput, "bad_samples")


# --- fuzzing -------------------------------------------------------------------------------------------------

CONTENT_TYPES = st.sampled_from([None, *sorted(ACCEPTED_CONTENT_TYPES)])


@functools.cache
def seed_files() -> tuple[bytes, ...]:
    x = tone(0.3)
    return (
        wav_bytes(pcm16(x)),
        encode_sndfile(np.stack([x, x], axis=1), "WAV", "FLOAT"),
        encode_sndfile(x, "FLAC", "PCM_16"),
        encode_sndfile(x, "OGG", "VORBIS"),
        encode_sndfile(x, "OGG", "OPUS"),
        encode_sndfile(x, "MP3", "MPEG_LAYER_III"),
        encode_av(x, "mp4"),
        encode_av(x, "adts"),
    )


def decode_or_nepcheck_error(data: bytes, content_type: str | None) -> None:
    try:
        audio = decode_audio(data, content_type=content_type, max_duration_s=LIMIT_S)
    except NepcheckError as error:
        assert error.code and error.detail
    else:
        assert_valid(audio)


@given(data=st.binary(max_size=4096), content_type=CONTENT_TYPES)
@settings(max_examples=150, deadline=None, database=None)
def test_random_bytes_only_raise_nepcheck_errors(data: bytes, content_type: str | None) -> None:
    decode_or_nepcheck_error(data, content_type)


@given(
    seed=st.integers(0, 7),
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=12),
    cut=st.none() | st.floats(0, 1),
    content_type=CONTENT_TYPES,
)
@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
def test_damaged_real_files_only_raise_nepcheck_errors(
    seed: int, edits: list[tuple[float, int]], cut: float | None, content_type: str | None
) -> None:
    data = bytearray(seed_files()[seed])
    for where, value in edits:
        data[int(where * len(data))] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    decode_or_nepcheck_error(bytes(data), content_type)


@pytest.mark.parametrize("content_type", sorted(CONTAINERS))
def test_container_signature_names_every_accepted_container(content_type: str) -> None:
    from service.audio import container_signature

    assert container_signature(CONTAINERS[content_type](speech(1.0, amplitude=0.05), 16000)[:8192]) is not None


def test_container_signature_knows_adts_aac() -> None:
    from service.audio import container_signature

    assert container_signature(encode_av(speech(1.0, amplitude=0.05), "adts", "aac", 16000)[:8192]) == "AAC (ADTS)"


@pytest.mark.parametrize("encoding", sorted(RAW_ENCODERS))
def test_container_signature_leaves_headerless_audio_alone(encoding: str) -> None:
    from service.audio import container_signature

    rng = np.random.default_rng(1)
    encode = RAW_ENCODERS[encoding]
    assert container_signature(encode(np.zeros(8000, dtype=np.float32))) is None  # mu-law silence is 0xFF bytes
    for amplitude in (1e-4, 1e-3, 1e-2, 0.3):
        for _ in range(50):
            noise = (rng.standard_normal(8000) * amplitude).astype(np.float32)
            assert container_signature(encode(noise)) is None
