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
from service.errors import InvalidInput
from service.risk import combine
from service.schemas import AdRequest, AdResult, CallResult, TextResult, VoiceResult
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
    "is 422 `missing_file`.",
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
) -> CallResult:
    started = time.perf_counter()
    deadline = time.monotonic() + settings.request_timeout_s
    spoken = transcript if transcript is not None and transcript.strip() else None
    if file is None and spoken is None:
        raise InvalidInput("send the call audio in the multipart field 'file', a 'transcript', or both",
                           code="missing_file")
    if transcript:
        check_text_length(transcript, settings, "transcript")
    voice_task = None
    if file is not None:
        audio = await decode(await file.read(), file.content_type, settings, encoding=encoding,
                             sample_rate=sample_rate)
        voice_task = score_voice(models.voice, audio, deadline=deadline)
    text_task = score_text(models.text, spoken, lang=lang, deadline=deadline) if spoken is not None else None
    voice: VoiceResult | None
    text: TextResult | None
    if voice_task is not None and text_task is not None:
        voice, text = await asyncio.gather(voice_task, text_task)
    else:
        voice = await voice_task if voice_task is not None else None
        text = await text_task if text_task is not None else None
    risk = combine(voice, text)
    request.state.score = risk.score
    return CallResult(voice=voice, text=text, risk=risk, elapsed_ms=_elapsed_ms(started))


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
