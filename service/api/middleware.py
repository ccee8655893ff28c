"""Outermost ASGI layer: request ids, the body-size pre-check, the body-read deadline, per-route metrics and one
access-log line.

Written as plain ASGI (not BaseHTTPMiddleware) so streaming bodies and WebSockets pass through untouched.
Logs carry sizes, status and timings, never content.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from contextvars import ContextVar

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.problems import problem_response
from service.metrics import Metrics

log = logging.getLogger("nepcheck.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


# The request being served, for log lines written far from the route (the decode pool's); a task's context is
# copied into the threads and callbacks it starts, so each request sees its own.
REQUEST_ID: ContextVar[str | None] = ContextVar("nepcheck_request_id", default=None)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int, body_timeout_s: float = 60.0) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        given = headers.get("x-request-id", "")
        request_id = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500
        received = 0
        # The whole body must arrive within body_timeout_s of the headers: a client that trickles it (or stops)
        # would otherwise hold a connection and a task for ever. After the body, receive() only waits for a
        # disconnect, which may legitimately take as long as the response does.
        body_deadline = time.monotonic() + self.body_timeout_s
        body_done = scope["type"] != "http" or not _has_body(headers)

        async def counting_receive() -> Message:
            nonlocal received, body_done
            if body_done:
                return await receive()
            try:
                async with asyncio.timeout(max(0.0, body_deadline - time.monotonic())):
                    message = await receive()
            except TimeoutError:
                # An HTTPException passes FastAPI's body parsing untouched and reaches the problem handler; the
                # connection is closed after the answer, so the rest of the body is never waited for.
                raise HTTPException(
                    408, f"the request body did not arrive within {self.body_timeout_s:g} s",
                    headers={"Connection": "close"},
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if received > self.max_body_bytes:
                    raise HTTPException(413, f"request body over the limit of {self.max_body_bytes} bytes")
            else:
                body_done = True
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = message.setdefault("headers", [])
                response_headers.append((b"x-request-id", request_id.encode()))
                if not body_done and not any(name.lower() == b"connection" for name, _ in response_headers):
                    # Answered before the body was read (401, 429, ...): close after the answer instead of
                    # waiting, with no deadline, for the rest of a body nobody will read.
                    response_headers.append((b"connection", b"close"))
            await send(message)

        try:
            if scope["type"] == "http" and _declared_length(headers) > self.max_body_bytes:
                # Refuse before reading a byte: the body may be gigabytes.
                response = problem_response(
                    413, "payload_too_large", f"request body over the limit of {self.max_body_bytes} bytes",
                    request_id=request_id,
                )
                await response(scope, receive, send_with_id)
            else:
                await self.app(scope, counting_receive, send_with_id)
        finally:
            if scope["type"] == "http":
                self._record(scope, request_id, status, received, time.perf_counter() - started)

    def _record(self, scope: Scope, request_id: str, status: int, received: int, elapsed: float) -> None:
        path = getattr(scope.get("route"), "path", "unmatched")
        self.metrics.requests.labels(path, scope["method"], str(status)).inc()
        self.metrics.latency.labels(path).observe(elapsed)
        state = scope.get("state", {})
        log.info(
            "request_id=%s key_id=%s method=%s route=%s status=%d bytes_in=%d ms=%.1f%s",
            request_id, state.get("key_id", "-"), scope["method"], path, status, received, elapsed * 1000,
            f" score={state['score']:.4f}" if state.get("score") is not None else "",
        )


def _has_body(headers: Headers) -> bool:
    return _declared_length(headers) > 0 or "chunked" in headers.get("transfer-encoding", "").lower()


def _declared_length(headers: Headers) -> int:
    try:
        return int(headers.get("content-length", "0"))
    except ValueError:
        return 0
