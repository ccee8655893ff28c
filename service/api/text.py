"""POST /v1/text/score: a scam probability for ad copy, a message or a call transcript, with its cues."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from service.api.deps import Caller, Models, SettingsDep
from service.api.problems import PROBLEM_RESPONSES
from service.api.text_input import check_text_length
from service.schemas import TextRequest, TextResult
from service.scoring import score_text

router = APIRouter(tags=["text"])


@router.post(
    "/v1/text/score",
    response_model=TextResult,
    responses=PROBLEM_RESPONSES,
    summary="Score a text for investment, bank-helpdesk and related fraud",
    description="`cues` list the scam cues found and where, as an explanation for a reviewer; the decision is "
    "the model's `score`. Long texts are scored in overlapping token windows; the text is never cut.",
)
async def score_text_message(
    body: TextRequest, request: Request, caller: Caller, models: Models, settings: SettingsDep
) -> TextResult:
    deadline = time.monotonic() + settings.request_timeout_s
    check_text_length(body.text, settings)
    result = await score_text(models.text, body.text, lang=body.lang, deadline=deadline)
    request.state.score = result.score
    return result
