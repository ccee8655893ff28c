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
from service.loaded_models import TextModel, VoiceModel
from service.schemas import CueOut, ModelRef, TextResult, TextWindowScore, VoiceResult, WindowScore
from service.text.cues import find_cues
from service.text.normalize import normalize
from service.text.tokenize import TokenWindow
from service.windowing import PreparedVoice, speech_windows


def _elapsed_ms(started: float) -> float:
    return round(1000 * (time.perf_counter() - started), 3)


def prepare_voice(model: VoiceModel, audio: DecodedAudio) -> PreparedVoice:
    """Resampled to the model's rate, cut into its windows, each with its speech."""
    return speech_windows(resample(audio.samples, audio.sample_rate, model.spec.sample_rate), model.spec)


async def score_voice(model: VoiceModel, audio: DecodedAudio, *, deadline: float) -> VoiceResult:
    started = time.perf_counter()
    prepared = await asyncio.to_thread(prepare_voice, model, audio)
    judged = [i for i, ok in enumerate(prepared.judged) if ok]
    # Only speech reaches the model: a detector's output on silence, tones or music means nothing.
    llrs = np.zeros(0)
    if judged:
        logits = await model.infer([prepared.frames[i] for i in judged], deadline=deadline)
        llrs = logits_to_llr(logits, model.card.calibration)
    by_window = dict(zip(judged, llrs.tolist(), strict=True))
    rate = model.spec.sample_rate
    window = model.spec.window_samples
    windows = [
        WindowScore(
            start_s=round(s / rate, 4),
            end_s=round(min(s + window, prepared.n_samples) / rate, 4),
            speech=i in by_window,
            speech_s=round(prepared.speech_s[i], 3),
            score=float(llr_to_probability(by_window[i])) if i in by_window else None,
            llr=by_window.get(i),
        )
        for i, s in enumerate(prepared.starts.tolist())
    ]
    # Mean LLR: a whole-call judgement that one odd window cannot flip; the timeline shows local peaks.
    aggregate = float(np.mean(llrs)) if llrs.size else None
    return VoiceResult(
        score=float(llr_to_probability(aggregate)) if aggregate is not None else None,
        llr=aggregate,
        verdict=verdict(aggregate, model.card) if aggregate is not None else "no_speech",  # type: ignore[arg-type]
        windows=windows,
        speech_s=round(prepared.total_speech_s, 3),
        duration_s=round(audio.duration_s, 4),
        source_sample_rate=audio.sample_rate,
        model=ModelRef(**model.ident),
        elapsed_ms=_elapsed_ms(started),
    )


MIN_CONTENT_WORDS = 3


def content_words(text: str) -> int:
    """Words of two or more letters: what a message needs before it can ask anyone to do anything."""
    return sum(1 for word in text.split() if sum(ch.isalpha() for ch in word) >= 2)


def _prepare_text(model: TextModel, text: str) -> tuple[list[TokenWindow], float, list[CueOut], int]:
    """Normalise once (see service.text.normalize) for the model's windows, its n-gram term and the cues; windows
    and cues report spans in the submitted text."""
    normalized = normalize(text)
    windows = model.encoder.windows(text, normalized=normalized)
    offset = model.ngram_offset(normalized.text)
    cues = [CueOut(**cue.to_dict()) for cue in find_cues(text, normalized=normalized)]
    return windows, offset, cues, content_words(normalized.text)


async def score_text(model: TextModel, text: str, *, lang: str | None, deadline: float) -> TextResult:
    started = time.perf_counter()
    if not text.strip():
        raise InvalidInput("text is empty or only whitespace", code="empty_text")
    token_windows, offset, cues, words = await asyncio.to_thread(_prepare_text, model, text)
    logits = await model.infer([w.input_ids for w in token_windows], deadline=deadline)
    llrs = logits_to_llr(logits, model.card.calibration, offset)
    windows = [
        TextWindowScore(char_start=w.char_start, char_end=w.char_end, score=float(llr_to_probability(llr)),
                        llr=float(llr))
        for w, llr in zip(token_windows, llrs.tolist(), strict=True)
    ]
    # Max LLR: one scam paragraph makes a scam ad, however much harmless text surrounds it.
    aggregate = float(np.max(llrs))
    band = verdict(aggregate, model.card)
    # Emoji, punctuation or a word or two carry no request to act: the model's output on them is noise, so such
    # a text is never called a scam, whatever it scores (the score itself is still reported).
    if words < MIN_CONTENT_WORDS and model.card.bands.index(band) > 1:
        band = "inconclusive"
    return TextResult(
        score=float(llr_to_probability(aggregate)),
        llr=aggregate,
        verdict=band,  # type: ignore[arg-type]
        cues=cues,
        windows=windows,
        lang=lang,
        model=ModelRef(**model.ident),
        elapsed_ms=_elapsed_ms(started),
    )
