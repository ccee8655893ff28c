"""Reading corpus audio through the service's own decoder and resampler, so training sees what serving sees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from service.audio import decode_audio, resample


def load_clip(path: Path, rate: int, *, max_duration_s: float = 600.0) -> np.ndarray:
    """Mono float32 at `rate`, decoded exactly as an upload of this file would be."""
    audio = decode_audio(path.read_bytes(), max_duration_s=max_duration_s)
    return resample(audio.samples, audio.sample_rate, rate)


def source_rate(path: Path) -> int:
    """The file's own sample rate (for audits and condition records), without decoding it."""
    try:
        return int(sf.info(str(path)).samplerate)
    except (sf.SoundFileError, RuntimeError):
        return decode_audio(path.read_bytes(), max_duration_s=3600.0).sample_rate


def write_clip(path: Path, samples: np.ndarray, rate: int) -> None:
    """16-bit FLAC: every clip of a built corpus is quantised alike, so bit depth is no cue."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.clip(samples, -1.0, 1.0), rate, format="FLAC", subtype="PCM_16")
