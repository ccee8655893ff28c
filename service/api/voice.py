"""POST /v1/voice/score: one snippet in, a calibrated synthetic-voice score with its window timeline out."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request

from service.api.audio_input import RawEncoding, decode, read_upload
from service.api.deps import Caller, Models, SettingsDep
from service.api.problems import PROBLEM_RESPONSES
from service.audio import RAW_ENCODINGS
from service.schemas import VoiceResult
from service.scoring import score_voice

router = APIRouter(tags=["voice"])

AUDIO_BODY = {
    "requestBody": {
        "required": True,
        "description": "audio/wav, audio/flac, audio/ogg, audio/mpeg or audio/mp4 (AAC); or multipart/form-data "
        "with the clip in field `file`; or headerless telephony audio with ?encoding=",
        "content": {
            "audio/wav": {"schema": {"type": "string", "format": "binary"}},
            "audio/flac": {"schema": {"type": "string", "format": "binary"}},
            "audio/ogg": {"schema": {"type": "string", "format": "binary"}},
            "audio/mpeg": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}},
                           "required": ["file"]}
            },
        },
    }
}


@router.post(
    "/v1/voice/score",
    response_model=VoiceResult,
    responses=PROBLEM_RESPONSES,
    openapi_extra=AUDIO_BODY,
    summary="Score a voice snippet for synthesis or cloning",
    description="Long audio is scored in fixed windows with a hop; `windows` is the timeline and `score` the "
    "aggregate. A `genuine` verdict means no sign of synthesis was found; it does not prove who is speaking.",
)
async def score_voice_snippet(
    request: Request,
    caller: Caller,
    models: Models,
    settings: SettingsDep,
    encoding: Annotated[RawEncoding | None, Query(description=f"headerless audio: {', '.join(RAW_ENCODINGS)}")] = None,
    sample_rate: Annotated[int | None, Query(ge=4000, le=192_000, description="rate of headerless audio")] = None,
) -> VoiceResult:
    deadline = time.monotonic() + settings.request_timeout_s
    data, content_type = await read_upload(request, settings)
    audio = await decode(data, content_type, settings, encoding=encoding, sample_rate=sample_rate,
                         deadline=deadline)
    result = await score_voice(models.voice, audio, deadline=deadline)
    request.state.score = result.score
    return result
