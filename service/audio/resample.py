"""Sample-rate conversion with soxr.

Decoding keeps the source rate; models want one fixed rate. Both the one-shot and the streaming path use soxr
"HQ" so that a live call and an uploaded file of the same audio reach a model with the same filter.
"""

from __future__ import annotations

import numpy as np
import soxr

__all__ = ["StreamResampler", "resample"]

_QUALITY = "HQ"


def _check_rate(rate: int, name: str) -> None:
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer) or rate <= 0:
        raise ValueError(f"{name} must be a positive integer, got {rate!r}")


def resample(x: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample mono (1-D) or frames x channels (2-D) audio to float32; a no-op when the rates match."""
    _check_rate(from_rate, "from_rate")
    _check_rate(to_rate, "to_rate")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if from_rate == to_rate or x.shape[0] == 0:
        return x
    return soxr.resample(x, from_rate, to_rate, quality=_QUALITY)


class StreamResampler:
    """Resamples a live mono stream chunk by chunk; `flush` once at the end returns the filter's tail.

    Output is delayed by the filter, so chunks in and out do not line up one to one; only the total length
    matches a one-shot `resample` of the whole signal (within a few samples).
    """

    def __init__(self, from_rate: int, to_rate: int) -> None:
        _check_rate(from_rate, "from_rate")
        _check_rate(to_rate, "to_rate")
        self.from_rate = int(from_rate)
        self.to_rate = int(to_rate)
        self._flushed = False
        self._stream = (
            None
            if from_rate == to_rate
            else soxr.ResampleStream(from_rate, to_rate, 1, dtype="float32", quality=_QUALITY)
        )

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """Feed the next mono chunk; returns whatever output the filter can release now (maybe empty)."""
        if self._flushed:
            raise RuntimeError("StreamResampler.push after flush")
        chunk = np.ascontiguousarray(chunk, dtype=np.float32).reshape(-1)
        if self._stream is None:
            return chunk
        return self._stream.resample_chunk(chunk, last=False)

    def flush(self) -> np.ndarray:
        """End the stream and return the remaining output; the resampler cannot be used afterwards."""
        if self._flushed:
            raise RuntimeError("StreamResampler.flush called twice")
        self._flushed = True
        if self._stream is None:
            return np.zeros(0, dtype=np.float32)
        return self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
