"""Reading an audio upload from a request: raw body or multipart field `file`, then decoding off the loop."""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from service.api.middleware import REQUEST_ID
from service.audio import DecodedAudio, RawEncoding, decode_audio
from service.audio.decode_pool import active_pool
from service.errors import InvalidInput
from service.settings import Settings

__all__ = ["RawEncoding", "decode", "decode_base64", "read_upload"]


async def read_upload(request: Request, settings: Settings) -> tuple[bytes, str | None]:
    """The audio bytes and their declared content type, from a raw body or a multipart form."""
    content_type = request.headers.get("content-type")
    if content_type and content_type.lower().startswith("multipart/form-data"):
        form = await request.form(max_files=2, max_fields=8, max_part_size=settings.max_body_bytes)
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InvalidInput("multipart request has no file field named 'file'", code="missing_file")
            return await upload.read(), upload.content_type
        finally:
            await form.close()
    return await request.body(), content_type


async def decode(
    data: bytes, content_type: str | None, settings: Settings, *, encoding: RawEncoding | None = None,
    sample_rate: int | None = None, deadline: float | None = None,
) -> DecodedAudio:
    """Decode off the event loop: in the app's decode pool (killed at `deadline`, a `time.monotonic()` value)
    when one is running, else in a thread (the local CLI, tests of one route)."""
    options: dict[str, Any] = {
        "content_type": content_type, "encoding": encoding, "sample_rate": sample_rate,
        "max_duration_s": settings.max_audio_s, "max_decoded_samples": settings.max_decoded_samples,
    }
    pool = active_pool()
    if pool is None:
        return await asyncio.to_thread(decode_audio, data, **options)
    if deadline is None:
        deadline = time.monotonic() + settings.request_timeout_s
    return await pool.decode(data, deadline_s=deadline - time.monotonic(), request_id=REQUEST_ID.get(), **options)


def decode_base64(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{field} is not valid base64", code="invalid_base64") from None
