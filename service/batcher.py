"""Micro-batching: many small requests become a few large ONNX Runtime calls.

Work arrives as jobs of one or more items (the windows of one clip, the token windows of one text). A batch
goes to the model when `max_batch` items are waiting or when the oldest has waited `max_wait_s`. Batches are
filled round-robin over the waiting jobs, one item from each in turn, so a one-window request never waits
behind all 500 windows of a long text or a ten-minute clip: it rides in the next batch.

Inference runs on a worker thread, off the event loop. The queue is bounded: a job that does not fit is refused
at once (the caller answers 503), and the items of a job that passed its deadline or was abandoned are dropped
before they cost inference time.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from service.errors import Overloaded
from service.metrics import Metrics

RunBatch = Callable[[list[Any]], np.ndarray]


@dataclass(eq=False)
class _Job:
    future: asyncio.Future[np.ndarray]
    deadline: float
    outputs: list[np.ndarray | None]
    remaining: int
    enqueued: float = field(default_factory=time.monotonic)
    waiting: deque[_Item] = field(default_factory=deque)  # items not yet sent to the model

    def done(self) -> bool:
        return self.future.done()


@dataclass(eq=False)
class _Item:
    job: _Job
    index: int
    payload: Any


class MicroBatcher:
    def __init__(
        self,
        run_batch: RunBatch,
        *,
        name: str,
        max_batch: int,
        max_wait_s: float,
        queue_max: int,
        metrics: Metrics | None = None,
    ) -> None:
        self._run_batch = run_batch
        self.name = name
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.queue_max = queue_max
        self._metrics = metrics
        self._jobs: deque[_Job] = deque()  # jobs with items waiting, in turn order
        self._waiting = 0  # items waiting over all jobs
        self._wakeup = asyncio.Event()
        self._closing = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"infer-{name}")
        self._task: asyncio.Task[None] | None = None
        self._running = False

    @property
    def depth(self) -> int:
        return self._waiting

    @property
    def busy(self) -> bool:
        """Work queued or running; read from other threads (a reload's warm-up yields to it)."""
        return self._waiting > 0 or self._running

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"batcher-{self.name}")

    async def submit(self, items: Sequence[Any], *, deadline: float) -> np.ndarray:
        """Outputs for `items`, stacked in their order. Raises Overloaded when full, closing or too late."""
        if not items:
            raise ValueError("submit needs at least one item")
        if self._closing:
            self._reject("closing")
            raise Overloaded("the model is being replaced; retry", code="reloading", headers={"Retry-After": "1"})
        if self._waiting + len(items) > self.queue_max:
            self._reject("queue_full")
            raise Overloaded(
                f"the {self.name} model queue is full; retry shortly", code="queue_full", headers={"Retry-After": "1"}
            )
        loop = asyncio.get_running_loop()
        job = _Job(future=loop.create_future(), deadline=deadline, outputs=[None] * len(items), remaining=len(items))
        job.waiting.extend(_Item(job, i, payload) for i, payload in enumerate(items))
        self._jobs.append(job)
        self._waiting += len(items)
        self._set_depth()
        self._wakeup.set()
        try:
            return await job.future
        finally:
            if not job.future.done():  # the caller was cancelled: let the loop skip this job's items
                job.future.cancel()

    async def close(self) -> None:
        """Finish what is queued, then stop. New submissions are refused from the first moment."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        self._executor.shutdown(wait=True)

    def _reject(self, reason: str) -> None:
        if self._metrics:
            self._metrics.rejections.labels(reason).inc()

    def _set_depth(self) -> None:
        if self._metrics:
            self._metrics.queue_depth.labels(self.name).set(self._waiting)

    async def _loop(self) -> None:
        while True:
            if not self._jobs:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            await self._fill()
            batch = self._take_batch()
            if batch:
                await self._run(batch)

    async def _fill(self) -> None:
        """Wait until a batch is full or its oldest item has waited long enough."""
        while self._jobs and self._waiting < self.max_batch and not self._closing:
            oldest = min(job.enqueued for job in self._jobs)
            remaining = oldest + self.max_wait_s - time.monotonic()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return

    def _take_batch(self) -> list[_Item]:
        now = time.monotonic()
        batch: list[_Item] = []
        while self._jobs and len(batch) < self.max_batch:
            job = self._jobs.popleft()
            if job.done() or now > job.deadline:
                # abandoned, or too late to be of use: drop all its items before they cost inference time
                self._waiting -= len(job.waiting)
                job.waiting.clear()
                if not job.done():
                    self._reject("deadline")
                    job.future.set_exception(
                        Overloaded("the request waited past its deadline; retry", code="deadline_exceeded",
                                   headers={"Retry-After": "1"})
                    )
                continue
            batch.append(job.waiting.popleft())
            self._waiting -= 1
            if job.waiting:
                self._jobs.append(job)  # back of the line: the other jobs get their turn first
        self._set_depth()
        return batch

    async def _run(self, batch: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        if self._metrics:
            self._metrics.batch_size.labels(self.name).observe(len(batch))
            for item in batch:
                self._metrics.queue_wait.labels(self.name).observe(started - item.job.enqueued)
        self._running = True
        try:
            outputs = await loop.run_in_executor(self._executor, self._run_batch, [i.payload for i in batch])
        except Exception as exc:  # a failed batch fails its jobs, never the loop
            for item in batch:
                if not item.job.done():
                    item.job.future.set_exception(exc)
            return
        finally:
            self._running = False
        if self._metrics:
            self._metrics.inference.labels(self.name).observe(time.monotonic() - started)
        for item, output in zip(batch, outputs, strict=True):
            job = item.job
            if job.done():
                continue
            job.outputs[item.index] = output
            job.remaining -= 1
            if job.remaining == 0:
                job.future.set_result(np.stack(job.outputs))  # type: ignore[arg-type]
