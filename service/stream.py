"""Live-call windowing: telephony frames in, complete model windows out as soon as they exist.

The same window, hop and padding rules as `service.windowing` apply, so a stream scored live and the same
audio uploaded whole give the same windows (up to resampler edge effects at the very start).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from service.audio import StreamResampler, alaw_decode, mulaw_decode, pcm16_decode
from service.audio.vad import SpeechGate
from service.windowing import repeat_pad

DECODERS: dict[str, Callable[[bytes], np.ndarray]] = {
    "pcm_s16le": pcm16_decode,
    "mulaw": mulaw_decode,
    "alaw": alaw_decode,
}
BYTES_PER_SAMPLE = {"pcm_s16le": 2, "mulaw": 1, "alaw": 1}


class StreamWindows:
    def __init__(
        self,
        *,
        encoding: str,
        source_rate: int,
        model_rate: int,
        window: int,
        hop: int,
        min_samples: int,
        gate: SpeechGate | None = None,
    ) -> None:
        self._decode = DECODERS[encoding]
        self._width = BYTES_PER_SAMPLE[encoding]
        self.source_rate = source_rate
        self.model_rate = model_rate
        self.window = window
        self.hop = hop
        self.min_samples = min_samples
        self._resampler = StreamResampler(source_rate, model_rate)
        self.gate = gate  # sees every model-rate sample as it arrives, so speech is known for each window
        self._carry = b""  # a sample split across two frames
        self._buffer = np.zeros(0, dtype=np.float32)
        self._buffer_start = 0  # absolute model-rate sample index of _buffer[0]
        self._next_start = 0
        self.source_samples = 0
        self.emitted = 0

    @property
    def total(self) -> int:
        return self._buffer_start + self._buffer.size

    @property
    def duration_s(self) -> float:
        return self.source_samples / self.source_rate

    def push(self, data: bytes) -> list[tuple[int, np.ndarray]]:
        """Windows completed by this frame, as (start sample at the model rate, window)."""
        data = self._carry + data
        usable = len(data) - len(data) % self._width
        self._carry = data[usable:]
        if not usable:
            return []
        samples = self._decode(data[:usable])
        self.source_samples += samples.size
        self._append(self._resampler.push(samples))
        return self._complete()

    def finish(self) -> list[tuple[int, np.ndarray]]:
        """The windows that the end of the stream completes: a padded one or one aligned to the end."""
        self._append(self._resampler.flush())
        if self.gate is not None:
            self.gate.finish()
        windows = self._complete()
        total = self.total
        extra: list[tuple[int, np.ndarray]] = []
        if self.emitted == 0:
            if total >= self.min_samples:  # nothing trimmed yet: the buffer is the whole stream
                extra.append((0, repeat_pad(self._buffer, self.window)))
        elif self._next_start - self.hop + self.window < total:
            start = total - self.window
            extra.append((start, self._buffer[start - self._buffer_start :].copy()))
        self.emitted += len(extra)
        return windows + extra

    def _append(self, samples: np.ndarray) -> None:
        if samples.size and self.gate is not None:
            self.gate.push(samples)
        if samples.size:
            self._buffer = np.concatenate([self._buffer, samples.astype(np.float32, copy=False)])

    def _complete(self) -> list[tuple[int, np.ndarray]]:
        windows = []
        while self._next_start + self.window <= self.total:
            offset = self._next_start - self._buffer_start
            windows.append((self._next_start, self._buffer[offset : offset + self.window].copy()))
            self._next_start += self.hop
        self.emitted += len(windows)
        # Keep only what a future window can still use (the end-aligned last window needs `window` samples).
        keep_from = min(self._next_start, max(0, self.total - self.window))
        if self.emitted and keep_from > self._buffer_start:
            self._buffer = self._buffer[keep_from - self._buffer_start :]
            self._buffer_start = keep_from
        return windows
