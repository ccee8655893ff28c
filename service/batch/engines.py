"""Where rows get scored: in this process on its own event loop, or in worker processes that each hold the models.

Both score through `service.batch.rows.score_row`; they differ only in where the ONNX sessions live.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Protocol

from service.batch.rows import AudioFiles, score_row
from service.loaded_models import ModelSet, load_text, load_voice
from service.settings import Settings

Rows = Sequence[tuple[int | None, dict[str, Any]]]


class RowScorer(Protocol):
    async def score(self, rows: Rows) -> list[dict[str, Any]]: ...

    async def close(self) -> None: ...


class InProcessScorer:
    """Scores on models whose batchers run on the current event loop (the CLI's own, or the server's)."""

    def __init__(self, models: ModelSet, settings: Settings, files: AudioFiles) -> None:
        self.models = models
        self.settings = settings
        self.files = files

    async def score(self, rows: Rows) -> list[dict[str, Any]]:
        return list(await asyncio.gather(
            *(score_row(self.models, index, fields, self.settings, self.files) for index, fields in rows)
        ))

    async def close(self) -> None:
        return None


def load_scan_models(settings: Settings) -> ModelSet:
    """The voice and text models an ad needs (a scan never transcribes, so no speech recogniser is loaded)."""
    return ModelSet(voice=load_voice(settings), text=load_text(settings))


# One per worker process: its models and the event loop their batchers run on.
_WORKER: dict[str, Any] = {}


def _init_worker(overrides: dict[str, Any], files: AudioFiles) -> None:
    settings = Settings(**overrides)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    models = load_scan_models(settings)

    async def start() -> None:
        models.start()

    loop.run_until_complete(start())
    _WORKER.update(loop=loop, models=models, settings=settings, files=files)


def _ready() -> int:
    time.sleep(0.2)  # long enough that every worker takes one, so each has run its initializer
    return os.getpid()


def _score_in_worker(rows: Rows) -> list[dict[str, Any]]:
    scorer = InProcessScorer(_WORKER["models"], _WORKER["settings"], _WORKER["files"])
    result: list[dict[str, Any]] = _WORKER["loop"].run_until_complete(scorer.score(rows))
    return result


class ProcessPoolScorer:
    """`workers` processes, each loading the models once (spawned, not forked: ONNX Runtime's threads do not
    survive a fork). Each gets an equal share of the cores for ONNX Runtime unless NEPCHECK_INTRA_OP_THREADS says."""

    def __init__(self, workers: int, overrides: dict[str, Any], files: AudioFiles) -> None:
        if not overrides.get("intra_op_threads") and "NEPCHECK_INTRA_OP_THREADS" not in os.environ:
            overrides = {**overrides, "intra_op_threads": max(1, (os.cpu_count() or 1) // workers)}
        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker, initargs=(overrides, files),
        )
        self.workers = workers

    async def warm(self) -> None:
        """Start every worker and load its models now, so a scan's clock starts with the models ready."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._pool, _ready) for _ in range(self.workers)))

    async def score(self, rows: Rows) -> list[dict[str, Any]]:
        return await asyncio.get_running_loop().run_in_executor(self._pool, _score_in_worker, rows)

    async def close(self) -> None:
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)
