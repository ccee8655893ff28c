"""WS /v1/voice/stream against the real server, fed like a telephony media stream (20 ms mu-law frames)."""

import asyncio
import json

import pytest
import websockets

from service.audio import mulaw_encode
from tests.audiokit import loud_speech, speech
from tests.conftest import USER_KEY

pytestmark = pytest.mark.e2e
AUTH = {"Authorization": f"Bearer {USER_KEY}"}


async def converse(url: str, first: str | bytes, frames: list[bytes], *, stop: bool = True,
                   headers: dict | None = None) -> list[dict]:
    messages = []
    headers = AUTH if headers is None else headers
    async with websockets.connect(f"{url}/v1/voice/stream", additional_headers=headers) as ws:
        try:
            for message in [first, *frames, *([json.dumps({"event": "stop"})] if stop else [])]:
                await ws.send(message)
        except websockets.ConnectionClosed:
            pass  # the server may close early (an error); what it said is still read below
        try:
            async for raw in ws:
                messages.append(json.loads(raw))
        except websockets.ConnectionClosed:
            pass
        messages.append({"close_code": ws.close_code})
    return messages


def mulaw_frames(seconds: float, amplitude: float = 0.5, *, loud: bool = False) -> list[bytes]:
    data = mulaw_encode(loud_speech(seconds, 8000) if loud else speech(seconds, 8000, amplitude=amplitude))
    return [data[i : i + 160] for i in range(0, len(data), 160)]


def test_live_call_gets_a_score_per_window_and_a_summary(server) -> None:
    start = json.dumps({"event": "start", "encoding": "mulaw", "sample_rate": 8000, "call_id": "call-1"})
    messages = asyncio.run(converse(server.ws_url, start, mulaw_frames(4.5, loud=True)))
    assert messages[0]["event"] == "started" and messages[0]["call_id"] == "call-1"
    assert messages[0]["window_s"] == 2.0 and messages[0]["hop_s"] == 1.0
    scores = [m for m in messages if m.get("event") == "score"]
    # windows at 0, 1, 2 s complete during the call; the end adds one aligned to 4.5 s
    assert [s["start_s"] for s in scores] == [0.0, 1.0, 2.0, 2.5]
    assert [s["index"] for s in scores] == [0, 1, 2, 3]
    assert all(s["verdict"] == "fake" and s["call_id"] == "call-1" for s in scores)
    summary = messages[-2]
    assert summary["event"] == "summary" and summary["windows"] == 4
    assert summary["duration_s"] == pytest.approx(4.5) and summary["verdict"] == "fake"
    assert summary["llr"] == pytest.approx(sum(s["llr"] for s in scores) / 4)
    assert messages[-1]["close_code"] == 1000


def test_pcm_stream_shorter_than_one_window_is_padded(server) -> None:
    from service.audio import pcm16_encode

    start = json.dumps({"event": "start", "encoding": "pcm_s16le", "sample_rate": 16000})
    data = pcm16_encode(speech(1.2, 16000, amplitude=0.05))
    messages = asyncio.run(converse(server.ws_url, start, [data[i : i + 641] for i in range(0, len(data), 641)]))
    scores = [m for m in messages if m.get("event") == "score"]
    assert len(scores) == 1 and scores[0]["verdict"] == "genuine"
    assert messages[-2]["event"] == "summary" and messages[-2]["duration_s"] == pytest.approx(1.2)


def test_too_short_stream_summary_says_so(server) -> None:
    start = json.dumps({"event": "start", "encoding": "alaw"})
    messages = asyncio.run(converse(server.ws_url, start, [b"\xd5" * 160]))
    summary = messages[-2]
    assert summary["event"] == "summary" and summary["windows"] == 0 and summary["score"] is None
    assert "shorter than" in summary["detail"]


@pytest.mark.parametrize(
    ("first", "code"),
    [
        (b"\x00\x01", "invalid_message"),
        ("not json", "invalid_message"),
        (json.dumps({"event": "start", "encoding": "opus"}), "invalid_message"),
        (json.dumps({"event": "start", "sample_rate": 1}), "invalid_message"),
        (json.dumps({"event": "hello"}), "invalid_message"),
    ],
)
def test_bad_start_message_is_an_error_event_and_a_policy_close(server, first, code) -> None:
    messages = asyncio.run(converse(server.ws_url, first, [], stop=False))
    assert messages[0]["event"] == "error" and messages[0]["problem"]["code"] == code
    assert messages[0]["problem"]["status"] == 422
    assert messages[-1]["close_code"] == 1008


def test_text_in_the_middle_of_audio_is_refused(server) -> None:
    start = json.dumps({"event": "start"})
    messages = asyncio.run(converse(server.ws_url, start, [*mulaw_frames(0.2), "hello"], stop=False))
    assert messages[-2]["event"] == "error" and messages[-1]["close_code"] == 1008


def test_stream_needs_a_key(server) -> None:
    messages = asyncio.run(converse(server.ws_url, json.dumps({"event": "start"}), [], stop=False, headers={}))
    assert messages[0]["problem"]["code"] == "missing_api_key" and messages[-1]["close_code"] == 1008


def test_a_call_without_speech_gets_no_speech(server) -> None:
    from tests.audiokit import tone

    start = json.dumps({"event": "start", "encoding": "mulaw", "sample_rate": 8000})
    data = mulaw_encode(tone(3.5, 8000, freq=350) + tone(3.5, 8000, freq=440))  # a dial tone
    messages = asyncio.run(converse(server.ws_url, start, [data[i : i + 160] for i in range(0, len(data), 160)]))
    scores = [m for m in messages if m.get("event") == "score"]
    assert scores and all(s["speech"] is False and s["score"] is None and s["verdict"] == "no_speech"
                          for s in scores)
    summary = messages[-2]
    assert summary["event"] == "summary" and summary["verdict"] == "no_speech" and summary["score"] is None
    assert summary["windows"] == len(scores) and summary["speech_windows"] == 0
