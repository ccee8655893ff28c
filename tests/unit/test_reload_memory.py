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
