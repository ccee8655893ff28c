"""Transcribing an uploaded call for `POST /v1/calls/score`: resample, transcribe, join into the scored text."""

from __future__ import annotations

import asyncio
import time

from service.asr.model import AsrModel, to_asr_rate
from service.asr.timeline import join_segments
from service.audio import DecodedAudio
from service.schemas import ModelRef, Transcript


async def transcribe_call(asr: AsrModel, audio: DecodedAudio, *, lang: str | None, timeout_s: float) -> Transcript:
    """The call's transcript; its own deadline (NEPCHECK_ASR_TIMEOUT_S) starts when the audio is decoded."""
    started = time.perf_counter()
    deadline = time.monotonic() + timeout_s
    samples = await asyncio.to_thread(to_asr_rate, audio.samples, audio.sample_rate)
    result = await asr.transcribe(samples, lang=lang, deadline=deadline)
    text, segments = join_segments(result.segments)
    return Transcript(
        text=text, language=result.language, language_source=result.language_source,  # type: ignore[arg-type]
        language_probability=result.language_probability, segments=segments, model=ModelRef(**asr.ident),
        elapsed_ms=round(1000 * (time.perf_counter() - started), 3),
    )
