"""Callers against a real server with authentication off: a rate limit per client address, and slow clients
(header and body read deadlines). Client addresses differ by binding the client socket to other loopback
addresses (127.0.0.0/8 is all loopback on Linux)."""

import asyncio
import json
import socket
import time
from pathlib import Path

import httpx
import pytest
import websockets

from tests.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.e2e
TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory, models_dir: Path):
    srv = start_server(
        tmp_path_factory.mktemp("open"), models_dir, NEPCHECK_AUTH_DISABLED="true",
        NEPCHECK_RATE_LIMIT_PER_MINUTE="1", NEPCHECK_RATE_LIMIT_BURST="2",
        NEPCHECK_HEADER_TIMEOUT_S=str(TIMEOUT_S), NEPCHECK_BODY_TIMEOUT_S=str(TIMEOUT_S),
    )
    yield srv
    stop_server(srv)


def port(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def connect(server: Server, source: str) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port(server)), timeout=10, source_address=(source, 0))


def models_status(server: Server, source: str, headers: dict[str, str] | None = None) -> int:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=10) as c:
        return c.get(f"{server.url}/v1/models", headers=headers).status_code


def read_until_closed(s: socket.socket) -> bytes:
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


def read_response(s: socket.socket) -> bytes:
    """One response with a Content-Length, read whole, from a connection that stays open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length"))
    while len(body) < length:
        body += s.recv(65536)
    return head + b"\r\n\r\n" + body


def test_with_auth_off_each_client_address_has_its_own_bucket(open_server: Server) -> None:
    assert [models_status(open_server, "127.0.0.2") for _ in range(3)] == [200, 200, 429]
    # another address is not throttled by the first one's traffic
    assert models_status(open_server, "127.0.0.3") == 200
    # nor can a client choose its bucket: X-Forwarded-For is believed only from NEPCHECK_TRUSTED_PROXIES
    assert models_status(open_server, "127.0.0.2", {"X-Forwarded-For": "198.51.100.7"}) == 429


def test_a_body_that_does_not_arrive_in_time_gets_408_and_the_connection_closes(open_server: Server) -> None:
    with connect(open_server, "127.0.0.4") as s:
        s.sendall(b"POST /v1/voice/score HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\n"
                  b"Content-Length: 100000\r\n\r\n" + b"RIFF" + b"\0" * 100)
        started = time.monotonic()
        answer = read_until_closed(s)
        waited = time.monotonic() - started
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and b"application/problem+json" in head, answer[:300]
    assert json.loads(body)["code"] == "request_timeout"
    assert TIMEOUT_S - 0.1 < waited < TIMEOUT_S + 3


def test_headers_that_do_not_arrive_in_time_get_408_and_the_connection_closes(open_server: Server) -> None:
    with connect(open_server, "127.0.0.5") as s:
        started = time.monotonic()
        s.sendall(b"POST /v1/voice/score HTTP/1.1\r\nHost: x\r\n")  # and never the end of the headers
        answer = read_until_closed(s)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408") and b"request_timeout" in answer
    assert TIMEOUT_S - 0.1 < waited < TIMEOUT_S + 3
    with connect(open_server, "127.0.0.5") as idle:  # a connection that sends nothing is closed silently
        started = time.monotonic()
        assert read_until_closed(idle) == b""
        assert time.monotonic() - started < TIMEOUT_S + 3
    with connect(open_server, "127.0.0.5") as s:  # nor may a header block grow without bound meanwhile
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 70_000 + b"\r\n")
        answer = read_until_closed(s)
    assert answer.startswith(b"HTTP/1.1 431") and b"headers_too_large" in answer


def test_an_answer_given_before_the_body_was_read_closes_the_connection(open_server: Server) -> None:
    assert [models_status(open_server, "127.0.0.7") for _ in range(3)] == [200, 200, 429]
    with connect(open_server, "127.0.0.7") as s:
        s.sendall(b"POST /v1/voice/score HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\n"
                  b"Content-Length: 100000\r\n\r\nRIFF")
        started = time.monotonic()
        answer = read_until_closed(s)  # at once: the rest of the body is not waited for
        assert time.monotonic() - started < TIMEOUT_S / 2
    assert answer.startswith(b"HTTP/1.1 429") and b"connection: close" in answer.lower()


def test_keep_alive_and_websockets_outlive_the_header_deadline(open_server: Server) -> None:
    with connect(open_server, "127.0.0.6") as s:
        for _ in range(2):
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(s).startswith(b"HTTP/1.1 200")
            time.sleep(TIMEOUT_S + 0.5)  # idle between requests: uvicorn's keep-alive (5 s) applies, not ours

    async def slow_stream() -> list[str]:
        async with websockets.connect(f"{open_server.ws_url}/v1/voice/stream") as ws:
            await asyncio.sleep(TIMEOUT_S + 0.5)
            await ws.send(json.dumps({"event": "start", "encoding": "mulaw", "sample_rate": 8000}))
            started = json.loads(await ws.recv())["event"]
            await ws.send(json.dumps({"event": "stop"}))
            return [started, json.loads(await ws.recv())["event"]]

    assert asyncio.run(slow_stream()) == ["started", "summary"]
