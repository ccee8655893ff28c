"""uvicorn's HTTP/1.1 protocol with a deadline for the request line and headers.

uvicorn (0.30 to at least 0.55) bounds the idle time between two requests of a connection (`timeout_keep_alive`)
and, with h11, the size of an unfinished header block (`h11_max_incomplete_event_size`), but not the time a
client may take to send its headers: a connection that opens and then sends a byte now and then, or nothing,
stays open for ever. This subclass of the protocol uvicorn would pick (`auto`: httptools, else h11) closes a
connection whose request line and headers have not all arrived `header_timeout_s` after it opened or after the
first byte of a later request; if part of a request had arrived it answers 408 first. With httptools nothing
bounds the size of the header block either (h11 stops at `h11_max_incomplete_event_size`), so more than
`MAX_HEADER_BYTES` of an unfinished header block gets 431 and a close. The body has its own deadline in the app
(`RequestContextMiddleware`), WebSockets their idle timeout (`service/api/stream.py`).

It relies on what both uvicorn protocols have: `transport`, `loop`, `data_received`, and `cycle`, which is
replaced when a request's headers are complete (its `more_body` turns false at the end of the request's body, and
its `response_complete` true at the end of the response). tests/e2e/test_clients.py checks it against the
installed uvicorn.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

MAX_HEADER_BYTES = 64 * 1024


def _problem(status: int, title: str, code: str, detail: str) -> bytes:
    body = json.dumps({"type": f"urn:nepcheck:problem:{code}", "title": title, "status": status, "detail": detail,
                       "code": code, "request_id": None}).encode()
    return (f"HTTP/1.1 {status} {title}\r\ncontent-type: application/problem+json\r\nconnection: close\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode() + body


_RESPONSE_408 = _problem(408, "Request Timeout", "request_timeout",
                         "the request line and headers did not arrive in time")
_RESPONSE_431 = _problem(431, "Request Header Fields Too Large", "headers_too_large",
                         f"the request line and headers are over {MAX_HEADER_BYTES} bytes")


def with_header_timeout(header_timeout_s: float, base: Any = AutoHTTPProtocol) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class (`base`), closing connections whose headers take longer than
    `header_timeout_s`."""

    class HeaderTimeoutProtocol(base):  # type: ignore[misc, valid-type]
        _header_timer: asyncio.TimerHandle | None = None
        _header_bytes = 0  # of a request whose headers are still coming; 0 when none is

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            before = self.cycle
            super().data_received(data)
            if self.transport.get_protocol() is not self or self.transport.is_closing():
                self._disarm()  # upgraded to a WebSocket, or closed after a bad request
            elif self.cycle is not before:
                self._disarm()  # a request's headers are complete: the app and its body deadline take over
            elif self.cycle is None or (self.cycle.response_complete and not self.cycle.more_body):
                self._header_bytes += len(data)  # bytes of a request whose headers are still coming
                if self._header_bytes > MAX_HEADER_BYTES:
                    self._disarm()
                    self.transport.write(_RESPONSE_431)
                    self.transport.close()
                elif self._header_timer is None:
                    self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._header_timer = self.loop.call_later(header_timeout_s, self._headers_timed_out)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None
            self._header_bytes = 0

        def _headers_timed_out(self) -> None:
            self._header_timer = None
            if self.transport.is_closing() or self.transport.get_protocol() is not self:
                return
            if self._header_bytes:
                self.transport.write(_RESPONSE_408)
            self.transport.close()

    return HeaderTimeoutProtocol
