"""Decoding uploads in worker processes: a deadline that holds, crashes that stay contained, quiet logs.

Why processes and not threads: a thread cannot be stopped, so a file that is slow to decode keeps its CPU after
the request's deadline has passed; a worker process can be killed. A bug in libsndfile, libmpg123 or FFmpeg that
crashes on crafted bytes takes down one worker instead of the server, and an address-space limit per worker
caps what any one decode can allocate. The decoders' C libraries also write to file descriptor 2 (libmpg123
writes one line per damaged MP3 frame, thousands per file); each worker catches that per decode, and the server
logs it as one line with the request id.

The pool is pebble's (LGPL-3.0, used unmodified as a library): per-task timeouts that kill and replace the
worker, which the standard library's `ProcessPoolExecutor` cannot do. Workers are spawned, never forked,
because the server process runs ONNX Runtime threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pebble import ProcessExpired, ProcessPool

from service import errors
from service.audio.decode import DecodedAudio, decode_audio
from service.errors import InvalidInput, NepcheckError, Overloaded

__all__ = ["DecodePool", "active_pool", "install"]

log = logging.getLogger(__name__)

_STDERR_EXCERPT_CHARS = 200


@dataclass(frozen=True)
class _Failure:
    """A `NepcheckError` raised in a worker, carried back as plain fields (its keyword-only `code` does not
    survive pickling as an exception)."""

    kind: str
    detail: str
    code: str


@dataclass(frozen=True)
class _Outcome:
    result: DecodedAudio | _Failure
    stderr_lines: int
    stderr_first: str


def _limit_memory(limit_bytes: int) -> None:
    """Worker initializer: an address-space cap, so a decode that tries to allocate past it fails alone."""
    if limit_bytes > 0:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


@contextlib.contextmanager
def _captured_stderr() -> Iterator[list[str]]:
    """Point file descriptor 2 at a temporary file for the block (C libraries write there, not to sys.stderr)."""
    lines: list[str] = []
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().decode("utf-8", "replace").splitlines())


def _decode_in_worker(data: bytes, options: dict[str, Any]) -> _Outcome:
    with _captured_stderr() as lines:
        result: DecodedAudio | _Failure
        try:
            result = decode_audio(data, **options)
        except NepcheckError as exc:
            result = _Failure(type(exc).__name__, exc.detail, exc.code)
        except MemoryError:
            result = _Failure("InvalidInput", "decoding this audio needs more memory than one request may use",
                              "audio_too_large")
    first = next((line for line in lines if line.strip()), "")
    return _Outcome(result, len(lines), first[:_STDERR_EXCERPT_CHARS])


def _raise_failure(failure: _Failure) -> None:
    cls = getattr(errors, failure.kind, None)
    if not (isinstance(cls, type) and issubclass(cls, NepcheckError)):
        cls = InvalidInput
    raise cls(failure.detail, code=failure.code)


class DecodePool:
    """A fixed number of decoding worker processes; `decode` is `decode_audio` under a hard deadline."""

    def __init__(
        self, workers: int, *, memory_limit_bytes: int = 0, task: Callable[[bytes, dict[str, Any]], Any] | None = None
    ) -> None:
        """`task` replaces the worker's decode step, for tests of what happens when a worker misbehaves."""
        self.workers = workers
        self._task = task or _decode_in_worker
        self._pool = ProcessPool(
            max_workers=workers,
            initializer=_limit_memory,
            initargs=(memory_limit_bytes,),
            context=multiprocessing.get_context("spawn"),
        )

    async def decode(
        self, data: bytes, *, deadline_s: float, request_id: str | None = None, **options: Any
    ) -> DecodedAudio:
        """Decode in a worker within `deadline_s` seconds of now, or raise a `NepcheckError`.

        A decode still running at the deadline is killed (422 `decode_timeout`: the cost is the file's, so a
        retry would fail the same way); one still queued behind others at the deadline is dropped (503
        `timeout`: the server was busy, a retry may pass). A worker that dies decoding (a decoder crash, the
        memory cap) gives 422 `undecodable_audio`.
        """
        timeout = max(deadline_s, 0.001)
        future = self._pool.schedule(self._task, args=(data, options), timeout=timeout)
        try:
            outcome: _Outcome = await asyncio.wait_for(asyncio.wrap_future(future), timeout + 1.0)
        except TimeoutError:
            if future.done() and not future.cancelled():
                # pebble's own timeout: the decode ran for the whole budget and its worker was killed
                raise InvalidInput(
                    f"decoding did not finish within the request's {deadline_s:.1f} s; send shorter or simpler audio",
                    code="decode_timeout",
                ) from None
            # still queued behind other decodes (cancelling a pebble future also kills a worker running it)
            future.cancel()
            raise Overloaded("the decoders are busy; retry", code="timeout", headers={"Retry-After": "1"}) from None
        except ProcessExpired as exc:
            log.error("decoder worker died (exit code %s) on request %s", exc.exitcode, request_id)
            raise InvalidInput("the audio could not be decoded (the decoder failed on it)",
                               code="undecodable_audio") from None
        if outcome.stderr_lines:
            log.warning("decoder wrote %d line(s) to stderr for request %s; first: %r",
                        outcome.stderr_lines, request_id, outcome.stderr_first)
        if isinstance(outcome.result, _Failure):
            _raise_failure(outcome.result)
        assert isinstance(outcome.result, DecodedAudio)
        return outcome.result

    def close(self) -> None:
        """Stop the workers now; decodes in flight fail (the server is shutting down)."""
        self._pool.stop()
        self._pool.join(timeout=5)


_active: DecodePool | None = None


def install(pool: DecodePool | None) -> None:
    """Make `pool` the one the API decodes through (the app does this at start-up); None decodes in-thread."""
    global _active
    _active = pool


def active_pool() -> DecodePool | None:
    return _active
