"""Fixed-length windows over a waveform, shared by the service and by training.

Models take a fixed window. Long audio is covered completely (a last window is aligned to the end rather than
dropping the tail) and short audio that is still long enough to judge is repeated to fill one window, the same
padding the models are trained with.
"""

from __future__ import annotations

import numpy as np

from service.errors import InvalidInput


def window_starts(n_samples: int, window: int, hop: int) -> list[int]:
    """Start offsets so that every sample is inside at least one window."""
    if window <= 0 or hop <= 0:
        raise ValueError("window and hop must be positive")
    if n_samples <= window:
        return [0]
    starts = list(range(0, n_samples - window + 1, hop))
    if starts[-1] + window < n_samples:
        starts.append(n_samples - window)
    return starts


def repeat_pad(samples: np.ndarray, length: int) -> np.ndarray:
    """Tile a short clip to `length`; silence padding would teach a model that padding means a class."""
    if samples.size == 0:
        raise ValueError("cannot pad an empty clip")
    if samples.size >= length:
        return samples[:length]
    return np.resize(samples, length)


def frame_windows(
    samples: np.ndarray, *, window: int, hop: int, min_samples: int, sample_rate: int
) -> tuple[np.ndarray, np.ndarray]:
    """Windows `[n, window]` float32 and their start offsets in samples."""
    if samples.size < min_samples:
        raise InvalidInput(
            f"audio is {samples.size / sample_rate:.2f} s long after decoding; the model needs at least "
            f"{min_samples / sample_rate:.2f} s",
            code="audio_too_short",
        )
    starts = window_starts(samples.size, window, hop)
    if samples.size < window:
        return repeat_pad(samples, window)[None, :].astype(np.float32, copy=False), np.array([0])
    frames = np.stack([samples[s : s + window] for s in starts]).astype(np.float32, copy=False)
    return frames, np.asarray(starts)
