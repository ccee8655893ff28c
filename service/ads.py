"""One ad, scored: its copy, its soundtrack if any, and its landing URL, combined into one risk.

The single place where an ad is scored. `POST /v1/ads/score`, `nepcheck scan` (in process, in worker processes or
on Ray) and the batch jobs all call `score_ad_item`, so a scanned ad gets exactly the answer the API would give.
"""

from __future__ import annotations

import asyncio
import time

from service.api.audio_input import decode, decode_base64
from service.api.text_input import check_text_length
from service.loaded_models import ModelSet
from service.risk import combine
from service.schemas import AdRequest, AdResult, TextResult, VoiceResult
from service.scoring import score_text, score_voice
from service.settings import Settings


async def score_ad_item(
    models: ModelSet, ad: AdRequest, settings: Settings, *, deadline: float, audio: bytes | None = None
) -> AdResult:
    """Score `ad`. Its soundtrack is `audio` (bytes read from a file by a scan) or else `ad.audio_base64`.

    Raises the service's own errors (`InvalidInput` for bad text or audio, `Overloaded` when the models cannot
    take the work in time); callers turn them into a problem response or an error record.
    """
    started = time.perf_counter()
    check_text_length(ad.text, settings)
    data = audio
    if data is None and ad.audio_base64:
        data = decode_base64(ad.audio_base64, "audio_base64")
    voice: VoiceResult | None = None
    text: TextResult
    if data is not None:
        decoded = await decode(data, None, settings, deadline=deadline)
        voice, text = await asyncio.gather(
            score_voice(models.voice, decoded, deadline=deadline),
            score_text(models.text, ad.text, lang=None, deadline=deadline),
        )
    else:
        text = await score_text(models.text, ad.text, lang=None, deadline=deadline)
    risk = combine(voice, text, ad.landing_url)
    return AdResult(id=ad.id, voice=voice, text=text, risk=risk,
                    elapsed_ms=round(1000 * (time.perf_counter() - started), 3))
