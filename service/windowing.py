"""Model windows over a waveform, shared by the service and by training: whole clips, speech, live streams.

Models take a fixed window. Long audio is covered completely (a last window is aligned to the end rather than
dropping the tail) and short audio that is still long enough to judge is repeated to fill one window, the same
padding the models are trained with. The rule in samples comes from the card's input spec (`window_samples`,
`hop_samples`, `min_samples`), and every caller cuts through `model_windows`, `speech_windows` or
`StreamWindows` here, so an upload, a live call, training and evaluation see the same windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.audio.codecs import RAW_CODECS
from service.audio.resample import StreamResampler
from service.audio.vad import SpeechGate, enough_speech
from service.card import VoiceInput
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
    """Windows `[n, window]` float32 and their start offsets in samples (sizes given directly; callers with a
    card use `model_windows`)."""
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


def model_windows(samples: np.ndarray, spec: VoiceInput) -> tuple[np.ndarray, np.ndarray]:
    """The model's windows over audio already at its rate, and their starts: the card's window rule."""
    return frame_windows(samples, window=spec.window_samples, hop=spec.hop_samples, min_samples=spec.min_samples,
                         sample_rate=spec.sample_rate)


@dataclass(frozen=True)
class PreparedVoice:
    """Windows at the model's rate with what the speech gate found in each."""

    frames: np.ndarray  # [n, window] float32
    starts: np.ndarray  # start offsets in samples at the model rate
    n_samples: int  # length at the model rate
    speech_s: list[float]  # seconds of speech per window
    judged: list[bool]  # windows with enough speech to score
    total_speech_s: float


def speech_windows(samples: np.ndarray, spec: VoiceInput) -> PreparedVoice:
    """The model's windows over audio already at its rate, each with its speech: what training scores too."""
    rate = spec.sample_rate
    frames, starts = model_windows(samples, spec)
    gate = SpeechGate(rate, spec.speech_threshold)
    gate.push(samples)
    gate.finish()
    spans = [(s, min(s + spec.window_samples, samples.size)) for s in starts.tolist()]
    speech = [gate.speech_in(s, e) for s, e in spans]
    judged = [enough_speech(sp, (e - s) / rate, spec.min_speech_s) for sp, (s, e) in zip(speech, spans, strict=True)]
    return PreparedVoice(frames, starts, samples.size, speech, judged, gate.speech_s)


class StreamWindows:
    """Live-call windowing: raw telephony frames in, complete model windows out as soon as they exist.

    The same window, hop and padding rules as `model_windows` apply, so a stream scored live and the same audio
    uploaded whole give the same windows (up to resampler edge effects at the very start). A stream may use
    another hop than the card's: pass a spec with that `hop_s`.
    """

    def __init__(self, spec: VoiceInput, *, encoding: str, source_rate: int, gate: SpeechGate | None = None) -> None:
        codec = RAW_CODECS[encoding]
        self._decode = codec.decode
        self._width = codec.bytes_per_sample
        self.source_rate = source_rate
        self.model_rate = spec.sample_rate
        self.window = spec.window_samples
        self.hop = spec.hop_samples
        self.min_samples = spec.min_samples
        self._resampler = StreamResampler(source_rate, self.model_rate)
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
