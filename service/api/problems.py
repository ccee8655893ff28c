"""Every error leaves the API as RFC 9457 problem+json with a stable `code`, whoever raised it."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.errors import NepcheckError
from service.schemas import Problem

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"

# Codes for errors raised by the framework rather than by nepcheck code.
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def problem(
    status: int, code: str, detail: str, *, request_id: str | None = None, title: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "type": f"urn:nepcheck:problem:{code}",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id,
    }
    body.update(extra)
    return body


def problem_response(
    status: int, code: str, detail: str, *, request_id: str | None = None, headers: dict[str, str] | None = None,
    title: str | None = None, **extra: Any,
) -> JSONResponse:
    return JSONResponse(
        problem(status, code, detail, request_id=request_id, title=title, **extra),
        status_code=status, headers=headers, media_type=MEDIA_TYPE,
    )


def _request_id(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


async def _nepcheck_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NepcheckError)
    return problem_response(exc.status, exc.code, exc.detail, request_id=_request_id(request),
                            headers=exc.headers, title=exc.title)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 400 and "parsing the body" in detail:
        # FastAPI's wording for bodies it cannot decode at all, such as JSON that is not UTF-8.
        if "json" in request.headers.get("content-type", ""):
            code, detail = "invalid_json", "the request body is not valid UTF-8 JSON"
        else:
            code, detail = "invalid_body", "the request body could not be parsed"
    return problem_response(exc.status_code, code, detail, request_id=_request_id(request),
                            headers=getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]
    if any(e["type"] == "json_invalid" for e in errors):
        return problem_response(400, "invalid_json", "the request body is not valid JSON",
                                request_id=_request_id(request))
    where = ".".join(errors[0]["loc"]) if errors else ""
    message = str(errors[0]["msg"]) if errors else "invalid request"
    return problem_response(422, "invalid_request", f"{where}: {message}" if where else message,
                            request_id=_request_id(request), errors=errors)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s", request.url.path)
    return problem_response(500, "internal_error", "an internal error occurred; it has been logged",
                            request_id=_request_id(request))


def install(app: FastAPI) -> None:
    app.add_exception_handler(NepcheckError, _nepcheck_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": f"{HTTPStatus(status).phrase} (application/problem+json)"}
    for status in (400, 401, 413, 415, 422, 429, 503)
}
