"""A reload must release the old model set: nothing may keep its ONNX sessions alive once it has retired."""

from __future__ import annotations

import asyncio
import gc
import weakref
from pathlib import Path

from service.loaded_models import ModelHolder, ModelSet
from service.settings import Settings


def test_retired_sessions_are_released(models_dir: Path) -> None:
    settings = Settings(models_dir=models_dir, auth_disabled=True)

    async def run() -> list[weakref.ref[object]]:
        holder = ModelHolder(ModelSet.load(settings))
        holder.current.start()
        refs = []
        for _ in range(3):
            async with holder.lease() as serving:  # a request in flight across the reload
                refs += [weakref.ref(serving.voice.session), weakref.ref(serving.text.session),
                         weakref.ref(serving)]
                await holder.reload(settings)
                assert holder.current is not serving
                del serving
            await asyncio.sleep(0)  # let the retirement task run once the lease has ended
            await asyncio.gather(*holder._retiring)
        await holder.close()
        return refs

    refs = asyncio.run(run())
    gc.collect()
    assert refs and all(ref() is None for ref in refs)


def test_a_reload_warms_up_in_the_gaps_between_requests(models_dir: Path, monkeypatch) -> None:
    import time

    from service import loaded_models

    settings = Settings(models_dir=models_dir, auth_disabled=True)
    serving = ModelSet.load(settings)
    started = time.monotonic()
    serving.wait_until_idle()
    assert time.monotonic() - started < 0.05  # idle: no wait

    monkeypatch.setattr(loaded_models, "SERVING_FIRST_S", 0.2)
    serving.text.batcher._running = True  # a batch in flight
    pauses = []

    def counting_pause() -> None:
        pauses.append(serving.busy())
        serving.wait_until_idle()

    started = time.monotonic()
    loaded_models.load_text(settings, pause=counting_pause)
    assert pauses == [True, True]  # before each warm-up step (batch 1, then the largest batch)
    assert time.monotonic() - started >= 0.4  # each step yielded to the busy model, up to the limit
