"""Every bad input gets a 4xx problem+json, never a 500, and the server stays healthy."""

import os
import socket

import httpx
import pytest

from tests.audiokit import CONTAINERS, silent_flac, speech, wav_bytes
from tests.conftest import USER_KEY

pytestmark = pytest.mark.e2e

WAV = CONTAINERS["audio/wav"](speech(3.0), 16000)


def assert_problem(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and body["code"] == code
    assert body["type"] == f"urn:nepcheck:problem:{code}" and body["title"] and body["detail"]
    assert body["request_id"] == r.headers["x-request-id"]


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"", "audio/wav", 422, "empty_audio"),
        (os.urandom(4096), "audio/wav", 422, "undecodable_audio"),
        (os.urandom(4096), None, 422, "undecodable_audio"),
        (WAV[:44], "audio/wav", 422, "empty_audio"),
        (WAV[:30], "audio/wav", 422, "undecodable_audio"),
        (wav_bytes(b"\0\1" * 800, data_size=2**31), "audio/wav", 422, "audio_too_short"),  # lying frame count
        (wav_bytes(b"\0\1" * 800, channels=16), "audio/wav", 422, "too_many_channels"),
        (wav_bytes(b"\0\1" * 800, rate=1), "audio/wav", 422, "bad_sample_rate"),
        (WAV, "text/plain", 415, "unsupported_media_type"),
        (WAV, "image/png", 415, "unsupported_media_type"),
        (CONTAINERS["audio/wav"](speech(121.0, 8000), 8000), "audio/wav", 422, "audio_too_long"),
    ],
)
def test_bad_audio(client: httpx.Client, content: bytes, content_type: str | None, status: int, code: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    assert_problem(client.post("/v1/voice/score", content=content, headers=headers), status, code)


@pytest.mark.parametrize(
    ("query", "content", "status", "code"),
    [
        ("encoding=opus", b"\0" * 100, 422, "invalid_request"),
        ("encoding=pcm_s16le&sample_rate=8000", b"\0" * 8001, 422, "bad_raw_audio"),
        ("encoding=mulaw&sample_rate=3", b"\0" * 8000, 422, "invalid_request"),
        ("encoding=mulaw&sample_rate=abc", b"\0" * 8000, 422, "invalid_request"),
    ],
)
def test_bad_raw_parameters(client: httpx.Client, query: str, content: bytes, status: int, code: str) -> None:
    r = client.post(f"/v1/voice/score?{query}", content=content, headers={"Content-Type": "application/octet-stream"})
    assert_problem(r, status, code)


def test_multipart_without_file_field(client: httpx.Client) -> None:
    r = client.post("/v1/voice/score", files={"audio": ("clip.wav", WAV, "audio/wav")})
    assert_problem(r, 422, "missing_file")
    # a call needs its audio, its transcript or both
    assert_problem(client.post("/v1/calls/score", data={"lang": "nl"}), 422, "missing_file")
    assert_problem(client.post("/v1/calls/score", data={"transcript": "  "}), 422, "missing_file")


def test_declared_huge_body_is_refused_before_reading(server) -> None:
    # Announce 1 GB and send almost nothing: the server must answer 413 at once, not wait or buffer.
    with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), timeout=10) as s:
        s.sendall(b"POST /v1/voice/score HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\n"
                  + f"X-API-Key: {USER_KEY}\r\nContent-Length: 1000000000\r\n\r\n".encode() + b"RIFF")
        head = s.recv(4096).decode(errors="replace")
    assert head.startswith("HTTP/1.1 413") and "application/problem+json" in head


def test_streamed_body_over_the_limit_is_413(client: httpx.Client) -> None:
    def chunks():
        for _ in range(80):
            yield b"\0" * 65536  # 5 MiB in chunks, no Content-Length, over the 4 MiB test limit

    assert_problem(client.post("/v1/voice/score", content=chunks(), headers={"Content-Type": "audio/wav"}),
                   413, "payload_too_large")


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b'{"text": "\xff\xfe bad utf8"}', 400, "invalid_json"),
        (b"[1, 2]", 422, "invalid_request"),
        (b'{"text": 42}', 422, "invalid_request"),
        (b'{"text": ""}', 422, "invalid_request"),
        (b'{"text": "   "}', 422, "empty_text"),
        (b'{"text": "hi", "extra": 1}', 422, "invalid_request"),
        (b'{"text": "hi", "lang": "' + b"x" * 100 + b'"}', 422, "invalid_request"),
        (b'{"text": "' + b"a " * 15000 + b'"}', 422, "text_too_long"),
        (b"", 422, "invalid_request"),
    ],
)
def test_bad_text_requests(client: httpx.Client, content: bytes, status: int, code: str) -> None:
    r = client.post("/v1/text/score", content=content, headers={"Content-Type": "application/json"})
    assert_problem(r, status, code)


def test_bad_ad_requests(client: httpx.Client) -> None:
    assert_problem(client.post("/v1/ads/score", json={"id": "a", "text": "x", "audio_base64": "%%%"}),
                   422, "invalid_base64")
    assert_problem(client.post("/v1/ads/score", json={"text": "x"}), 422, "invalid_request")
    assert_problem(client.post("/v1/ads/score", json={"id": "a" * 300, "text": "x"}), 422, "invalid_request")


def test_auth_errors(server) -> None:
    r = httpx.post(f"{server.url}/v1/text/score", json={"text": "hi"})
    assert_problem(r, 401, "missing_api_key")
    assert r.headers["www-authenticate"] == "Bearer"
    r = httpx.post(f"{server.url}/v1/text/score", json={"text": "hi"}, headers={"Authorization": "Bearer nope"})
    assert_problem(r, 401, "invalid_api_key")
    assert httpx.post(f"{server.url}/v1/text/score", json={"text": "hi"},
                      headers={"X-API-Key": USER_KEY}).status_code == 200


def test_unknown_route_and_method(client: httpx.Client) -> None:
    assert_problem(client.get("/v1/nope"), 404, "not_found")
    assert_problem(client.get("/v1/voice/score"), 405, "method_not_allowed")


def test_server_is_healthy_after_all_of_it_and_logged_no_content(server, client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.post("/v1/voice/score", content=WAV, headers={"Content-Type": "audio/wav"}).status_code == 200
    log = server.log()
    assert "Traceback" not in log and " status=500 " not in log
    assert "pincode" not in log and "veilige" not in log  # texts sent by other tests never reach the log


def test_a_decompression_bomb_gets_422_audio_too_large_on_both_routes(client: httpx.Client) -> None:
    import base64

    bomb = silent_flac(60.0, 192_000, 8)  # decodes to 92 million samples, over the 57.6 million default
    r = client.post("/v1/voice/score", content=bomb, headers={"Content-Type": "audio/flac"})
    assert r.status_code == 422 and r.json()["code"] == "audio_too_large", r.text
    ad = {"id": "ad-bomb", "text": "hello the weather is nice", "audio_base64": base64.b64encode(bomb).decode()}
    r = client.post("/v1/ads/score", json=ad)
    assert r.status_code == 422 and r.json()["code"] == "audio_too_large", r.text
