"""One scan row to one output record, the same way in every engine.

A row carries what `POST /v1/ads/score` takes (`id`, `text`, `audio_base64`, `landing_url`, `advertiser`) and may
name its soundtrack as a file instead (`audio_path`). The record is the API's answer plus `row`, or, for a row that
cannot be scored, `{"id", "row", "error": {"code", "detail"}}` with the same codes the API answers with.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from service.ads import score_ad_item
from service.errors import InvalidInput, NepcheckError, Overloaded
from service.loaded_models import ModelSet
from service.schemas import AdRequest
from service.settings import Settings

log = logging.getLogger(__name__)

AD_FIELDS = ("id", "text", "audio_base64", "landing_url", "advertiser")
ROW_DEADLINE_S = 600.0  # a scan has no client waiting on a socket: a row may queue behind many others
RETRIES = 3  # on Overloaded (queue full, deadline): the models are busy, not the row bad


@dataclass(frozen=True)
class AudioFiles:
    """Where a row's `audio_path` may point.

    Relative paths resolve against `base` (the input file's folder). With `root` set (the server's
    NEPCHECK_SCAN_ROOT, for jobs) a path must stay inside it: a job's rows must not read other files on the server.
    `base=None` refuses `audio_path` altogether.
    """

    base: Path | None
    root: Path | None = None

    def resolve(self, value: str) -> Path:
        if self.base is None:
            raise InvalidInput("audio_path is not accepted here; send the soundtrack as audio_base64",
                               code="audio_path_not_allowed")
        path = (self.base / value).resolve()
        if self.root is not None and not path.is_relative_to(self.root.resolve()):
            raise InvalidInput("audio_path points outside the scan root", code="audio_path_not_allowed")
        return path


def error_record(row: int | None, ad_id: Any, code: str, detail: str) -> dict[str, Any]:
    return {"id": ad_id if isinstance(ad_id, str) else None, "row": row, "error": {"code": code, "detail": detail}}


def row_id(fields: dict[str, Any] | None) -> str | None:
    """The row's id as a string (CSV and Parquet ids may be numbers), or None when it has none."""
    value = (fields or {}).get("id")
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value).strip()
    return text or None


def parse_row(fields: dict[str, Any], settings: Settings, files: AudioFiles) -> tuple[AdRequest, bytes | None]:
    """The ad and its soundtrack bytes (from `audio_path`), or InvalidInput with the code a record carries."""
    ad_id = row_id(fields)
    if ad_id is None:
        raise InvalidInput("row has no id", code="missing_id")
    text = fields.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("row has no text", code="empty_text")
    if fields.get("audio_base64") and fields.get("audio_path"):
        raise InvalidInput("row has both audio_base64 and audio_path; send one", code="invalid_row")
    try:
        ad = AdRequest(**{**{k: fields[k] for k in AD_FIELDS if k in fields}, "id": ad_id})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"{where}: {first['msg']}", code="invalid_row") from None
    audio = None
    if fields.get("audio_path"):
        path = files.resolve(str(fields["audio_path"]))
        try:
            if path.stat().st_size > settings.max_body_bytes:
                raise InvalidInput(f"audio file is over {settings.max_body_bytes} bytes", code="audio_too_large")
            audio = path.read_bytes()
        except OSError:
            raise InvalidInput("audio_path does not name a readable file", code="audio_not_found") from None
    return ad, audio


async def score_row(
    models: ModelSet, index: int | None, fields: dict[str, Any], settings: Settings, files: AudioFiles
) -> dict[str, Any]:
    """The record for one row: never raises for a bad row, only for cancellation. `index` is the row's position
    in the input (None on Ray, where rows have no global position)."""
    ad_id = row_id(fields)
    for attempt in range(RETRIES + 1):
        try:
            ad, audio = await asyncio.to_thread(parse_row, fields, settings, files)
            result = await score_ad_item(models, ad, settings, deadline=time.monotonic() + ROW_DEADLINE_S,
                                         audio=audio)
            return {**result.model_dump(mode="json"), "row": index}
        except Overloaded as exc:
            if attempt == RETRIES:
                return error_record(index, ad_id, exc.code, exc.detail)
            await asyncio.sleep(0.5 * 2**attempt)
        except NepcheckError as exc:
            return error_record(index, ad_id, exc.code, exc.detail)
        except Exception as exc:  # a bug or a model failure must not end a scan of millions of rows
            log.exception("row %d failed", index)
            return error_record(index, ad_id, "internal_error", f"{type(exc).__name__}: {exc}")
    raise AssertionError("unreachable")
