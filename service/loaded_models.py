"""Loaded models: an ONNX session, its card and its micro-batcher, per task; and the set the app serves.

A `ModelSet` is replaced whole on reload. Requests hold a lease on the set they started with, so they finish
on the old models while new requests already go to the new ones; the old set closes when its last lease ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import numpy as np

from service import engine
from service.asr.model import AsrModel, load_asr
from service.batcher import MicroBatcher
from service.card import ModelCard, TextInput, VoiceInput
from service.errors import Overloaded
from service.metrics import Metrics
from service.registry import Artifact, load_artifact, resolve
from service.settings import Settings
from service.text.ngram_model import NgramModel
from service.text.tokenize import TextEncoder

log = logging.getLogger(__name__)

# Serving first: the longest a reload's warm-up step or a batch job's next batch waits for the serving models to
# fall idle; under constant load the new models must still come up and jobs must still progress.
SERVING_FIRST_S = 2.0
_IDLE_POLL_S = 0.005


def release_freed_memory() -> None:
    """Give freed heap back to the operating system (glibc only; elsewhere a no-op).

    Why: ONNX Runtime frees a retired session's hundreds of MiB into glibc's heap, which keeps them (fragmented)
    instead of returning them, so every reload grew the server by 50-400 MiB for good. `malloc_trim(0)` returns
    the free pages; measured with `python -m benchmarks.soak --reloads`.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.malloc_trim(0)


class _LoadedModel:
    task: str

    def __init__(self, artifact: Artifact, settings: Settings, metrics: Metrics | None) -> None:
        self.artifact = artifact
        self.card: ModelCard = artifact.card
        self.session = engine.create_session(
            artifact.onnx_path, providers=settings.providers, intra_op_threads=settings.intra_op_threads
        )
        engine.check_io(self.session, self.task, artifact.onnx_path)
        self.batcher = MicroBatcher(
            self._run_batch,
            name=self.card.name,
            # A per-item model gains nothing from a batch of many items, and one item per turn makes the
            # round-robin over requests as fine as it can be: a short request waits behind one window of each.
            max_batch=1 if self.per_item else settings.max_batch,
            max_wait_s=settings.max_wait_ms / 1000,
            queue_max=settings.queue_max,
            metrics=metrics,
        )

    @property
    def ident(self) -> dict[str, str]:
        return {"name": self.card.name, "version": self.card.version, "variant": self.artifact.variant}

    @property
    def per_item(self) -> bool:
        """One ONNX call per item (`engine.runs_per_item`): a score must not depend on its batch-mates."""
        return engine.runs_per_item(self.card.variants[self.artifact.variant].precision)

    def _warm_up_sizes(self) -> tuple[int, ...]:
        return (1,) if self.per_item else (1, self.batcher.max_batch)

    def _run_batch(self, payloads: list[np.ndarray]) -> np.ndarray:
        if self.per_item and len(payloads) > 1:
            return np.concatenate([self._run_call([p]) for p in payloads])
        return self._run_call(payloads)

    def _run_call(self, payloads: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def warm_up(self, pause: Callable[[], None]) -> None:
        """Inference at batch 1 and at the largest batch size, so the first real request pays no allocation
        cost. `pause` runs before each step: on reload it waits while the serving models are busy."""
        raise NotImplementedError

    async def infer(self, items: list[np.ndarray], *, deadline: float) -> np.ndarray:
        timeout = deadline - time.monotonic()
        try:
            return await asyncio.wait_for(self.batcher.submit(items, deadline=deadline), timeout)
        except TimeoutError:
            raise Overloaded(
                "scoring did not finish within the request timeout; retry", code="timeout",
                headers={"Retry-After": "1"},
            ) from None


class VoiceModel(_LoadedModel):
    task = "voice"

    @property
    def spec(self) -> VoiceInput:
        assert isinstance(self.card.input, VoiceInput)
        return self.card.input

    def _run_call(self, payloads: list[np.ndarray]) -> np.ndarray:
        return engine.run_logits(self.session, {"waveform": np.stack(payloads).astype(np.float32, copy=False)})

    def warm_up(self, pause: Callable[[], None]) -> None:
        rng = np.random.default_rng(0)
        for batch in self._warm_up_sizes():
            pause()
            waveform = (0.01 * rng.standard_normal((batch, self.spec.window_samples))).astype(np.float32)
            engine.run_logits(self.session, {"waveform": waveform})


class TextModel(_LoadedModel):
    task = "text"

    def __init__(self, artifact: Artifact, settings: Settings, metrics: Metrics | None) -> None:
        super().__init__(artifact, settings, metrics)
        self.encoder = TextEncoder(
            artifact.directory / self.spec.tokenizer, max_length=self.spec.max_length, stride=self.spec.stride
        )
        self.ngram = NgramModel.of(artifact)

    def ngram_offset(self, normalized_text: str) -> float:
        """The n-gram term added to each window's logit difference (0 without an n-gram model). Blocking: runs
        in the request's preparation thread."""
        return float(self.ngram.offsets([normalized_text])[0]) if self.ngram is not None else 0.0

    @property
    def spec(self) -> TextInput:
        assert isinstance(self.card.input, TextInput)
        return self.card.input

    def _run_call(self, payloads: list[np.ndarray]) -> np.ndarray:
        return engine.run_logits(self.session, self.encoder.collate(payloads))

    def warm_up(self, pause: Callable[[], None]) -> None:
        self.ngram_offset("warm up")
        ids = [w.input_ids for w in self.encoder.windows("warm up " * self.spec.max_length)]
        batch = (ids * self.batcher.max_batch)[: self.batcher.max_batch]
        for size in self._warm_up_sizes():
            pause()
            engine.run_logits(self.session, self.encoder.collate(batch[:size]))


def _no_pause() -> None:
    pass


def _warm(model: _LoadedModel, pause: Callable[[], None]) -> None:
    started = time.perf_counter()
    model.warm_up(pause)
    log.info("warmed up %s in %.0f ms", model.ident, 1000 * (time.perf_counter() - started))


def load_voice(settings: Settings, metrics: Metrics | None = None, pause: Callable[[], None] = _no_pause
               ) -> VoiceModel:
    directory = resolve(settings.models_dir, settings.voice_model, settings.voice_version)
    model = VoiceModel(load_artifact(directory, variant=settings.variant, task="voice"), settings, metrics)
    _warm(model, pause)
    return model


def load_text(settings: Settings, metrics: Metrics | None = None, pause: Callable[[], None] = _no_pause
              ) -> TextModel:
    directory = resolve(settings.models_dir, settings.text_model, settings.text_version)
    model = TextModel(load_artifact(directory, variant=settings.variant, task="text"), settings, metrics)
    _warm(model, pause)
    return model


@dataclass
class ModelSet:
    voice: VoiceModel
    text: TextModel
    leases: int = 0
    retired: bool = False
    # Call transcription, when the optional ASR model is installed and assembled (service/asr/); else None.
    asr: AsrModel | None = None

    @classmethod
    def load(cls, settings: Settings, metrics: Metrics | None = None, *, serving: ModelSet | None = None
             ) -> ModelSet:
        """Blocking: loads, checks and warms up both models. Raises ModelError with one clear line.

        With `serving` (a reload), each warm-up step first waits while those models have work queued or running,
        up to `SERVING_FIRST_S`: requests are served first, and the new models warm up in the gaps."""
        pause = serving.wait_until_idle if serving is not None else _no_pause
        return cls(voice=load_voice(settings, metrics, pause), text=load_text(settings, metrics, pause),
                   asr=load_asr(settings))

    def busy(self) -> bool:
        return self.voice.batcher.busy or self.text.batcher.busy

    def wait_until_idle(self) -> None:
        """Called from the loading thread: polls, since the batchers live on the event loop."""
        give_up = time.monotonic() + SERVING_FIRST_S
        while self.busy() and time.monotonic() < give_up:
            time.sleep(_IDLE_POLL_S)

    async def yield_to_requests(self) -> None:
        """`wait_until_idle` for work on the event loop itself (batch jobs between their batches)."""
        give_up = time.monotonic() + SERVING_FIRST_S
        while self.busy() and time.monotonic() < give_up:
            await asyncio.sleep(_IDLE_POLL_S)

    def start(self) -> None:
        self.voice.batcher.start()
        self.text.batcher.start()

    async def close(self) -> None:
        await asyncio.gather(self.voice.batcher.close(), self.text.batcher.close())
        if self.asr is not None:
            self.asr.close()

    def cards(self) -> list[ModelCard]:
        return [self.voice.card, self.text.card]


class ModelHolder:
    """The current ModelSet, swapped atomically on reload."""

    def __init__(self, models: ModelSet) -> None:
        self.current = models
        self._idle: dict[int, asyncio.Event] = {}
        self._reload_lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[ModelSet]:
        models = self.current
        models.leases += 1
        try:
            yield models
        finally:
            models.leases -= 1
            if models.retired and models.leases == 0 and id(models) in self._idle:
                self._idle[id(models)].set()

    async def reload(self, settings: Settings, metrics: Metrics | None = None) -> ModelSet:
        """Load and warm up the models on disk now, then serve them; the old set retires in the background."""
        async with self._reload_lock:
            new = await asyncio.to_thread(ModelSet.load, settings, metrics, serving=self.current)
            old, self.current = self.current, new
            new.start()
            old.retired = True
            task = asyncio.get_running_loop().create_task(self._retire(old))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
            return new

    async def _retire(self, old: ModelSet) -> None:
        if old.leases:
            idle = self._idle.setdefault(id(old), asyncio.Event())
            await idle.wait()
            del self._idle[id(old)]
        await old.close()
        retired = [m.ident for m in (old.voice, old.text)]
        del old  # the last reference to the sessions: their memory is freed here
        gc.collect()
        release_freed_memory()
        log.info("retired %s", retired)

    async def close(self) -> None:
        await asyncio.gather(*self._retiring)
        await self.current.close()
