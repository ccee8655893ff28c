"""Live-call transcription for `WS /v1/voice/stream`: utterances cut at pauses, transcribed one after another.

Why its own speech detector: utterance boundaries need frame-level pauses at 16 kHz (Whisper's rate), while the
voice gate counts speech per window at the voice model's rate; Silero on 20 ms telephony frames costs little.

An utterance ends after `PAUSE_S` of non-speech or at `MAX_UTTERANCE_S`. Each stream transcribes at most one
utterance at a time (so one stream never holds more than one ASR slot); utterances that wait longer than the
backlog allows (`NEPCHECK_STREAM_ASR_MAX_BACKLOG_S` of speech) are dropped, oldest first, and the stream is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.asr.model import SAMPLE_RATE, AsrModel
from service.audio.codecs import RAW_CODECS
from service.audio.resample import StreamResampler
from service.audio.vad import FRAME, SpeechActivity
from service.card import TEXT_BANDS, VOICE_BANDS
from service.errors import NepcheckError
from service.risk import LEVELS

PAUSE_S = 0.6
MAX_UTTERANCE_S = 15.0
MIN_UTTERANCE_S = 0.3
PAD_S = 0.2
SPEECH_THRESHOLD = 0.5


@dataclass(frozen=True)
class Utterance:
    start_s: float
    end_s: float
    samples: np.ndarray


class UtteranceCutter:
    """16 kHz samples in, complete utterances out (with `PAD_S` of context either side)."""

    def __init__(self) -> None:
        self._activity = SpeechActivity()
        self._audio = np.zeros(0, dtype=np.float32)
        self._offset = 0  # absolute sample index of _audio[0]
        self._frames = 0  # frames judged so far
        self._start: int | None = None  # first speech frame of the open utterance
        self._last_speech = 0  # last speech frame seen

    def push(self, samples: np.ndarray) -> list[Utterance]:
        self._audio = np.concatenate([self._audio, samples.astype(np.float32, copy=False)])
        return self._judge(self._activity.push(samples), final=False)

    def finish(self) -> list[Utterance]:
        return self._judge(self._activity.finish(), final=True)

    def _judge(self, probs: np.ndarray, *, final: bool) -> list[Utterance]:
        out = []
        pause = round(PAUSE_S * SAMPLE_RATE / FRAME)
        longest = round(MAX_UTTERANCE_S * SAMPLE_RATE / FRAME)
        for p in probs:
            frame = self._frames
            self._frames += 1
            if p >= SPEECH_THRESHOLD:
                if self._start is None:
                    self._start = frame
                self._last_speech = frame
            if self._start is not None and (frame - self._last_speech >= pause or frame - self._start >= longest):
                out.extend(self._close())
        if final and self._start is not None:
            out.extend(self._close())
        if self._start is None:  # nothing open: keep only the padding a next utterance may need
            keep_from = max(self._offset, self._frames * FRAME - round(PAD_S * SAMPLE_RATE))
            self._audio = self._audio[keep_from - self._offset :]
            self._offset = keep_from
        return out

    def _close(self) -> list[Utterance]:
        assert self._start is not None
        pad = round(PAD_S * SAMPLE_RATE)
        begin = max(self._offset, self._start * FRAME - pad)
        end = min(self._offset + self._audio.size, (self._last_speech + 1) * FRAME + pad)
        self._start = None
        if end - begin < MIN_UTTERANCE_S * SAMPLE_RATE:
            return []
        samples = self._audio[begin - self._offset : end - self._offset].copy()
        return [Utterance(begin / SAMPLE_RATE, end / SAMPLE_RATE, samples)]


Send = Callable[[dict[str, Any]], Awaitable[None]]
ScoreText = Callable[[str, str | None], Awaitable[Any]]


class StreamTranscriber:
    """Decodes the stream's frames itself, cuts utterances and transcribes them in one background task."""

    def __init__(self, asr: AsrModel, *, encoding: str, source_rate: int, lang: str | None, call_id: str | None,
                 max_backlog_s: float, timeout_s: float, send: Send, score_text: ScoreText) -> None:
        codec = RAW_CODECS[encoding]
        self._decode, self._width = codec.decode, codec.bytes_per_sample
        self._carry = b""
        self._resampler = StreamResampler(source_rate, SAMPLE_RATE)
        self._cutter = UtteranceCutter()
        self._asr = asr
        self._lang = asr.language_hint(lang)
        self._call_id = call_id
        self._max_backlog_s = max_backlog_s
        self._timeout_s = timeout_s
        self._send = send
        self._score_text = score_text
        self._queue: deque[Utterance] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._worker = asyncio.get_running_loop().create_task(self._work())
        self.segments: list[dict[str, Any]] = []
        self.language: str | None = self._lang
        self.text_result: Any = None
        self.skipped_s = 0.0
        self.failure: NepcheckError | None = None

    @property
    def text(self) -> str:
        return " ".join(s["text"] for s in self.segments)

    async def push(self, data: bytes) -> None:
        data = self._carry + data
        usable = len(data) - len(data) % self._width
        self._carry = data[usable:]
        if usable:
            await self._enqueue(self._cutter.push(self._resampler.push(self._decode(data[:usable]))))

    async def finish(self) -> None:
        """Flush the last utterance and wait for every queued one to be transcribed."""
        await self._enqueue(self._cutter.push(self._resampler.flush()) + self._cutter.finish())
        self._closing = True
        self._wake.set()
        await self._worker

    async def cancel(self) -> None:
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker

    async def _enqueue(self, utterances: list[Utterance]) -> None:
        if not utterances:
            return
        self._queue.extend(utterances)
        backlog = sum(u.end_s - u.start_s for u in self._queue)
        skipped = []
        while len(self._queue) > 1 and backlog > self._max_backlog_s:
            dropped = self._queue.popleft()
            backlog -= dropped.end_s - dropped.start_s
            skipped.append(dropped)
        if skipped:
            seconds = sum(u.end_s - u.start_s for u in skipped)
            self.skipped_s += seconds
            await self._send({"event": "transcript_behind", "call_id": self._call_id,
                              "skipped_s": round(seconds, 2), "from_s": round(skipped[0].start_s, 2),
                              "to_s": round(skipped[-1].end_s, 2), "backlog_s": round(backlog, 2)})
        self._wake.set()

    async def _work(self) -> None:
        band = None
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            utterance = self._queue.popleft()
            try:
                heard = await self._asr.transcribe(
                    utterance.samples, lang=self.language,
                    deadline=time.monotonic() + self._timeout_s)
            except NepcheckError as exc:  # busy or late: say so, keep the stream going
                self.failure = exc
                await self._send({"event": "transcript_behind", "call_id": self._call_id, "code": exc.code,
                                  "skipped_s": round(utterance.end_s - utterance.start_s, 2),
                                  "from_s": round(utterance.start_s, 2), "to_s": round(utterance.end_s, 2)})
                self.skipped_s += utterance.end_s - utterance.start_s
                continue
            if self.language is None:
                self.language = heard.language  # one language per call: short utterances are detected poorly
            for segment in heard.segments:
                event = {"event": "transcript", "call_id": self._call_id, "index": len(self.segments),
                         "start_s": round(utterance.start_s + segment.start_s, 2),
                         "end_s": round(min(utterance.end_s, utterance.start_s + segment.end_s), 2),
                         "text": segment.text, "language": self.language}
                self.segments.append(event)
                await self._send(event)
            if heard.segments:
                self.text_result = await self._score_text(self.text, self.language)
                if self.text_result.verdict != band:
                    band = self.text_result.verdict
                    await self._send({"event": "text_score", "call_id": self._call_id,
                                      "segments": len(self.segments), "score": self.text_result.score,
                                      "llr": self.text_result.llr, "verdict": band,
                                      "cues": sorted({c.kind for c in self.text_result.cues})})


def stream_transcript_summary(transcriber: StreamTranscriber, voice_verdict: str | None,
                              voice_score: float | None) -> dict[str, Any]:
    """The summary's transcript part and the call's risk from both detectors (the most severe verdict decides)."""
    text = transcriber.text_result
    severity, score = 0, 0.0
    if voice_verdict in VOICE_BANDS and voice_score is not None:
        severity, score = VOICE_BANDS.index(voice_verdict), voice_score
    if text is not None:
        severity = max(severity, TEXT_BANDS.index(text.verdict))
        score = max(score, text.score)
    return {
        "transcript": {"text": transcriber.text, "segments": len(transcriber.segments),
                       "language": transcriber.language, "skipped_s": round(transcriber.skipped_s, 2)},
        "text": None if text is None else {"score": text.score, "llr": text.llr, "verdict": text.verdict,
                                           "cues": sorted({c.kind for c in text.cues})},
        "risk": {"level": LEVELS[severity], "score": score},
    }
