import asyncio
import threading
import time

import numpy as np
import pytest

from service.batcher import MicroBatcher
from service.errors import Overloaded
from service.metrics import Metrics


class Recorder:
    """run_batch that doubles its inputs and remembers each batch's size."""

    def __init__(self, delay: float = 0.0, gate: threading.Event | None = None) -> None:
        self.sizes: list[int] = []
        self.delay = delay
        self.gate = gate

    def __call__(self, payloads: list[np.ndarray]) -> np.ndarray:
        if self.gate is not None:
            self.gate.wait(5)
        time.sleep(self.delay)
        self.sizes.append(len(payloads))
        return np.stack(payloads) * 2


def make(run, **kw) -> MicroBatcher:
    options = {"name": "t", "max_batch": 4, "max_wait_s": 0.01, "queue_max": 100, "metrics": Metrics()}
    options.update(kw)
    return MicroBatcher(run, **options)


def far() -> float:
    return time.monotonic() + 10


async def test_results_come_back_in_order_per_job_across_batches() -> None:
    rec = Recorder()
    b = make(rec)
    b.start()
    jobs = [[np.full(2, 10 * j + i, np.float32) for i in range(j + 1)] for j in range(5)]  # 15 items
    outs = await asyncio.gather(*(b.submit(items, deadline=far()) for items in jobs))
    for items, out in zip(jobs, outs, strict=True):
        assert out.shape == (len(items), 2)
        assert out[:, 0].tolist() == [2 * float(x[0]) for x in items]
    assert max(rec.sizes) <= 4 and sum(rec.sizes) == 15
    assert len(rec.sizes) < 15  # items from different requests were batched together
    await b.close()


async def test_a_lone_item_waits_at_most_about_max_wait() -> None:
    b = make(Recorder(), max_wait_s=0.05)
    b.start()
    started = time.monotonic()
    await b.submit([np.zeros(1)], deadline=far())
    assert time.monotonic() - started < 1.0
    await b.close()


async def test_full_queue_is_refused_at_once_with_retry_after() -> None:
    gate = threading.Event()
    b = make(Recorder(gate=gate), queue_max=3, max_batch=1, max_wait_s=0)
    b.start()
    first = asyncio.create_task(b.submit([np.zeros(1)], deadline=far()))
    await asyncio.sleep(0.05)  # first item is now inside run_batch, blocked on the gate
    waiting = asyncio.create_task(b.submit([np.zeros(1)] * 3, deadline=far()))
    await asyncio.sleep(0.01)
    with pytest.raises(Overloaded) as info:
        await b.submit([np.zeros(1)], deadline=far())
    assert info.value.code == "queue_full" and info.value.headers["Retry-After"] == "1"
    gate.set()
    assert (await first).shape == (1, 1) and (await waiting).shape == (3, 1)
    await b.close()


async def test_items_past_their_deadline_are_dropped_before_inference() -> None:
    gate = threading.Event()
    rec = Recorder(gate=gate)
    b = make(rec, max_batch=1, max_wait_s=0)
    b.start()
    blocker = asyncio.create_task(b.submit([np.zeros(1)], deadline=far()))
    await asyncio.sleep(0.05)
    late = asyncio.create_task(b.submit([np.ones(1)], deadline=time.monotonic() + 0.01))
    await asyncio.sleep(0.05)
    gate.set()
    await blocker
    with pytest.raises(Overloaded) as info:
        await late
    assert info.value.code == "deadline_exceeded"
    assert rec.sizes == [1]  # the late item never reached the model
    await b.close()


async def test_cancelled_callers_cost_no_inference() -> None:
    gate = threading.Event()
    rec = Recorder(gate=gate)
    b = make(rec, max_batch=1, max_wait_s=0)
    b.start()
    blocker = asyncio.create_task(b.submit([np.zeros(1)], deadline=far()))
    await asyncio.sleep(0.05)
    abandoned = asyncio.create_task(b.submit([np.ones(1)] * 3, deadline=far()))
    await asyncio.sleep(0.01)
    abandoned.cancel()
    await asyncio.sleep(0.01)
    gate.set()
    await blocker
    await b.close()
    assert rec.sizes == [1]


async def test_close_drains_queued_work_and_then_refuses() -> None:
    b = make(Recorder(delay=0.01), max_batch=2)
    b.start()
    tasks = [asyncio.create_task(b.submit([np.full(1, i)], deadline=far())) for i in range(6)]
    await asyncio.sleep(0)
    await b.close()
    assert [float((await t)[0, 0]) for t in tasks] == [0, 2, 4, 6, 8, 10]
    with pytest.raises(Overloaded) as info:
        await b.submit([np.zeros(1)], deadline=far())
    assert info.value.code == "reloading"


async def test_a_failing_batch_fails_its_jobs_not_the_batcher() -> None:
    calls = {"n": 0}

    def flaky(payloads):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return np.stack(payloads)

    b = make(flaky, max_wait_s=0)
    b.start()
    with pytest.raises(RuntimeError, match="boom"):
        await b.submit([np.zeros(1)], deadline=far())
    assert (await b.submit([np.ones(1)], deadline=far())).tolist() == [[1.0]]
    await b.close()


async def test_metrics_record_batches_and_depth() -> None:
    metrics = Metrics()
    b = make(Recorder(), metrics=metrics)
    b.start()
    await b.submit([np.zeros(1)] * 3, deadline=far())
    await b.close()
    reg = metrics.registry
    assert reg.get_sample_value("nepcheck_batch_size_count", {"model": "t"}) >= 1
    assert reg.get_sample_value("nepcheck_queue_wait_seconds_count", {"model": "t"}) == 3
    assert reg.get_sample_value("nepcheck_queue_depth", {"model": "t"}) == 0


async def test_a_short_job_rides_in_the_next_batch_not_behind_a_long_one() -> None:
    batches: list[list[float]] = []

    def run(payloads: list[np.ndarray]) -> np.ndarray:
        time.sleep(0.01)
        batches.append([float(p[0]) for p in payloads])
        return np.stack(payloads)

    b = make(run, max_batch=4)
    b.start()
    long_job = asyncio.ensure_future(b.submit([np.full(1, 1.0)] * 40, deadline=far()))  # ten batches of work
    await asyncio.sleep(0.005)  # the long job is queued (and its first batch running) before the short one
    short = await b.submit([np.full(1, 2.0)], deadline=far())
    assert short.tolist() == [[2.0]]
    at = next(i for i, batch in enumerate(batches) if 2.0 in batch)
    assert at <= 1, batches  # in the first batch formed after it arrived
    assert (await long_job).shape == (40, 1)
    await b.close()


async def test_submitting_nothing_is_a_programming_error() -> None:
    b = make(Recorder())
    with pytest.raises(ValueError):
        await b.submit([], deadline=far())
