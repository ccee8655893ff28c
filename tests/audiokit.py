"""Test audio: a tone and short speech clips (`tests/data`, espeak-ng) in every container and encoding the service
accepts. The speech gate scores only speech, so tests that expect a voice score send `speech(...)`; tones,
silence and noise are for the paths that must not be scored."""

from __future__ import annotations

import functools
import io
import struct
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from service.audio import RAW_CODECS, resample

DATA = Path(__file__).with_name("data")


def tone(seconds: float = 1.0, rate: int = 16000, freq: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


@functools.cache
def _speech_clip(lang: str) -> np.ndarray:
    samples, rate = sf.read(DATA / f"speech_{lang}.flac", dtype="float32")
    assert rate == 16000
    return samples


def speech(seconds: float = 4.0, rate: int = 16000, lang: str = "en", amplitude: float = 0.5) -> np.ndarray:
    """Synthetic speech (espeak-ng, see tests/data/README.md), looped or cut to `seconds` at `rate`."""
    clip = _speech_clip(lang)
    looped = np.resize(clip, int(seconds * 16000))
    out = resample(looped, 16000, rate) if rate != 16000 else looped
    peak = float(np.max(np.abs(out))) or 1.0
    return (amplitude * out / peak).astype(np.float32)


def loud_speech(seconds: float = 4.0, rate: int = 16000) -> np.ndarray:
    """Speech clipped to a high level: the energy-based test model (tests/modelkit.py) calls it `fake`."""
    return np.clip(3 * speech(seconds, rate, amplitude=1.0), -1.0, 1.0)


def encode_sndfile(x: np.ndarray, fmt: str, subtype: str, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, x, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def silent_flac(seconds: float, rate: int, channels: int) -> bytes:
    """Digital silence compresses to almost nothing in FLAC: a small file that decodes to many samples."""
    return encode_sndfile(np.zeros((int(seconds * rate), channels), np.float32), "FLAC", "PCM_16", rate)


def encode_av(x: np.ndarray, fmt: str = "mp4", codec: str = "aac", rate: int = 16000) -> bytes:
    """Encode mono or frames x channels float audio with FFmpeg, one codec frame at a time."""
    planar = np.ascontiguousarray(np.atleast_2d(x.T)).astype(np.float32)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout="mono" if len(planar) == 1 else "stereo")
        frame_size = stream.codec_context.frame_size or 1024
        for start in range(0, planar.shape[1], frame_size):
            chunk = np.ascontiguousarray(planar[:, start : start + frame_size])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=stream.layout.name)
            frame.sample_rate, frame.pts = rate, start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def wav_bytes(
    pcm: bytes, *, channels: int = 1, rate: int = 16000, bits: int = 16, data_size: int | None = None,
    format_tag: int = 1,
) -> bytes:
    """A canonical 44-byte-header WAV whose header fields may lie about the data that follows."""
    size = len(pcm) if data_size is None else data_size
    block_align = (channels * bits // 8) & 0xFFFF
    fmt = struct.pack("<HHIIHH", format_tag, channels, rate, (rate * block_align) & 0xFFFFFFFF, block_align, bits)
    riff_size = min(4 + 8 + len(fmt) + 8 + size, 0xFFFFFFFF)
    chunks = [b"RIFF", struct.pack("<I", riff_size), b"WAVE", b"fmt ", struct.pack("<I", len(fmt)), fmt]
    return b"".join([*chunks, b"data", struct.pack("<I", size), pcm])


# content type -> encoder of (samples, rate); each accepted container once.
CONTAINERS = {
    "audio/wav": lambda x, r: encode_sndfile(x, "WAV", "PCM_16", r),
    "audio/flac": lambda x, r: encode_sndfile(x, "FLAC", "PCM_16", r),
    "audio/ogg": lambda x, r: encode_sndfile(x, "OGG", "VORBIS", r),
    "audio/opus": lambda x, r: encode_sndfile(x, "OGG", "OPUS", 48000 if r not in (8000, 16000, 48000) else r),
    "audio/mpeg": lambda x, r: encode_sndfile(x, "MP3", "MPEG_LAYER_III", r),
    "audio/mp4": lambda x, r: encode_av(x, "mp4", "aac", r),
}

RAW_ENCODERS = {name: codec.encode for name, codec in RAW_CODECS.items()}
