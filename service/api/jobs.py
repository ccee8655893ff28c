"""Batch jobs over HTTP: `POST /v1/ads/batch` takes a JSONL upload (or a path under NEPCHECK_SCAN_ROOT) and returns
a job; `GET /v1/jobs/{id}` shows its progress, `GET /v1/jobs/{id}/results` streams its records as JSONL and
`DELETE /v1/jobs/{id}` cancels it (or, once it has ended, deletes it and its results).

A job belongs to the key that made it: any other key gets 404, as for a job that does not exist. With
authentication off every caller is the same `anonymous` caller and sees every job.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.api.deps import Caller, SettingsDep
from service.api.problems import PROBLEM_RESPONSES
from service.batch.jobs import JobRunner
from service.batch.sources import detect_format
from service.errors import InvalidInput, NepcheckError, NotFound, PayloadTooLarge, UnsupportedMediaType
from service.jobs_store import UNFINISHED, Job
from service.settings import Settings

router = APIRouter(tags=["batch jobs"])

JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines",
               "text/jsonl")
READ_CHUNK = 1 << 16


class BatchPathRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, max_length=4096, description="a JSONL, CSV or Parquet file under the scan root")


class JobProgress(BaseModel):
    rows_total: int | None = Field(description="rows in the input; null until the job has counted them")
    rows_done: int = Field(description="records written so far, error records included")
    errors: int
    fraction: float | None


class JobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    source: Literal["upload", "path"]
    created: datetime
    started: datetime | None
    finished: datetime | None
    expires_at: datetime | None = Field(description="when the results are deleted (retention after the job ends)")
    progress: JobProgress
    summary: dict[str, Any] | None = Field(description="counts by risk level, verdict and error code, once ended")
    failure: str | None
    results_url: str


async def job_runner(request: Request) -> JobRunner:
    runner: JobRunner | None = getattr(request.app.state, "jobs", None)
    if runner is None:
        raise NotFound("batch jobs are off on this server: set NEPCHECK_DATA_DIR to turn them on",
                       code="jobs_disabled")
    return runner


Runner = Annotated[JobRunner, Depends(job_runner)]


def _time(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _out(job: Job, settings: Settings) -> JobOut:
    fraction = None
    if job.rows_total is not None:
        fraction = 1.0 if job.rows_total == 0 else round(min(1.0, job.rows_done / job.rows_total), 4)
    return JobOut(
        id=job.id, status=job.status, source=job.source, created=_time(job.created),  # type: ignore[arg-type]
        started=_time(job.started), finished=_time(job.finished),
        expires_at=_time(job.finished + settings.job_retention_s) if job.finished is not None else None,
        progress=JobProgress(rows_total=job.rows_total, rows_done=job.rows_done, errors=job.errors,
                             fraction=fraction),
        summary=job.summary, failure=job.failure, results_url=f"/v1/jobs/{job.id}/results",
    )


def _owned(runner: JobRunner, job_id: str, owner: str) -> Job:
    job = runner.store.get(job_id, owner)
    if job is None:
        raise NotFound(f"no job {job_id!r} for this key", code="job_not_found")
    return job


async def _save_upload(request: Request, target: Path, limit: int) -> None:
    """Stream the body to `target`; 413 over `limit`, 422 when it holds nothing but whitespace."""
    size = 0
    content = False
    with target.open("wb") as handle:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the upload is over the limit of {limit} bytes (NEPCHECK_JOB_MAX_UPLOAD_BYTES)")
            content = content or bool(chunk.strip())
            handle.write(chunk)
    if not content:
        raise InvalidInput("the upload holds no rows", code="empty_upload")


async def _server_path(request: Request, settings: Settings) -> tuple[Path, str]:
    try:
        body = BatchPathRequest.model_validate(json.loads(await request.body()))
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            raise InvalidInput(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}",
                               code="invalid_request") from None
        raise NepcheckError("the request body is not valid JSON", code="invalid_json") from None
    root = settings.scan_root
    if root is None:
        raise InvalidInput("this server takes uploads only (NEPCHECK_SCAN_ROOT is not set)", code="path_not_allowed")
    path = (root / body.path).resolve()
    if not path.is_relative_to(root.resolve()):
        raise InvalidInput("path points outside the scan root", code="path_not_allowed")
    if not path.is_file():
        raise InvalidInput(f"no file {body.path!r} under the scan root", code="input_not_found")
    try:
        return path, detect_format(path)
    except ValueError:
        raise InvalidInput("the file's suffix must be .jsonl, .csv or .parquet", code="unsupported_format") from None


@router.post(
    "/v1/ads/batch",
    status_code=202,
    response_model=JobOut,
    responses={**PROBLEM_RESPONSES, 404: {"description": "batch jobs are off (`jobs_disabled`)"}},
    summary="Start a batch job: score every ad in a JSONL upload or a file on the server",
    description="Send the rows as `application/x-ndjson` (one `POST /v1/ads/score` body per line; at most "
    "NEPCHECK_JOB_MAX_UPLOAD_BYTES), or `application/json` `{\"path\": ...}` naming a JSONL, CSV or Parquet file "
    "under the server's NEPCHECK_SCAN_ROOT. Returns the job at once (202); poll `GET /v1/jobs/{id}`.",
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/x-ndjson": {"schema": {"type": "string", "description": "one ad object per line"}},
        "application/json": {"schema": BatchPathRequest.model_json_schema()},
    }}},
)
async def create_batch(request: Request, response: Response, caller: Caller, runner: Runner,
                       settings: SettingsDep) -> JobOut:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    store = runner.store
    job_id = store.new_id()
    if media in JSONL_TYPES:
        folder = store.folder(job_id)
        folder.mkdir(parents=True)
        target = folder / "input.jsonl"
        try:
            await _save_upload(request, target, settings.job_max_upload_bytes)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        job = store.create(job_id, owner=caller.id, source="upload", input_path=target, input_format="jsonl",
                           rows_total=None)
    elif media == "application/json":
        path, fmt = await _server_path(request, settings)
        store.folder(job_id).mkdir(parents=True)
        job = store.create(job_id, owner=caller.id, source="path", input_path=path, input_format=fmt,
                           rows_total=None)
    else:
        raise UnsupportedMediaType("send the rows as application/x-ndjson, or application/json {\"path\": ...}")
    runner.wake()
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return _out(job, settings)


@router.get("/v1/jobs/{job_id}", response_model=JobOut, responses={**PROBLEM_RESPONSES, 404: {}},
            summary="A job's status and progress")
async def get_job(job_id: str, caller: Caller, runner: Runner, settings: SettingsDep) -> JobOut:
    return _out(_owned(runner, job_id, caller.id), settings)


async def _complete_lines(path: Path) -> AsyncIterator[bytes]:
    """The records written so far: up to the last newline when the file was opened, in chunks."""
    with contextlib.suppress(FileNotFoundError), path.open("rb") as handle:
        remaining = path.stat().st_size
        carry = b""
        while remaining > 0:
            chunk = handle.read(min(READ_CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            data = carry + chunk
            cut = data.rfind(b"\n") + 1
            carry = data[cut:]
            if cut:
                yield data[:cut]


@router.get("/v1/jobs/{job_id}/results", responses={**PROBLEM_RESPONSES, 404: {}},
            response_class=StreamingResponse,
            summary="The job's records so far, as JSONL (one `POST /v1/ads/score` answer or error record per row)")
async def job_results(job_id: str, caller: Caller, runner: Runner) -> StreamingResponse:
    _owned(runner, job_id, caller.id)
    return StreamingResponse(_complete_lines(runner.store.results_path(job_id)), media_type="application/x-ndjson")


@router.delete("/v1/jobs/{job_id}", response_model=JobOut, responses={**PROBLEM_RESPONSES, 204: {}, 404: {}},
               summary="Cancel a job; a job that has ended is deleted with its results (204)")
async def delete_job(job_id: str, caller: Caller, runner: Runner, settings: SettingsDep) -> Any:
    job = _owned(runner, job_id, caller.id)
    if job.status in UNFINISHED:
        runner.store.finish(job.id, "cancelled")
        runner.cancel(job.id)
        runner.discard_input(job)
        return _out(_owned(runner, job_id, caller.id), settings)
    runner.remove(job.id)
    return Response(status_code=204)
