"""The server's EMF metrics: counted right, and exactly what the plan's SLO alarms and dashboard read.

The bridge runs on the real server's registry (the session's classifier server, real HTTP requests) with
each plan Deployment's environment; every alarm metric query and dashboard metric in the inference
namespace must be a metric it writes, with the same dimension names and values.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from inference_helpers import RunningServer
from inference_server.emf import DIMENSIONS, INFER_ENDPOINT, NAMESPACE, SLO_LATENCY_BOUNDS_MS, UNITS, EmfBridge
from inference_server.metrics import Metrics

from hybrid_ai_platform.config import SLO_LATENCY_TARGETS_MS
from tests.conftest import SHIPPED_STACKS, shipped_plan
from tests.plan_helpers import of_type


def _infer_body(shape: list[int] | None = None) -> dict[str, Any]:
    return {"inputs": [{"name": "INPUT0", "shape": shape or [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}


def test_slow_and_failed_requests_are_counted_per_interval() -> None:
    # GIVEN a registry with two infer requests (100 ms and 300 ms, one a 503) and a health check
    metrics = Metrics()
    lines: list[str] = []
    bridge = EmfBridge(metrics, "m", "c", 250, lines.append)
    for status, seconds in (("200", 0.1), ("503", 0.3)):
        metrics.requests.labels(INFER_ENDPOINT, "POST", status).inc()
        metrics.latency.labels(INFER_ENDPOINT).observe(seconds)
    metrics.requests.labels("/v2/health/ready", "GET", "200").inc()
    metrics.latency.labels("/v2/health/ready").observe(5.0)
    metrics.in_flight.set(3)
    # WHEN the interval is flushed
    doc = bridge.flush()
    # THEN only inference requests count, one failed, one slower than 250 ms; the latency distribution has both
    assert (doc["Requests"], doc["ServerErrors"], doc["SlowRequests"], doc["InFlight"]) == (2, 1, 1, 3)
    assert doc["Latency"] == {"Values": [100.0, 500.0], "Counts": [1.0, 1.0]}
    assert json.loads(lines[0]) == doc
    # AND the next interval starts from zero
    again = bridge.flush()
    assert (again["Requests"], again["ServerErrors"], again["SlowRequests"]) == (0, 0, 0)
    assert "Latency" not in again


def test_a_latency_target_between_buckets_is_refused() -> None:
    with pytest.raises(ValueError, match="not a latency bucket bound"):
        EmfBridge(Metrics(), "m", "c", 300, print)


def test_every_configurable_latency_target_is_a_bucket_bound() -> None:
    assert set(SLO_LATENCY_TARGETS_MS) <= set(SLO_LATENCY_BOUNDS_MS)


def _referenced(plan: Any) -> list[tuple[str, str, dict[str, str]]]:
    out = []
    for alarm in of_type(plan, "aws:cloudwatch/metricAlarm:MetricAlarm"):
        for query in alarm.inputs.get("metricQueries") or []:
            metric = query.get("metric")
            if metric and metric["namespace"] == NAMESPACE:
                out.append((metric["namespace"], metric["metricName"], metric["dimensions"]))
    (dashboard,) = of_type(plan, "aws:cloudwatch/dashboard:Dashboard")
    for widget in json.loads(dashboard.inputs["dashboardBody"])["widgets"]:
        for row in (widget.get("properties") or {}).get("metrics") or []:
            if row and row[0] == NAMESPACE:
                names = [p for p in row[2:] if not isinstance(p, dict)]
                out.append((row[0], row[1], dict(zip(names[::2], names[1::2], strict=True))))
    return out


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_slo_alarms_and_widgets_read_what_the_server_writes(stack: str, classifier_server: RunningServer) -> None:
    plan = shipped_plan(stack)
    referenced = _referenced(plan)
    deployments = [d for d in of_type(plan, "kubernetes:apps/v1:Deployment") if d.name.endswith("-deployment")]
    models = {m["name"] for m in plan.config["hybrid-ai-platform:inference"]["models"]}
    assert {d.name.removesuffix("-deployment") for d in deployments} >= models
    emitted: list[tuple[str, str, dict[str, str]]] = []
    for deployment in deployments:
        env = {e["name"]: e.get("value") for e in deployment.inputs["spec"]["template"]["spec"]["containers"][0]["env"]}
        if "METRICS_CLUSTER_NAME" not in env:
            continue
        # GIVEN the bridge configured as this Deployment configures it, on the real server's registry
        lines: list[str] = []
        bridge = EmfBridge(
            classifier_server.app.state.server.metrics,  # type: ignore[attr-defined]
            env["MODEL_NAME"],
            env["METRICS_CLUSTER_NAME"],
            float(env["SLO_LATENCY_TARGET_MS"]),
            lines.append,
        )
        # WHEN real requests are served (one good, one bad) and the interval is flushed
        httpx.post(f"{classifier_server.url}/v2/models/classifier/infer", json=_infer_body())
        httpx.post(f"{classifier_server.url}/v2/models/classifier/infer", json=_infer_body([4]))
        doc = json.loads(bridge.flush() and lines[-1])
        assert doc["Requests"] == 2
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Dimensions"] == [list(DIMENSIONS)]
        emitted.extend(
            (directive["Namespace"], m["Name"], {d: doc[d] for d in DIMENSIONS}) for m in directive["Metrics"]
        )
        assert {m["Name"] for m in directive["Metrics"]} == set(UNITS)
    # THEN every alarm query and widget metric in the namespace is one of them, exactly
    assert referenced
    for reference in referenced:
        assert reference in emitted, f"{stack}: {reference} matches nothing the server emits"
