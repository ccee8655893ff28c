"""Scoring pipelines: decoded audio or text in, API results out.

CPU-heavy preparation (resampling, windowing, tokenising) runs in a worker thread so the event loop keeps
serving; inference goes through each model's micro-batcher.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from service.audio import DecodedAudio, resample
from service.calibration import llr_to_probability, logits_to_llr, verdict
from service.errors import InvalidInput
from service.models import TextModel, VoiceModel
from service.schemas import CueOut, ModelRef, TextResult, TextWindowScore, VoiceResult, WindowScore
from service.text.cues import find_cues
from service.text.tokenize import TokenWindow
from service.windowing import frame_windows


def _elapsed_ms(started: float) -> float:
    return round(1000 * (time.perf_counter() - started), 3)


def prepare_voice(model: VoiceModel, audio: DecodedAudio) -> tuple[np.ndarray, np.ndarray, int]:
    """Windows at the model's rate, their start offsets, and the resampled length."""
    spec = model.spec
    rate = spec.sample_rate
    samples = resample(audio.samples, audio.sample_rate, rate)
    frames, starts = frame_windows(
        samples,
        window=spec.window_samples,
        hop=max(1, round(spec.hop_s * rate)),
        min_samples=max(1, round(spec.min_duration_s * rate)),
        sample_rate=rate,
    )
    return frames, starts, samples.size


async def score_voice(model: VoiceModel, audio: DecodedAudio, *, deadline: float) -> VoiceResult:
    started = time.perf_counter()
    frames, starts, n_samples = await asyncio.to_thread(prepare_voice, model, audio)
    logits = await model.infer(list(frames), deadline=deadline)
    llrs = logits_to_llr(logits, model.card.calibration)
    rate = model.spec.sample_rate
    window = model.spec.window_samples
    windows = [
        WindowScore(
            start_s=round(s / rate, 4),
            end_s=round(min(s + window, n_samples) / rate, 4),
            score=float(llr_to_probability(llr)),
            llr=float(llr),
        )
        for s, llr in zip(starts.tolist(), llrs.tolist(), strict=True)
    ]
    # Mean LLR: a whole-call judgement that one odd window cannot flip; the timeline shows local peaks.
    aggregate = float(np.mean(llrs))
    return VoiceResult(
        score=float(llr_to_probability(aggregate)),
        llr=aggregate,
        verdict=verdict(aggregate, model.card),  # type: ignore[arg-type]
        windows=windows,
        duration_s=round(audio.duration_s, 4),
        source_sample_rate=audio.sample_rate,
        model=ModelRef(**model.ident),
        elapsed_ms=_elapsed_ms(started),
    )


def _prepare_text(model: TextModel, text: str) -> tuple[list[TokenWindow], list[CueOut]]:
    return model.encoder.windows(text), [CueOut(**cue.to_dict()) for cue in find_cues(text)]


async def score_text(model: TextModel, text: str, *, lang: str | None, deadline: float) -> TextResult:
    started = time.perf_counter()
    if not text.strip():
        raise InvalidInput("text is empty or only whitespace", code="empty_text")
    token_windows, cues = await asyncio.to_thread(_prepare_text, model, text)
    logits = await model.infer([w.input_ids for w in token_windows], deadline=deadline)
    llrs = logits_to_llr(logits, model.card.calibration)
    windows = [
        TextWindowScore(char_start=w.char_start, char_end=w.char_end, score=float(llr_to_probability(llr)),
                        llr=float(llr))
        for w, llr in zip(token_windows, llrs.tolist(), strict=True)
    ]
    # Max LLR: one scam paragraph makes a scam ad, however much harmless text surrounds it.
    aggregate = float(np.max(llrs))
    return TextResult(
        score=float(llr_to_probability(aggregate)),
        llr=aggregate,
        verdict=verdict(aggregate, model.card),  # type: ignore[arg-type]
        cues=cues,
        windows=windows,
        lang=lang,
        model=ModelRef(**model.ident),
        elapsed_ms=_elapsed_ms(started),
    )
