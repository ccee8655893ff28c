"""The real server (nepcheck serve in a subprocess) scoring real audio in every accepted format."""

import httpx
import numpy as np
import pytest

from service.windowing import window_starts
from tests.audiokit import CONTAINERS, RAW_ENCODERS, encode_sndfile, speech
from tests.modelkit import VOICE_RATE, expected_voice_llr

pytestmark = pytest.mark.e2e


def check_shape(body: dict) -> None:
    assert set(body) == {"score", "llr", "verdict", "windows", "speech_s", "duration_s", "source_sample_rate",
                         "model", "elapsed_ms"}
    assert 0.0 <= body["score"] <= 1.0
    assert body["verdict"] in {"genuine", "inconclusive", "likely_fake", "fake"}
    assert body["model"] == {"name": "voice", "version": "0.0.1", "variant": "fp32"}
    for w in body["windows"]:
        assert set(w) == {"start_s", "end_s", "speech", "speech_s", "score", "llr"} and w["end_s"] > w["start_s"]
        assert w["speech"] and w["speech_s"] > 0


@pytest.mark.parametrize("content_type", sorted(CONTAINERS))
def test_every_container_is_scored(client: httpx.Client, content_type: str) -> None:
    data = CONTAINERS[content_type](speech(3.0, 16000), 16000)
    r = client.post("/v1/voice/score", content=data, headers={"Content-Type": content_type})
    assert r.status_code == 200, r.text
    body = r.json()
    check_shape(body)
    assert body["duration_s"] == pytest.approx(3.0, abs=0.1)
    # 2 s windows, 1 s hop over 3 s; AAC adds encoder delay, which can add an end-aligned window
    assert len(body["windows"]) == len(window_starts(round(body["duration_s"] * VOICE_RATE), 32000, 16000))


def test_score_is_what_the_model_computes_for_each_window(client: httpx.Client) -> None:
    x = speech(5.0, VOICE_RATE) * np.linspace(0.01, 1.0, 5 * VOICE_RATE, dtype=np.float32)
    r = client.post("/v1/voice/score", content=encode_sndfile(x, "WAV", "FLOAT", VOICE_RATE),
                    headers={"Content-Type": "audio/wav"})
    body = r.json()
    starts = [w["start_s"] for w in body["windows"]]
    assert starts == [0.0, 1.0, 2.0, 3.0]
    expected = [expected_voice_llr(x[int(s * VOICE_RATE) : int(s * VOICE_RATE) + 2 * VOICE_RATE]) for s in starts]
    assert [w["llr"] for w in body["windows"]] == pytest.approx(expected, abs=1e-3)
    assert body["llr"] == pytest.approx(np.mean(expected), abs=1e-3)
    assert body["windows"][-1]["score"] > body["windows"][0]["score"]  # louder = more "fake" in this test model


def test_quiet_is_genuine_and_loud_is_fake(client: httpx.Client) -> None:
    quiet = client.post("/v1/voice/score", content=CONTAINERS["audio/wav"](speech(2.0, amplitude=0.05), 16000),
                        headers={"Content-Type": "audio/wav"}).json()
    loud_speech = np.clip(3 * speech(2.0, amplitude=1.0), -1.0, 1.0)  # the test model calls energy "fake"
    loud = client.post("/v1/voice/score", content=CONTAINERS["audio/wav"](loud_speech, 16000),
                       headers={"Content-Type": "audio/wav"}).json()
    assert quiet["verdict"] == "genuine" and loud["verdict"] == "fake"


def test_multipart_upload(client: httpx.Client) -> None:
    data = CONTAINERS["audio/flac"](speech(2.5), 16000)
    r = client.post("/v1/voice/score", files={"file": ("clip.flac", data, "audio/flac")})
    assert r.status_code == 200, r.text
    check_shape(r.json())


@pytest.mark.parametrize("encoding", sorted(RAW_ENCODERS))
def test_raw_telephony_audio_at_8khz(client: httpx.Client, encoding: str) -> None:
    data = RAW_ENCODERS[encoding](speech(4.0, 8000))
    r = client.post(f"/v1/voice/score?encoding={encoding}&sample_rate=8000", content=data,
                    headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source_sample_rate"] == 8000 and body["duration_s"] == pytest.approx(4.0, abs=1e-3)
    assert len(body["windows"]) == 3


def test_long_audio_is_windowed_to_the_end_not_truncated(client: httpx.Client) -> None:
    r = client.post("/v1/voice/score", content=CONTAINERS["audio/wav"](speech(10.5), 16000),
                    headers={"Content-Type": "audio/wav"})
    windows = r.json()["windows"]
    assert len(windows) == 10 and windows[-1]["end_s"] == pytest.approx(10.5)


def test_short_clip_is_padded_and_too_short_clip_is_422(client: httpx.Client) -> None:
    r = client.post("/v1/voice/score", content=CONTAINERS["audio/wav"](speech(1.0), 16000),
                    headers={"Content-Type": "audio/wav"})
    assert r.status_code == 200 and len(r.json()["windows"]) == 1
    r = client.post("/v1/voice/score", content=CONTAINERS["audio/wav"](speech(0.2), 16000),
                    headers={"Content-Type": "audio/wav"})
    assert r.status_code == 422 and r.json()["code"] == "audio_too_short"
    assert r.headers["content-type"] == "application/problem+json"


def test_concurrent_requests_are_batched_and_all_answered(server) -> None:
    import asyncio

    from tests.conftest import USER_KEY

    data = CONTAINERS["audio/wav"](speech(4.0), 16000)

    async def run() -> list[int]:
        async with httpx.AsyncClient(base_url=server.url, headers={"X-API-Key": USER_KEY}, timeout=30) as c:
            rs = await asyncio.gather(*(c.post("/v1/voice/score", content=data,
                                               headers={"Content-Type": "audio/wav"}) for _ in range(24)))
        return [r.status_code for r in rs]

    assert asyncio.run(run()) == [200] * 24
    metrics = httpx.get(f"{server.url}/metrics").text
    assert "nepcheck_batch_size_bucket" in metrics


def _garbage_mp3_frames() -> bytes:
    """MPEG-1 layer III frame headers (128 kbit/s, 44.1 kHz) followed by random payloads."""
    rng = np.random.default_rng(1)
    return b"".join(b"\xff\xfb\x90\x64" + rng.bytes(413) for _ in range(400))


@pytest.mark.parametrize(
    "name", ["digital silence", "440 Hz tone", "DTMF", "plucked strings", "white noise", "pink noise"]
)
def test_non_speech_is_never_judged(client: httpx.Client, name: str) -> None:
    from tests.unit.test_vad import NON_SPEECH

    r = client.post("/v1/voice/score", content=CONTAINERS["audio/wav"](NON_SPEECH[name](), 16000),
                    headers={"Content-Type": "audio/wav"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verdict"] == "no_speech" and body["score"] is None and body["llr"] is None
    assert body["speech_s"] < 0.5
    assert body["windows"] and all(not w["speech"] and w["score"] is None for w in body["windows"])


def test_garbage_mp3_frames_are_refused_or_not_judged(client: httpx.Client, server) -> None:
    r = client.post("/v1/voice/score", content=_garbage_mp3_frames(),
                    headers={"Content-Type": "audio/mpeg", "X-Request-Id": "garbage-mp3-1"})
    assert r.status_code in (200, 422), r.text
    # libmpg123 complains about each of the 400 frames; the server log gets one line, with the request id
    lines = server.log().splitlines()
    assert not [line for line in lines if "libmpg123" in line and "decoder wrote" not in line]  # no raw output
    mine = [line for line in lines if "garbage-mp3-1" in line and "decoder wrote" in line]
    assert len(mine) == 1 and "libmpg123" in mine[0]
    if r.status_code == 200:
        assert r.json()["verdict"] == "no_speech"
    else:
        assert r.json()["code"] in {"undecodable_audio", "empty_audio", "audio_too_short"}


def test_only_the_speech_windows_of_a_clip_are_scored(client: httpx.Client) -> None:
    x = np.concatenate([np.zeros(3 * VOICE_RATE, np.float32), speech(3.0, VOICE_RATE)])
    body = client.post("/v1/voice/score", content=CONTAINERS["audio/wav"](x, VOICE_RATE),
                       headers={"Content-Type": "audio/wav"}).json()
    flags = [w["speech"] for w in body["windows"]]
    assert flags[0] is False and flags[-1] is True
    judged = [w["llr"] for w in body["windows"] if w["speech"]]
    assert body["llr"] == pytest.approx(np.mean(judged), abs=1e-6)
    assert body["verdict"] != "no_speech" and body["speech_s"] > 1.5
