"""Timing helpers every suite shares: percentiles of latencies and timed repeated calls.

Kept free of torch and of the training package, so `nepcheck bench engine` and `bench http` run on a service-only
install; the PyTorch comparison imports torch only where it is asked for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50, p95, p99, mean and count of latencies in ms; an empty list gives NaN-free zeros with n = 0."""
    if not len(samples_ms):
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "mean": 0.0, "n": 0}
    a = np.asarray(samples_ms, dtype=np.float64)
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99)), "mean": float(a.mean()), "n": int(a.size)}


def time_calls(call: Callable[[], object], *, runs: int, warmup: int = 2, budget_s: float | None = None,
               min_runs: int = 3) -> dict[str, float]:
    """Latency percentiles of `call` over `runs` timed calls after `warmup` untimed ones.

    With `budget_s`, warm-up stops after the first call once half the budget is spent, and timing stops once the
    budget is spent (but never before `min_runs` calls), so a batch-64 row costs about as long as a batch-1 row
    instead of 64 times longer.
    """
    warm_started = time.perf_counter()
    for _ in range(warmup):
        call()
        if budget_s is not None and time.perf_counter() - warm_started > budget_s / 2:
            break  # one slow call (a batch of 64) already warmed the caches; more would only cost time
    times: list[float] = []
    started_all = time.perf_counter()
    for _ in range(max(runs, 1)):
        started = time.perf_counter()
        call()
        times.append(1000.0 * (time.perf_counter() - started))
        if budget_s is not None and len(times) >= min_runs and time.perf_counter() - started_all > budget_s:
            break
    return percentiles(times)
