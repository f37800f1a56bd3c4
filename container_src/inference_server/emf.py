"""CloudWatch embedded metric format (EMF) from the server's own Prometheus registry.

Every ``EMF_FLUSH_INTERVAL_S`` (60 s) the bridge reads the registry of :class:`inference_server.metrics.Metrics`
and writes one EMF document for the interval: namespace ``HybridAiPlatform/Inference``, dimensions
``ClusterName`` (``METRICS_CLUSTER_NAME``) and ``Model`` (``MODEL_NAME``), metrics

- ``Requests``, ``ServerErrors`` (5xx) and ``SlowRequests`` (slower than ``SLO_LATENCY_TARGET_MS``) of the
  inference endpoint, counted in the interval: the SLOs' good and bad events;
- ``Latency`` (ms) and ``BatchSize``, as EMF value/count distributions built from the histograms' bucket
  counts (each observation at its bucket's upper bound: percentiles are upper bounds);
- ``InFlight`` and ``QueueDepth``: the gauges' current values (KEDA scales on ``InFlight``).

Why not the CloudWatch agent's Prometheus scraping: the agent drops histogram metrics
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/ContainerInsights-Prometheus-metrics-conversion.html),
so latency would never reach CloudWatch. ``SLO_LATENCY_TARGET_MS`` must be a bucket bound of the latency
histogram, so the slow count is exact. Documents go to the CloudWatch agent's EMF listener
(``AWS_EMF_AGENT_ENDPOINT``, ``tcp://host:port``), or to stdout when it is unset. Without
``METRICS_CLUSTER_NAME`` no bridge runs (local runs and tests).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlparse

from inference_server.metrics import LATENCY_BUCKETS, Metrics

LOG = logging.getLogger(__name__)
NAMESPACE = "HybridAiPlatform/Inference"
INFER_ENDPOINT = "/v2/models/{model}/infer"
"""The route template (``endpoint`` label) whose requests the SLOs count."""
DIMENSIONS = ("ClusterName", "Model")
UNITS = {
    "Requests": "Count",
    "ServerErrors": "Count",
    "SlowRequests": "Count",
    "Latency": "Milliseconds",
    "InFlight": "Count",
    "QueueDepth": "Count",
    "BatchSize": "Count",
}
"""Every metric the bridge writes, with its unit."""
SLO_LATENCY_BOUNDS_MS = tuple(round(bound * 1000, 3) for bound in LATENCY_BUCKETS)
"""The latency targets the slow count is exact for: the latency histogram's bucket bounds, in ms."""

Sink = Callable[[str], None]


def _samples(metrics: Metrics) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return out


def _buckets(samples: list[tuple[dict[str, str], float]], **match: str) -> dict[float, float]:
    """Cumulative bucket counts by upper bound (``+Inf`` as infinity) of the samples matching ``match``."""
    out: dict[float, float] = {}
    for labels, value in samples:
        if all(labels.get(k) == v for k, v in match.items()):
            bound = float(labels["le"])
            out[bound] = out.get(bound, 0.0) + value
    return out


def _distribution(cumulative: Mapping[float, float], scale: float) -> dict[str, list[float]]:
    """EMF ``{"Values": [...], "Counts": [...]}`` from cumulative bucket deltas (values at bucket upper bounds)."""
    values, counts = [], []
    previous = 0.0
    finite = [b for b in sorted(cumulative) if b != float("inf")]
    for bound in sorted(cumulative):
        in_bucket = cumulative[bound] - previous
        previous = cumulative[bound]
        if in_bucket > 0:
            shown = bound if bound != float("inf") else (finite[-1] if finite else 0.0)
            values.append(round(shown * scale, 6))
            counts.append(in_bucket)
    return {"Values": values, "Counts": counts}


class EmfBridge:
    """Turns the registry's counters and histograms into per-interval EMF documents."""

    def __init__(self, metrics: Metrics, model: str, cluster: str, slo_latency_target_ms: float, sink: Sink) -> None:
        if round(slo_latency_target_ms, 3) not in SLO_LATENCY_BOUNDS_MS:
            raise ValueError(
                f"SLO_LATENCY_TARGET_MS={slo_latency_target_ms:g} is not a latency bucket bound "
                f"{SLO_LATENCY_BOUNDS_MS}; slow requests could not be counted exactly"
            )
        self.metrics, self.model, self.cluster, self.sink = metrics, model, cluster, sink
        self.slow_after_s = slo_latency_target_ms / 1000
        self._last = self._read()

    def _read(self) -> dict[str, Any]:
        samples = _samples(self.metrics)
        requests = [
            (labels, v)
            for labels, v in samples.get("inference_requests_total", [])
            if labels.get("endpoint") == INFER_ENDPOINT
        ]
        latency = _buckets(samples.get("inference_request_duration_seconds_bucket", []), endpoint=INFER_ENDPOINT)
        return {
            "requests": sum(v for _, v in requests),
            "errors": sum(v for labels, v in requests if labels.get("status", "").startswith("5")),
            "latency": latency,
            "batch": _buckets(samples.get("inference_batch_size_bucket", [])),
            "in_flight": sum(v for _, v in samples.get("inference_requests_in_flight", [])),
            "queue_depth": sum(v for _, v in samples.get("inference_queue_depth", [])),
        }

    def document(self, timestamp_ms: int | None = None) -> dict[str, Any]:
        """The EMF document of the interval since the previous call (the first interval starts at construction)."""
        now, last = self._read(), self._last
        self._last = now
        latency = {b: now["latency"].get(b, 0.0) - last["latency"].get(b, 0.0) for b in now["latency"]}
        batch = {b: now["batch"].get(b, 0.0) - last["batch"].get(b, 0.0) for b in now["batch"]}
        requests = now["requests"] - last["requests"]
        fast = latency.get(self.slow_after_s, 0.0)
        values: dict[str, Any] = {
            "Requests": requests,
            "ServerErrors": now["errors"] - last["errors"],
            "SlowRequests": max(requests - fast, 0.0) if latency else 0.0,
            "Latency": _distribution(latency, 1000.0),
            "InFlight": now["in_flight"],
            "QueueDepth": now["queue_depth"],
            "BatchSize": _distribution(batch, 1.0),
        }
        metrics = [name for name in UNITS if not (isinstance(values[name], dict) and not values[name]["Values"])]
        return {
            "_aws": {
                "Timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": NAMESPACE,
                        "Dimensions": [list(DIMENSIONS)],
                        "Metrics": [{"Name": name, "Unit": UNITS[name]} for name in metrics],
                    }
                ],
            },
            "ClusterName": self.cluster,
            "Model": self.model,
            **{name: values[name] for name in metrics},
        }

    def flush(self) -> dict[str, Any]:
        """Write the interval's document to the sink and return it."""
        doc = self.document()
        self.sink(json.dumps(doc, separators=(",", ":")))
        return doc


def stdout_sink(line: str) -> None:
    """Write one EMF document per line to stdout."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def agent_sink(endpoint: str) -> Sink:
    """Send each document, newline-terminated, to the CloudWatch agent's EMF listener (``tcp://host:port``)."""
    parsed = urlparse(endpoint)
    if parsed.scheme != "tcp" or not parsed.hostname or not parsed.port:
        raise ValueError(f"AWS_EMF_AGENT_ENDPOINT={endpoint!r} is not tcp://host:port")
    address = (parsed.hostname, parsed.port)

    def send(line: str) -> None:
        try:
            with socket.create_connection(address, timeout=5) as connection:
                connection.sendall((line + "\n").encode())
        except OSError as exc:  # metrics must never take the server down
            LOG.warning("EMF document not delivered to %s: %s", endpoint, exc)

    return send


def start_from_env(metrics: Metrics, environ: Mapping[str, str] | None = None) -> Callable[[], None] | None:
    """Start the bridge thread when ``METRICS_CLUSTER_NAME`` is set; return a function that stops it (and
    flushes the last interval), or None when no bridge runs."""
    env = os.environ if environ is None else environ
    cluster = env.get("METRICS_CLUSTER_NAME")
    if not cluster:
        return None
    endpoint = env.get("AWS_EMF_AGENT_ENDPOINT")
    bridge = EmfBridge(
        metrics,
        model=env.get("MODEL_NAME", "unknown"),
        cluster=cluster,
        slo_latency_target_ms=float(env.get("SLO_LATENCY_TARGET_MS", "250")),
        sink=agent_sink(endpoint) if endpoint else stdout_sink,
    )
    interval = float(env.get("EMF_FLUSH_INTERVAL_S", "60"))
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            bridge.flush()

    thread = threading.Thread(target=loop, name="emf-bridge", daemon=True)
    thread.start()

    def shutdown() -> None:
        stop.set()
        thread.join(timeout=5)
        bridge.flush()

    return shutdown
