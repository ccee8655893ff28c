"""Shared state and the dependencies routes declare (as `Annotated` aliases).

They are `async def` although none awaits: FastAPI runs plain `def` dependencies in a thread pool, a thread
hop per dependency per request for no benefit here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.requests import HTTPConnection

from service.auth import ApiKey, Authenticator, RateLimiter, presented_key
from service.errors import Overloaded
from service.loaded_models import ModelHolder, ModelSet
from service.metrics import Metrics
from service.settings import Settings


@dataclass
class AppState:
    settings: Settings
    metrics: Metrics
    auth: Authenticator
    limiter: RateLimiter
    holder: ModelHolder | None = None
    ready: bool = False


async def app_state(request: Request) -> AppState:
    return request.app.state.nepcheck


State = Annotated[AppState, Depends(app_state)]


async def get_settings(state: State) -> Settings:
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def rate_bucket(state: AppState, key: ApiKey, connection: HTTPConnection) -> str:
    """The rate-limit bucket of a request or WebSocket: its key, or with authentication off its client address."""
    peer = connection.client.host if connection.client else None
    return state.limiter.bucket_for(key, peer, connection.headers.getlist("x-forwarded-for"))


async def caller(
    request: Request,
    state: State,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> ApiKey:
    key = state.auth.authenticate(presented_key(authorization, x_api_key))
    request.state.key_id = key.id
    state.limiter.check(rate_bucket(state, key, request))
    return key


Caller = Annotated[ApiKey, Depends(caller)]


async def admin(key: Caller, state: State) -> ApiKey:
    state.auth.require_admin(key)
    return key


Admin = Annotated[ApiKey, Depends(admin)]


async def models_lease(state: State) -> AsyncIterator[ModelSet]:
    if state.holder is None or not state.ready:
        raise Overloaded("models are still loading; retry shortly", code="not_ready", headers={"Retry-After": "2"})
    async with state.holder.lease() as models:
        yield models


Models = Annotated[ModelSet, Depends(models_lease)]
