"""Calls and ads: both detectors on one item, and one combined risk with its reasons."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile

from service.ads import score_ad_item
from service.api.audio_input import RawEncoding, decode
from service.api.deps import Caller, Models, SettingsDep
from service.api.problems import PROBLEM_RESPONSES
from service.api.text_input import check_text_length
from service.asr.calls import transcribe_call
from service.asr.timeline import with_segment_times
from service.errors import InvalidInput
from service.risk import combine
from service.schemas import AdRequest, AdResult, CallResult, TextResult, Transcript, VoiceResult
from service.scoring import score_text, score_voice

router = APIRouter(tags=["combined"])


def _elapsed_ms(started: float) -> float:
    return round(1000 * (time.perf_counter() - started), 3)


@router.post(
    "/v1/calls/score",
    response_model=CallResult,
    responses=PROBLEM_RESPONSES,
    summary="Score a call: the voice, the transcript if given, and one combined risk",
    description="Send the call audio in `file`, its `transcript`, or both (multipart/form-data). A detector whose "
    "input is absent gives `null` (`voice` without `file`, `text` without a transcript); with neither the answer "
    "is 422 `missing_file`. With audio and no transcript the service transcribes the call itself when it has an ASR "
    "model (`transcription` says what happened; `transcribe=false` skips it, `transcribe=true` demands it: 422 "
    "`transcription_unavailable` without one) and scores the words; the transcript is returned, never logged.",
)
async def score_call(
    request: Request,
    caller: Caller,
    models: Models,
    settings: SettingsDep,
    file: Annotated[
        UploadFile | None, File(description="the call audio, any accepted format; optional when a transcript is given")
    ] = None,
    transcript: Annotated[str | None, Form(description="what was said, from your speech recogniser")] = None,
    lang: Annotated[str | None, Form(max_length=16)] = None,
    encoding: Annotated[RawEncoding | None, Query()] = None,
    sample_rate: Annotated[int | None, Query(ge=4000, le=192_000)] = None,
    transcribe: Annotated[bool | None, Form(description="without a transcript: true transcribes the audio (422 "
                                            "without an ASR model), false skips it, unset transcribes when the "
                                            "server can")] = None,
) -> CallResult:
    started = time.perf_counter()
    deadline = time.monotonic() + settings.request_timeout_s
    spoken = transcript if transcript is not None and transcript.strip() else None
    if file is None and spoken is None:
        raise InvalidInput("send the call audio in the multipart field 'file', a 'transcript', or both",
                           code="missing_file")
    if transcript:
        check_text_length(transcript, settings, "transcript")
    if spoken is None and transcribe and models.asr is None:
        raise InvalidInput("this server has no speech recogniser (install the asr extra and run make install-asr); "
                           "send a 'transcript', or transcribe=false", code="transcription_unavailable")
    status = "provided" if spoken is not None else "not_applicable"
    voice: VoiceResult | None = None
    text: TextResult | None = None
    heard: Transcript | None = None
    if file is not None:
        audio = await decode(await file.read(), file.content_type, settings, encoding=encoding,
                             sample_rate=sample_rate)
        if spoken is None:
            status = "skipped" if transcribe is False else "unavailable" if models.asr is None else "done"
        if status == "done" and models.asr is not None:
            # Voice scoring and transcription run side by side; the words are scored once they are in, with a
            # fresh request deadline, since transcription has its own (NEPCHECK_ASR_TIMEOUT_S).
            voice, heard_now = await asyncio.gather(
                score_voice(models.voice, audio, deadline=deadline),
                transcribe_call(models.asr, audio, lang=lang, timeout_s=settings.asr_timeout_s))
            heard = heard_now
            if heard_now.text:
                text = await score_text(models.text, heard_now.text, lang=lang or heard_now.language,
                                        deadline=time.monotonic() + settings.request_timeout_s)
        elif spoken is not None:
            voice, text = await asyncio.gather(score_voice(models.voice, audio, deadline=deadline),
                                               score_text(models.text, spoken, lang=lang, deadline=deadline))
        else:
            voice = await score_voice(models.voice, audio, deadline=deadline)
    elif spoken is not None:
        text = await score_text(models.text, spoken, lang=lang, deadline=deadline)
    risk = combine(voice, text)
    if heard is not None and text is not None:
        risk = with_segment_times(risk, text, heard.segments)
    request.state.score = risk.score
    return CallResult(voice=voice, text=text, risk=risk, elapsed_ms=_elapsed_ms(started), transcript=heard,
                      transcription=status)  # type: ignore[arg-type]


@router.post(
    "/v1/ads/score",
    response_model=AdResult,
    responses=PROBLEM_RESPONSES,
    summary="Score an ad: its copy, its soundtrack if given, and its landing URL",
)
async def score_ad(
    body: AdRequest, request: Request, caller: Caller, models: Models, settings: SettingsDep
) -> AdResult:
    result = await score_ad_item(models, body, settings, deadline=time.monotonic() + settings.request_timeout_s)
    request.state.score = result.risk.score
    return result
