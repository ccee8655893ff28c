"""Speech activity: which 32 ms frames of a clip hold speech, so that non-speech never gets a voice verdict.

A synthetic-voice detector has only ever seen speech; on silence, a tone, DTMF, music or noise its output is
meaningless, and a meaningless score above a threshold reads as `fake`. So windows are gated on speech first
(DESIGN.md: "speech first") and only windows with enough speech are scored.

The detector is Silero VAD 6.2.3 (MIT; `assets/silero_vad.LICENSE`) in its "sequence" ONNX form from the
`silero-vad` wheel: the same LSTM as the streaming model, but one ONNX call runs a whole block of frames, so a
4 s window costs one call instead of 125. It runs under onnxruntime alone, and training imports this module,
so the service and training gate exactly alike. The model wants 16 kHz; other rates are resampled for it.

`SpeechActivity` carries the LSTM state, the 64-sample context and a partial frame between pushes, so a live
stream fed in 20 ms pieces gets the same frame probabilities as the whole clip at once.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from service.audio.resample import StreamResampler
from service.errors import ModelError

__all__ = [
    "FRAME_S",
    "VAD_RATE",
    "SpeechActivity",
    "SpeechGate",
    "enough_speech",
    "frame_probabilities",
    "speech_seconds",
]

VAD_RATE = 16_000
FRAME = 512  # samples per frame at 16 kHz: 32 ms
CONTEXT = 64  # samples of the previous frame the model sees before each frame
FRAME_S = FRAME / VAD_RATE
BLOCK_FRAMES = 512  # frames per ONNX call (16.4 s), bounding the transient memory of one call
STATE_SHAPE = (1, 1, 128)

MODEL_PATH = Path(__file__).with_name("assets") / "silero_vad_16k_sequence.onnx"
MODEL_SHA256 = "9ccdacc4719d8aa7e45a77536bfabec45a03ba1f2fad5e241ab4060b24238a85"


@functools.cache
def _session() -> ort.InferenceSession:
    """One session per process; ORT sessions are safe to run from several threads at once."""
    data = MODEL_PATH.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != MODEL_SHA256:
        raise ModelError(f"{MODEL_PATH}: sha256 {digest} does not match the shipped Silero VAD ({MODEL_SHA256})")
    options = ort.SessionOptions()
    # Tiny LSTM: one thread is fastest and leaves the cores to the detectors.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])


class SpeechActivity:
    """Per-frame speech probabilities of a 16 kHz stream, computed as its samples arrive."""

    def __init__(self) -> None:
        self._h = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self._finished = False

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Probabilities of the frames these samples complete (maybe none)."""
        if self._finished:
            raise RuntimeError("SpeechActivity.push after finish")
        self._pending = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32).reshape(-1)])
        complete = self._pending.size // FRAME
        if not complete:
            return np.zeros(0, dtype=np.float32)
        frames = self._pending[: complete * FRAME].reshape(complete, FRAME)
        self._pending = self._pending[complete * FRAME :]
        return self._run(frames)

    def finish(self) -> np.ndarray:
        """The last, zero-padded partial frame's probability, if samples are left over."""
        self._finished = True
        if not self._pending.size:
            return np.zeros(0, dtype=np.float32)
        frame = np.zeros((1, FRAME), dtype=np.float32)
        frame[0, : self._pending.size] = self._pending
        self._pending = np.zeros(0, dtype=np.float32)
        return self._run(frame)

    def _run(self, frames: np.ndarray) -> np.ndarray:
        session = _session()
        out = []
        for first in range(0, frames.shape[0], BLOCK_FRAMES):
            block = frames[first : first + BLOCK_FRAMES]
            contexts = np.empty((block.shape[0], CONTEXT), dtype=np.float32)
            contexts[0] = self._context
            contexts[1:] = block[:-1, -CONTEXT:]
            self._context = block[-1, -CONTEXT:].copy()
            probs, self._h, self._c = session.run(
                ["speech_probs", "hn", "cn"],
                {"input": np.concatenate([contexts, block], axis=1), "h": self._h, "c": self._c},
            )
            out.append(np.asarray(probs, dtype=np.float32).reshape(-1))
        return np.concatenate(out)


def frame_probabilities(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Speech probability of every 32 ms frame of a whole clip (the last frame zero-padded)."""
    activity = SpeechActivity()
    resampler = StreamResampler(sample_rate, VAD_RATE)
    head = activity.push(resampler.push(samples))
    tail = activity.push(resampler.flush())
    return np.concatenate([head, tail, activity.finish()])


def speech_seconds(probabilities: np.ndarray, threshold: float) -> float:
    return float(np.count_nonzero(probabilities >= threshold) * FRAME_S)


def enough_speech(speech_s: float, span_s: float, min_speech_s: float) -> bool:
    """A window is judged when it holds `min_speech_s` of speech, or half of a shorter clip's length."""
    return speech_s > 0 and speech_s >= min(min_speech_s, 0.5 * span_s)


@dataclass
class SpeechGate:
    """Speech frames of a clip or a stream at any rate, and how much speech a span at that rate holds.

    `push` takes audio at `sample_rate` (the model's) as it arrives; `speech_in(start, end)` counts the speech
    frames whose centre lies in that sample span. A window decided while its last frame is still incomplete
    (live streams) misses at most those 32 ms.
    """

    sample_rate: int
    threshold: float

    def __post_init__(self) -> None:
        self._activity = SpeechActivity()
        self._resampler = StreamResampler(self.sample_rate, VAD_RATE)
        self._flags = np.zeros(0, dtype=bool)

    def push(self, samples: np.ndarray) -> None:
        self._add(self._activity.push(self._resampler.push(samples)))

    def finish(self) -> None:
        self._add(self._activity.push(self._resampler.flush()))
        self._add(self._activity.finish())

    @property
    def speech_s(self) -> float:
        return float(np.count_nonzero(self._flags) * FRAME_S)

    def speech_in(self, start: int, end: int) -> float:
        """Seconds of speech between two sample offsets at `sample_rate`."""
        scale = VAD_RATE / self.sample_rate
        # frame i's centre (i + 0.5) * FRAME lies in [start, end) at 16 kHz
        first = max(0, math.ceil(start * scale / FRAME - 0.5))
        stop = max(first, math.ceil(end * scale / FRAME - 0.5))
        return float(np.count_nonzero(self._flags[first:stop]) * FRAME_S)

    def _add(self, probs: np.ndarray) -> None:
        if probs.size:
            self._flags = np.concatenate([self._flags, probs >= self.threshold])
