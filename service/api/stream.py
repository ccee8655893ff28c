"""WS /v1/voice/stream: score a live call window by window as its audio arrives.

Protocol (JSON text messages, binary audio frames):
1. client -> {"event": "start", "encoding": "mulaw"|"alaw"|"pcm_s16le" (`RAW_CODECS`), "sample_rate": 8000,
   "call_id": "..."}
2. server -> {"event": "started", "call_id", "model", "window_s", "hop_s"}
3. client -> binary frames of raw audio, any size (telephony media streams send 20 ms)
4. server -> {"event": "score", "call_id", "index", "start_s", "end_s", "speech", "speech_s", "score", "llr",
   "verdict"} per window; a window without enough speech has speech=false, null score and verdict "no_speech"
5. client -> {"event": "stop"}; server -> {"event": "summary", ...} and closes normally.
Errors: {"event": "error", "problem": {problem+json}} and the socket closes (1008 policy, 1011 server side).

With "transcribe": true in the start message (and an optional "lang" hint) speech is also transcribed as each
utterance completes: {"event": "transcript", "index", "start_s", "end_s", "text", "language"} per segment,
{"event": "text_score", ...} whenever the running transcript's scam band changes, {"event": "transcript_behind",
...} when speech had to be skipped, and the summary carries "transcript" and a combined "risk"
(service/asr/stream.py). Transcripts go to the caller only, never to the log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.types import Message

from service.api.deps import AppState, rate_bucket
from service.api.problems import problem
from service.asr.model import AsrModel
from service.asr.stream import StreamTranscriber, stream_transcript_summary
from service.audio.codecs import RawEncoding
from service.audio.vad import SpeechGate, enough_speech
from service.auth import presented_key
from service.calibration import llr_to_probability, logits_to_llr, verdict
from service.errors import InvalidInput, NepcheckError, Overloaded
from service.loaded_models import TextModel, VoiceModel
from service.schemas import TextResult
from service.scoring import score_text
from service.windowing import StreamWindows

log = logging.getLogger(__name__)
router = APIRouter(tags=["voice"])

IDLE_TIMEOUT_S = 30.0


class StartMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: Literal["start"]
    encoding: RawEncoding = "mulaw"
    sample_rate: int = Field(8000, ge=4000, le=48_000)
    call_id: str | None = Field(None, max_length=128)
    transcribe: bool = Field(False, description="also transcribe speech and score the words for scams")
    lang: str | None = Field(None, max_length=16, description="language hint for transcription, e.g. 'nl'")


async def _fail(websocket: WebSocket, exc: NepcheckError, request_id: str | None) -> None:
    body = problem(exc.status, exc.code, exc.detail, request_id=request_id, title=exc.title)
    try:
        await websocket.send_json({"event": "error", "problem": body})
        await websocket.close(code=1011 if exc.status >= 500 else 1008, reason=exc.code)
    except (WebSocketDisconnect, RuntimeError):
        pass


async def _receive(websocket: WebSocket) -> Message:
    try:
        return await asyncio.wait_for(websocket.receive(), IDLE_TIMEOUT_S)
    except TimeoutError:
        raise InvalidInput(f"no message for {IDLE_TIMEOUT_S:.0f} s", code="stream_idle") from None


def _parse_start(message: Message) -> StartMessage:
    if message.get("text") is None:
        raise InvalidInput("the first message must be a JSON start message", code="invalid_message")
    try:
        return StartMessage.model_validate_json(message["text"])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"start message: {where}: {first['msg']}", code="invalid_message") from None


async def _score_window(model: VoiceModel, window: np.ndarray, deadline_s: float) -> float:
    logits = await model.infer([window], deadline=time.monotonic() + deadline_s)
    return float(logits_to_llr(logits, model.card.calibration)[0])


@router.websocket("/v1/voice/stream")
async def voice_stream(websocket: WebSocket) -> None:
    state: AppState = websocket.app.state.nepcheck
    request_id = websocket.scope.get("state", {}).get("request_id")
    await websocket.accept()
    try:
        key = state.auth.authenticate(
            presented_key(websocket.headers.get("authorization"), websocket.headers.get("x-api-key"))
        )
        state.limiter.check(rate_bucket(state, key, websocket))
        if state.holder is None or not state.ready:
            raise Overloaded("models are still loading; retry shortly", code="not_ready")
        async with state.holder.lease() as models:
            state.metrics.streams.inc()
            try:
                await _serve_stream(websocket, state, models.voice, key.id, request_id, asr=models.asr,
                                    text_model=models.text)
            finally:
                state.metrics.streams.dec()
    except WebSocketDisconnect:
        log.info("request_id=%s stream closed by the client", request_id)
    except NepcheckError as exc:
        await _fail(websocket, exc, request_id)


async def _serve_stream(
    websocket: WebSocket, state: AppState, model: VoiceModel, key_id: str, request_id: str | None, *,
    asr: AsrModel | None = None, text_model: TextModel | None = None,
) -> None:
    settings = state.settings
    start = _parse_start(await _receive(websocket))
    if start.transcribe and (asr is None or text_model is None):
        raise InvalidInput("this server has no speech recogniser (install the asr extra and run make install-asr); "
                           "start without \"transcribe\"", code="transcription_unavailable")
    send_lock = asyncio.Lock()

    async def send(event: dict[str, Any]) -> None:
        # The transcriber's task sends too: one message at a time on the socket.
        async with send_lock:
            await websocket.send_json(event)

    spec = model.spec
    rate = spec.sample_rate
    gate = SpeechGate(rate, spec.speech_threshold)
    # The card's windows at the stream's own hop (NEPCHECK_STREAM_HOP_S).
    stream_spec = spec.model_copy(update={"hop_s": settings.stream_hop_s})
    windows = StreamWindows(stream_spec, encoding=start.encoding, source_rate=start.sample_rate, gate=gate)
    await websocket.send_json({
        "event": "started", "call_id": start.call_id, "model": model.ident,
        "window_s": spec.window_s, "hop_s": settings.stream_hop_s, "transcribe": start.transcribe,
    })
    transcriber: StreamTranscriber | None = None
    if start.transcribe and asr is not None and text_model is not None:
        scorer = text_model

        async def score_words(text: str, lang: str | None) -> TextResult:
            return await score_text(scorer, text, lang=lang, deadline=time.monotonic() + settings.request_timeout_s)

        transcriber = StreamTranscriber(
            asr, encoding=start.encoding, source_rate=start.sample_rate, lang=start.lang, call_id=start.call_id,
            max_backlog_s=settings.stream_asr_max_backlog_s, timeout_s=settings.asr_timeout_s, send=send,
            score_text=score_words)
    llrs: list[float] = []
    emitted = 0

    async def emit(completed: list[tuple[int, np.ndarray]]) -> None:
        nonlocal emitted
        for offset, window in completed:
            end = min(offset + spec.window_samples, windows.total)
            speech_s = gate.speech_in(offset, end)
            event = {
                "event": "score", "call_id": start.call_id, "index": emitted,
                "start_s": round(offset / rate, 4), "end_s": round((offset + spec.window_samples) / rate, 4),
                "speech": False, "speech_s": round(speech_s, 3), "score": None, "llr": None, "verdict": "no_speech",
            }
            emitted += 1
            if enough_speech(speech_s, (end - offset) / rate, spec.min_speech_s):
                llr = await _score_window(model, window, settings.request_timeout_s)
                llrs.append(llr)
                event.update(speech=True, score=float(llr_to_probability(llr)), llr=llr,
                             verdict=verdict(llr, model.card))
            await send(event)

    try:
        while True:
            message = await _receive(websocket)
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            if message.get("bytes") is not None:
                if transcriber is not None:
                    await transcriber.push(message["bytes"])
                await emit(windows.push(message["bytes"]))
                if windows.duration_s > settings.max_stream_s:
                    raise InvalidInput(f"stream longer than {settings.max_stream_s:.0f} s", code="stream_too_long")
                continue
            try:
                event = json.loads(message.get("text") or "").get("event")
            except (json.JSONDecodeError, AttributeError):
                event = None
            if event != "stop":
                raise InvalidInput("expected binary audio frames or {\"event\": \"stop\"}", code="invalid_message")
            await emit(windows.finish())
            if transcriber is not None:
                await transcriber.finish()
            break
    except BaseException:
        if transcriber is not None:
            await transcriber.cancel()
        raise

    aggregate = float(np.mean(llrs)) if llrs else None
    summary = {
        "event": "summary", "call_id": start.call_id, "duration_s": round(windows.duration_s, 4),
        "windows": emitted, "speech_windows": len(llrs), "speech_s": round(gate.speech_s, 3), "model": model.ident,
        "llr": aggregate,
        "score": float(llr_to_probability(aggregate)) if aggregate is not None else None,
        "verdict": verdict(aggregate, model.card) if aggregate is not None else None,
        "max_window_score": float(llr_to_probability(max(llrs))) if llrs else None,
    }
    if not emitted:
        summary["detail"] = f"the stream was shorter than the {spec.min_duration_s:g} s the model needs"
    elif not llrs:
        summary["verdict"] = "no_speech"
        summary["detail"] = "no window held enough speech to judge the voice"
    if transcriber is not None:
        voice_verdict = verdict(aggregate, model.card) if aggregate is not None else None
        voice_score = float(llr_to_probability(aggregate)) if aggregate is not None else None
        summary.update(stream_transcript_summary(transcriber, voice_verdict, voice_score))
    await websocket.send_json(summary)
    await websocket.close(code=1000)
    log.info("request_id=%s key_id=%s stream windows=%d duration_s=%.1f score=%s transcribed_segments=%s", request_id,
             key_id, len(llrs), windows.duration_s, summary["score"],
             len(transcriber.segments) if transcriber is not None else None)
