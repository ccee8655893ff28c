"""Operations: liveness, readiness, Prometheus metrics, the loaded models and hot reload."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.api.deps import Admin, Caller, State
from service.api.problems import PROBLEM_RESPONSES
from service.errors import ModelError, NepcheckError, Overloaded

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


class ReloadFailed(NepcheckError):
    status = 409
    code = "reload_failed"
    title = "Reload failed"


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: models loaded and warmed up", responses={503: PROBLEM_RESPONSES[503]})
async def readyz(state: State) -> dict[str, Any]:
    if not state.ready or state.holder is None:
        raise Overloaded("models are still loading", code="not_ready", headers={"Retry-After": "2"})
    models = state.holder.current
    idents = [models.voice.ident, models.text.ident] + ([models.asr.ident] if models.asr is not None else [])
    return {"status": "ready", "models": idents}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(state: State) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/models", summary="Loaded models and their cards", responses=PROBLEM_RESPONSES)
async def list_models(state: State, caller: Caller) -> dict[str, Any]:
    if state.holder is None:
        raise Overloaded("models are still loading", code="not_ready", headers={"Retry-After": "2"})
    models = state.holder.current
    listed = [
        {**m.ident, "task": m.card.task, "providers": m.session.get_providers(), "card": m.card.model_dump()}
        for m in (models.voice, models.text)
    ]
    if models.asr is not None:  # CTranslate2, not ONNX Runtime: its device stands where the providers are
        asr = models.asr
        listed.append({**asr.ident, "task": "asr", "providers": [asr.device], "card": asr.card.model_dump()})
    return {"models": listed}


@router.post(
    "/v1/admin/reload",
    summary="Load the models on disk now; in-flight requests finish on the old ones",
    responses={**PROBLEM_RESPONSES, 403: {"description": "not an admin key"}, 409: {"description": "reload failed"}},
)
async def reload_models(state: State, key: Admin) -> dict[str, Any]:
    if state.holder is None:
        raise Overloaded("models are still loading", code="not_ready", headers={"Retry-After": "2"})
    try:
        models = await state.holder.reload(state.settings, state.metrics)
    except ModelError as exc:
        log.error("reload requested by %s failed: %s", key.id, exc)
        raise ReloadFailed(f"{exc}; the previous models keep serving") from exc
    log.info("models reloaded by %s", key.id)
    return {"status": "reloaded", "models": [models.voice.ident, models.text.ident]}
