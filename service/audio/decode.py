"""Turn an untrusted upload into mono float32 samples at the source rate.

The bytes come from strangers, so nothing here trusts a header: channel counts and rates are bounded before
any read, audio is read a second at a time and downmixed as it comes, and decoding stops as soon as the
duration cap is passed, so a 40-byte WAV that claims 2^31 frames costs nothing. Every malformed input ends
in a `NepcheckError` with a stable `code`; other exceptions mean a bug here, not bad input.

Resampling is left to the caller (`service.audio.resample`) so that one decode can feed models at different
rates.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np
import soundfile as sf

from service.audio.codecs import RAW_CODECS, RAW_ENCODINGS
from service.errors import InvalidInput, UnsupportedMediaType

__all__ = ["ACCEPTED_CONTENT_TYPES", "DecodedAudio", "container_signature", "decode_audio"]

ACCEPTED_CONTENT_TYPES = frozenset(
    {
        "audio/wav",
        "audio/x-wav",
        "audio/wave",
        "audio/vnd.wave",
        "audio/flac",
        "audio/x-flac",
        "audio/ogg",
        "audio/opus",
        "audio/mpeg",
        "audio/mp3",
        "audio/mp4",
        "audio/m4a",
        "audio/x-m4a",
        "audio/aac",
        "video/mp4",
        "application/octet-stream",
    }
)

MIN_SAMPLE_RATE = 4000
MAX_SAMPLE_RATE = 192000
MAX_CHANNELS = 8

# libsndfile opens many more formats (AIFF, CAF, VOC, ...); only those matching the accepted content types
# are decoded, which keeps the parsers untrusted bytes reach to the few we test.
_SNDFILE_CONTAINERS = {
    "WAV": "wav",
    "WAVEX": "wav",
    "RF64": "wav",
    "FLAC": "flac",
    "OGG": "ogg",
    "MP3": "mp3",
}

# FFmpeg is only the fallback for what libsndfile cannot open (M4A/MP4/AAC, odd WAV codecs). Its demuxers
# and decoders are whitelisted because some demuxers (HLS, concat) open further URLs named in the input.
_AV_CONTAINERS = {
    "mov,mp4,m4a,3gp,3g2,mj2": "mp4",
    "aac": "aac",
    "mp3": "mp3",
    "ogg": "ogg",
    "wav": "wav",
    "flac": "flac",
}
_AV_CODECS = frozenset(
    {
        "aac", "aac_fixed", "alac", "flac", "mp3", "mp3float", "opus", "vorbis",
        "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_f64le", "pcm_u8", "pcm_mulaw", "pcm_alaw",
        "pcm_s16be", "pcm_s24be", "pcm_s32be", "pcm_f32be", "pcm_f64be",
    }
)  # fmt: skip
_AV_OPTIONS = {
    "format_whitelist": ",".join(name.split(",")[0] for name in _AV_CONTAINERS),
    "codec_whitelist": ",".join(sorted(_AV_CODECS)),
    "protocol_whitelist": "",
}
_AV_INT_SCALE = {np.dtype(np.int16): 2.0**15, np.dtype(np.int32): 2.0**31, np.dtype(np.int64): 2.0**63}


@dataclass(frozen=True, eq=False)
class DecodedAudio:
    """Mono float32 samples plus where they came from.

    `eq=False` because comparing numpy arrays has no single truth value (and they are not hashable).
    """

    samples: np.ndarray
    sample_rate: int  # the upload's own rate: resampling to a model's rate is the caller's step
    channels: int
    container: str

    @property
    def duration_s(self) -> float:
        """Seconds of audio: the unit the duration cap and API responses use."""
        return len(self.samples) / self.sample_rate


def decode_audio(
    data: bytes,
    *,
    content_type: str | None = None,
    encoding: str | None = None,
    sample_rate: int | None = None,
    max_duration_s: float,
    max_decoded_samples: int | None = None,
) -> DecodedAudio:
    """Decode an upload to mono float32 at its own rate, or raise a `NepcheckError` saying what is wrong.

    With `encoding` the body is headerless audio and `content_type` is not consulted; otherwise the container
    is sniffed (the content type only gates what is accepted: a FLAC body labelled audio/wav still decodes).
    Non-finite samples are rejected ("bad_samples") rather than zeroed: a float WAV full of NaN is a broken
    file, and silently scoring a patched version of it would hide that. Finite float samples beyond [-1, 1]
    are passed through unclipped. A decoder error after some audio has decoded (a truncated upload, a damaged
    tail) ends the audio there and keeps the clean prefix; an error before any audio is "undecodable_audio".

    `max_decoded_samples` bounds frames x channels: a 246 KB FLAC of ten minutes of 192 kHz 8-channel silence
    decodes to 920 million samples. The bound is checked against the header's frame count before anything is
    decoded where the container states one, and on every decoded block otherwise ("audio_too_large").
    """
    if not data:
        raise InvalidInput("The request body is empty; send the audio bytes.", code="empty_audio")
    if encoding is not None:
        return _decode_raw(data, encoding, sample_rate, max_duration_s)
    _check_content_type(content_type)
    budget = max_decoded_samples
    audio = _decode_with_sndfile(data, max_duration_s, budget)
    if audio is None:
        audio = _decode_with_av(data, max_duration_s, budget)
    return audio


# MPEG audio frame headers: bitrates (kbit/s) by (MPEG-1 or 2, layer group) and sample rates by version.
_MPEG_KBPS = {
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mpeg_frame_length(header: bytes) -> int | None:
    """Length of the MPEG audio frame whose 4-byte header this is, or None if it is not a valid one."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version, layer = (header[1] >> 3) & 3, 4 - ((header[1] >> 1) & 3)  # version 1 and layer 4 are reserved
    bitrate_index, rate_index = header[2] >> 4, (header[2] >> 2) & 3
    if version == 1 or layer == 4 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    kbps = _MPEG_KBPS[(1, layer) if mpeg1 else (2, 1 if layer == 1 else 2)][bitrate_index]
    rate = _MPEG_RATES[version][rate_index]
    padding = (header[2] >> 1) & 1
    if layer == 1:
        return (12_000 * kbps // rate + padding) * 4
    return (144_000 if mpeg1 or layer == 2 else 72_000) * kbps // rate + padding


def _adts_frame_length(header: bytes) -> int | None:
    """Length of the ADTS (AAC) frame whose 7-byte header this is, or None if it is not a valid one."""
    if len(header) < 7 or header[0] != 0xFF or header[1] & 0xF6 != 0xF0 or (header[2] >> 2) & 0xF >= 13:
        return None
    length = ((header[3] & 3) << 11) | (header[4] << 3) | (header[5] >> 5)
    return length if length >= 7 else None


def container_signature(head: bytes) -> str | None:
    """The container a file's first bytes announce (WAV, FLAC, Ogg, MP3, MP4, AAC), or None for headerless audio.

    For telling a file with a header from raw G.711 or PCM before decoding it as raw. An MPEG or ADTS stream
    without an ID3 tag counts only when two valid frame headers follow each other, because mu-law silence (0xFF
    bytes) looks like a frame sync.
    """
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "WAV"
    if head[:4] == b"fLaC":
        return "FLAC"
    if head[:4] == b"OggS":
        return "Ogg"
    if head[:3] == b"ID3":
        return "MP3 (ID3)"
    if head[4:8] == b"ftyp":
        return "MP4"
    for name, frame_length in (("MPEG audio", _mpeg_frame_length), ("AAC (ADTS)", _adts_frame_length)):
        first = frame_length(head[:7])
        if first is not None and frame_length(head[first : first + 7]) is not None:
            return name
    return None


def _check_content_type(content_type: str | None) -> None:
    if content_type is None:
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type and media_type not in ACCEPTED_CONTENT_TYPES:
        raise UnsupportedMediaType(
            f"Content type {media_type[:80]!r} is not accepted; send WAV, FLAC, OGG (Vorbis/Opus), MP3 or "
            "M4A/AAC audio, or headerless audio with an `encoding` parameter.",
            code="unsupported_media_type",
        )


def _check_rate(rate: int) -> None:
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise InvalidInput(
            f"Sample rate {rate} Hz is outside the supported {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz.",
            code="bad_sample_rate",
        )


def _check_channels(channels: int) -> None:
    if channels > MAX_CHANNELS:
        raise InvalidInput(
            f"Audio has {channels} channels; at most {MAX_CHANNELS} are supported.", code="too_many_channels"
        )
    if channels < 1:
        raise _undecodable()


def _undecodable() -> InvalidInput:
    return InvalidInput(
        "The audio could not be decoded; it may be corrupt, truncated or in an unsupported codec.",
        code="undecodable_audio",
    )


def _no_samples() -> InvalidInput:
    return InvalidInput("The audio contains no samples.", code="empty_audio")


def _too_long(max_duration_s: float) -> InvalidInput:
    return InvalidInput(f"Audio is longer than the {max_duration_s:g} s limit.", code="audio_too_long")


def _sample_limit(rate: int, max_duration_s: float) -> int:
    return max(0, math.floor(max_duration_s * rate))


def _too_large(budget: int) -> InvalidInput:
    return InvalidInput(
        f"The audio decodes to more than {budget:,} samples (frames x channels); send it at a lower sample rate "
        "or with fewer channels (the model reads mono at 16 kHz).",
        code="audio_too_large",
    )


def _check_budget(frames: int, channels: int, budget: int | None) -> None:
    if budget is not None and frames * channels > budget:
        raise _too_large(budget)


class _MonoCollector:
    """Accumulates downmixed blocks and enforces the duration cap and the decoded-sample budget per block."""

    def __init__(self, rate: int, max_duration_s: float, budget: int | None = None) -> None:
        self.rate = rate
        self.max_duration_s = max_duration_s
        self.budget = budget
        self._limit = _sample_limit(rate, max_duration_s)
        self._blocks: list[np.ndarray] = []
        self._count = 0
        self._decoded = 0

    def add(self, block: np.ndarray) -> None:
        """Take a frames x channels block; the mean of channels runs in float64 so it cannot overflow."""
        self._decoded += block.size
        _check_budget(self._decoded, 1, self.budget)
        if block.shape[1] == 1:
            mono = np.asarray(block[:, 0], dtype=np.float32)
        else:
            with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is refused just below, not warned
                mono = block.mean(axis=1, dtype=np.float64).astype(np.float32)
        if not np.isfinite(mono).all():
            raise InvalidInput("The audio contains NaN or infinite samples.", code="bad_samples")
        self._count += len(mono)
        if self._count > self._limit:
            raise _too_long(self.max_duration_s)
        self._blocks.append(mono)

    @property
    def count(self) -> int:
        return self._count

    def result(self, channels: int, container: str) -> DecodedAudio:
        if self._count == 0:
            raise _no_samples()
        samples = np.concatenate(self._blocks) if len(self._blocks) > 1 else self._blocks[0].copy()
        return DecodedAudio(samples, self.rate, channels, container)


def _decode_raw(data: bytes, encoding: str, sample_rate: int | None, max_duration_s: float) -> DecodedAudio:
    name = encoding.strip().lower()
    codec = RAW_CODECS.get(name)
    if codec is None:
        raise InvalidInput(
            f"Unknown raw encoding {encoding[:40]!r}; use one of {', '.join(RAW_ENCODINGS)}.",
            code="bad_encoding",
        )
    if sample_rate is None:
        if codec.default_rate is None:
            raise InvalidInput(f"sample_rate is required for {name} audio.", code="bad_sample_rate")
        sample_rate = codec.default_rate
    _check_rate(sample_rate)
    if len(data) // codec.bytes_per_sample > _sample_limit(sample_rate, max_duration_s):
        raise _too_long(max_duration_s)
    samples = codec.decode(bytes(data))
    if len(samples) == 0:
        raise _no_samples()
    return DecodedAudio(samples, sample_rate, 1, f"raw:{name}")


def _decode_with_sndfile(data: bytes, max_duration_s: float, budget: int | None = None) -> DecodedAudio | None:
    """Decode with libsndfile; None means it decoded nothing (could not open, or failed at once): try FFmpeg."""
    try:
        f = sf.SoundFile(io.BytesIO(data))
    except sf.SoundFileError:
        return None
    with f:
        container = _SNDFILE_CONTAINERS.get(f.format)
        if container is None:
            raise UnsupportedMediaType(
                f"{f.format_info} audio is not supported; send WAV, FLAC, OGG (Vorbis/Opus), MP3 or M4A/AAC.",
                code="unsupported_audio_format",
            )
        _check_channels(f.channels)
        _check_rate(f.samplerate)
        if f.frames > 0:  # what the header declares; a lying header is caught block by block below
            _check_budget(min(f.frames, _sample_limit(f.samplerate, max_duration_s) + 1), f.channels, budget)
        collector = _MonoCollector(f.samplerate, max_duration_s, budget)
        try:
            while len(block := f.read(f.samplerate, dtype="float32", always_2d=True)):
                collector.add(block)
        except sf.SoundFileError:
            if collector.count == 0:
                return None
            # A truncated or damaged tail ends the audio; what decoded cleanly before it is kept.
        return collector.result(f.channels, container)


def _decode_with_av(data: bytes, max_duration_s: float, budget: int | None = None) -> DecodedAudio:
    try:
        container = av.open(io.BytesIO(data), mode="r", container_options=_AV_OPTIONS, metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise _undecodable() from exc
    with container:
        if not container.streams.audio:
            raise _undecodable()
        stream = container.streams.audio[0]
        context = stream.codec_context
        if context is None or context.name not in _AV_CODECS:
            raise _undecodable()
        _check_channels(context.channels)
        if context.sample_rate:
            _check_rate(context.sample_rate)
        name = _AV_CONTAINERS.get(container.format.name, container.format.name.split(",")[0])
        return _read_av_frames(container.decode(stream), max_duration_s, name, budget)


def _read_av_frames(
    frames: Iterator[av.AudioFrame], max_duration_s: float, container: str, budget: int | None = None
) -> DecodedAudio:
    collector: _MonoCollector | None = None
    source_channels = 0
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            break
        except av.FFmpegError as exc:
            if collector is None:
                raise _undecodable() from exc
            break  # a truncated or damaged tail ends the audio; what decoded cleanly before it is kept
        rate, channels = frame.sample_rate, frame.layout.nb_channels
        _check_channels(channels)
        if collector is None:
            _check_rate(rate)
            collector = _MonoCollector(rate, max_duration_s, budget)
            source_channels = channels
        elif rate != collector.rate:
            raise InvalidInput("The audio changes sample rate mid-stream.", code="undecodable_audio")
        collector.add(_frame_to_block(frame, channels))
    if collector is None:
        raise _no_samples()
    return collector.result(source_channels, container)


def _frame_to_block(frame: av.AudioFrame, channels: int) -> np.ndarray:
    """An FFmpeg frame as float32 frames x channels, whatever its sample format and planarity."""
    array = frame.to_ndarray()
    array = array.T if frame.format.is_planar else array.reshape(-1, channels)
    if array.dtype == np.uint8:
        return (array.astype(np.float32) - 128.0) / 128.0
    scale = _AV_INT_SCALE.get(array.dtype)
    if scale is not None:
        return (array / scale).astype(np.float32)
    return array.astype(np.float32, copy=False)
