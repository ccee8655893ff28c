"""Errors that reach a caller, each with a stable machine-readable `code`.

Domain code raises these plain exceptions (no HTTP import needed, so training can reuse the decoders); the app
turns them into RFC 9457 problem+json responses, the one error format of the API.
"""

from __future__ import annotations


class NepcheckError(Exception):
    """Base of every error the API reports. `status` is the HTTP status it maps to."""

    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.headers = headers or {}


class InvalidInput(NepcheckError):
    """Well-formed request whose content cannot be scored (undecodable audio, too short, bad field)."""

    status = 422
    code = "invalid_input"
    title = "Unprocessable content"


class NotFound(NepcheckError):
    status = 404
    code = "not_found"
    title = "Not found"


class PayloadTooLarge(NepcheckError):
    status = 413
    code = "payload_too_large"
    title = "Content too large"


class UnsupportedMediaType(NepcheckError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class Unauthorized(NepcheckError):
    status = 401
    code = "unauthorized"
    title = "Unauthorized"


class Forbidden(NepcheckError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class RateLimited(NepcheckError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"


class Overloaded(NepcheckError):
    """The service cannot take the work now (queue full, deadline passed, model reloading); retry later."""

    status = 503
    code = "overloaded"
    title = "Service unavailable"


class ModelError(Exception):
    """A model artifact on disk is missing or does not match its card; raised at start-up and on reload."""
