"""The FastAPI application: wiring only; behaviour lives in the modules it wires together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.formparsers import MultiPartParser

from service import __version__
from service.api import combined, docs, jobs, ops, problems, stream, text, voice
from service.api.deps import AppState
from service.api.middleware import RequestContextMiddleware
from service.audio import decode_pool
from service.audio.decode_pool import DecodePool
from service.auth import Authenticator, RateLimiter
from service.batch.jobs import JobRunner
from service.errors import ModelError
from service.jobs_store import JobStore
from service.loaded_models import ModelHolder, ModelSet
from service.metrics import Metrics
from service.settings import Settings

log = logging.getLogger("nepcheck")

DESCRIPTION = """
nepcheck scores call audio for synthetic or cloned voices and texts for investment and bank-helpdesk scams.

Scores are calibrated probabilities (higher = more likely fake or scam) with the log-likelihood ratio they come
from and a verdict band from the model card's thresholds. **A `genuine` voice verdict is not proof of identity**:
it says that no sign of synthesis was found, not who is speaking.

Errors are RFC 9457 `application/problem+json` with a stable `code`. Authenticate with
`Authorization: Bearer <key>` or `X-API-Key: <key>`. Nothing you send is stored, except a batch job's rows and
results (`POST /v1/ads/batch`) until its retention period ends; logs carry no audio or text.
"""


def _install_sighup(state: AppState) -> None:
    """SIGHUP reloads the models on disk, like the admin endpoint; only possible in the main thread."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    async def reload() -> None:
        assert state.holder is not None
        try:
            await state.holder.reload(state.settings, state.metrics)
            log.info("models reloaded on SIGHUP")
        except ModelError as exc:
            log.error("reload on SIGHUP failed, the previous models keep serving: %s", exc)

    def on_sighup() -> None:
        task = loop.create_task(reload())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGHUP, on_sighup)


def create_app(
    settings: Settings | None = None, *, models: ModelSet | None = None, metrics: Metrics | None = None
) -> FastAPI:
    """Build the app. Pass preloaded `models` to fail before the server binds; otherwise they load at start-up."""
    settings = settings or Settings()
    metrics = metrics or Metrics()
    state = AppState(
        settings=settings,
        metrics=metrics,
        auth=Authenticator(settings),
        limiter=RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst,
                            trusted_proxies=settings.trusted_proxies),
    )
    # Keep multipart uploads in memory up to the body limit: audio must never touch the disk.
    MultiPartParser.spool_max_size = max(MultiPartParser.spool_max_size, settings.max_body_bytes)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.auth_disabled:
            log.warning("authentication is OFF (NEPCHECK_AUTH_DISABLED): use this only on a local machine")
        loaded: ModelSet = models if models is not None else await asyncio.to_thread(ModelSet.load, settings, metrics)
        loaded.start()
        pool = None
        if settings.decode_workers:
            pool = DecodePool(settings.decode_workers, memory_limit_bytes=settings.decode_memory_limit_mb << 20)
            decode_pool.install(pool)
        state.holder = ModelHolder(loaded)
        state.ready = True
        _install_sighup(state)
        runner = None
        if settings.data_dir is not None:  # batch jobs: resumes the unfinished ones
            runner = JobRunner(JobStore(settings.data_dir), settings)
            runner.start(state.holder)
        app.state.jobs = runner
        log.info("ready: %s", [loaded.voice.ident, loaded.text.ident])
        try:
            yield
        finally:
            state.ready = False
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            if runner is not None:
                await runner.close()
                runner.store.close()
            await state.holder.close()
            if pool is not None:
                if decode_pool.active_pool() is pool:
                    decode_pool.install(None)
                await asyncio.to_thread(pool.close)

    app = FastAPI(
        title="nepcheck",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by service.api.docs with local assets instead of a CDN's
        redoc_url=None,
    )
    app.state.nepcheck = state
    app.state.jobs = None
    if settings.data_dir is not None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)  # an unusable data directory fails here, before binding
    problems.install(app)
    docs.install(app)
    for module in (voice, stream, text, combined, jobs, ops):
        app.include_router(module.router)
    app.add_middleware(RequestContextMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes,
                       body_timeout_s=settings.body_timeout_s)
    return app
