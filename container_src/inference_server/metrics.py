"""Prometheus metrics, kept in a per-application registry (so several servers can share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    """All server metrics. Names are prefixed ``inference_``; ``/metrics`` exposes ``registry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "inference_requests",
            "HTTP requests by endpoint (route template) and status code.",
            ["endpoint", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "inference_request_duration_seconds",
            "HTTP request latency by endpoint (route template).",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.compute = Histogram(
            "inference_compute_duration_seconds",
            "Time spent in ONNX Runtime per session run (one run serves a whole batch).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "inference_batch_size",
            "Rows (dim 0) per ONNX Runtime session run; >1 means requests were batched.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.batch_requests = Histogram(
            "inference_batch_requests",
            "Requests combined into one ONNX Runtime session run.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge("inference_queue_depth", "Requests waiting in the dynamic-batching queue.", registry=r)
        self.in_flight = Gauge("inference_requests_in_flight", "Inference requests being served.", registry=r)
        self.model_ready = Gauge("inference_model_ready", "1 when the model is loaded and ready.", registry=r)
        self.load_seconds = Gauge(
            "inference_model_load_seconds",
            "Seconds the last successful model load took (download + verification + session creation).",
            registry=r,
        )
        self.load_failures = Counter(
            "inference_model_load_failures", "Failed model load attempts.", ["reason"], registry=r
        )
        self.provider = Info(
            "inference_execution_provider",
            "ONNX Runtime execution provider actually used by the loaded model.",
            registry=r,
        )
