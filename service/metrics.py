"""Prometheus metrics, on a registry of the app's own so that several apps (tests, reloads) never collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "nepcheck_requests_total", "HTTP requests by route and status", ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "nepcheck_request_duration_seconds", "HTTP request latency", ["route"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.queue_wait = Histogram(
            "nepcheck_queue_wait_seconds", "time a window or text chunk waited for a batch", ["model"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.batch_size = Histogram(
            "nepcheck_batch_size", "items per inference batch", ["model"], buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.inference = Histogram(
            "nepcheck_inference_seconds", "ONNX Runtime time per batch", ["model"], buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "nepcheck_queue_depth", "items waiting for a batch", ["model"], registry=self.registry
        )
        self.rejections = Counter(
            "nepcheck_rejections_total", "work refused or dropped, by reason", ["reason"], registry=self.registry
        )
        self.streams = Gauge("nepcheck_active_streams", "open WebSocket streams", registry=self.registry)
