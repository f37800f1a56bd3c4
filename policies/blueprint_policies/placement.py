"""Placement advisor: the monthly cost of a preprocessing function on Lambda or on the cluster.

Shared by ``blueprint advise`` / ``blueprint plan`` / ``blueprint diff`` and the advisory
``placement-cost`` policy (one implementation; policies never import components). Prices come
from ``data/prices.json`` (:func:`hybrid_ai_platform.policies.cost.price_table`). The formulas
(docs/placement.md, ``## Cost model``), with ``R`` requests per month, ``d`` the average duration
in seconds, ``m`` the memory in GB (MB / 1024), ``S = hours_per_month x 3600`` seconds, ``p`` the
peak-to-mean ratio:

* mean rate ``R / S`` requests per second; peak rate ``r_peak = p x R / S``;
* **Lambda on-demand**: ``R / 1e6 x request_price + R x d x m x gb_second_price``;
* **Lambda provisioned**: concurrency for the peak ``PC = ceil(r_peak x d)`` (at least 1), billed
  ``PC x m x S x provisioned_gb_second_price`` all month, plus the invocations at the lower
  duration price ``R x d x m x provisioned_duration_gb_second_price`` and the request charge;
* **cluster**: pods ``ceil(r_peak x d / (utilisation_target x pod_concurrency))`` (at least 1),
  nodes ``ceil(pods / pods_per_node)``, billed ``nodes x spot_hour x hours_per_month`` plus the fixed
  share ``fixed_node_share x on_demand_hour x hours_per_month``. It is a step function of ``R``:
  constant between the rates where the node count steps up.

The break-even rate is the lowest ``R`` where Lambda on-demand costs at least the cluster:
``min{R : a R >= C(R)}`` with ``a`` the on-demand cost of one request. With ``N`` nodes the cluster
carries up to ``R_N = N x pods_per_node x utilisation_target x pod_concurrency x S / (p x d)``
requests, so on the step ``(R_{N-1}, R_N]`` the line meets ``C_N = N x node_month + fixed`` at
``R = C_N / a``: the break-even is the first step where ``max(R_{N-1}, C_N / a) <= R_N``. None when
no step up to :data:`MAX_NODES` has one (Lambda stays cheaper).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .cost import FUNCTION_DEFAULT_DURATION_MS, FUNCTION_DEFAULT_REQUESTS, price_table

Placement = Literal["lambda", "lambda-provisioned", "cluster"]
PLACEMENTS: tuple[Placement, ...] = ("lambda", "lambda-provisioned", "cluster")
MAX_NODES = 10_000
"""The break-even search stops at this many nodes."""
DEFAULT_MEMORY_MB = 1024
DEFAULT_ARCHITECTURE = "arm64"
SECTION = "placement"
"""Key of the plan document section."""


class PlacementInputError(ValueError):
    """A usage value or measured file the advisor cannot use: the message names the field and the fix."""


@dataclass(frozen=True)
class ClusterAssumptions:
    """Cluster-side assumptions (the stack config's ``usage.cluster``); defaults as documented there."""

    node_type: str = "m7i.large"
    pods_per_node: int = 2
    pod_concurrency: int = 1
    utilisation_target: float = 0.7
    fixed_node_share: float = 0.1
    spot_price_per_hour: float | None = None


@dataclass(frozen=True)
class FunctionProfile:
    """One function's usage: requests per month, duration, memory, architecture and burst shape."""

    name: str
    requests_per_month: float = FUNCTION_DEFAULT_REQUESTS
    duration_ms: float = FUNCTION_DEFAULT_DURATION_MS
    memory_mb: float = DEFAULT_MEMORY_MB
    architecture: str = DEFAULT_ARCHITECTURE
    peak_to_mean: float = 1.0
    placement: str = "lambda"
    """The current placement from the stack config (``lambda``, ``cluster`` or ``auto``)."""
    calibrated_from: tuple[str, ...] = ()
    """Measured files applied (see :func:`calibrate`)."""


@dataclass(frozen=True)
class Prices:
    """The prices the advisor uses, for one region and architecture."""

    hours_per_month: float
    request_million: float
    gb_second: float
    provisioned_gb_second: float
    provisioned_duration_gb_second: float
    spot_hour: float
    on_demand_hour: float

    @property
    def seconds_per_month(self) -> float:
        """``hours_per_month x 3600``."""
        return self.hours_per_month * 3600


def prices_for(region: str, architecture: str, cluster: ClusterAssumptions) -> Prices:
    """The advisor's prices from the price table (``us-east-1`` for a region not in it)."""
    table = price_table()
    region_prices = table["regions"].get(region) or table["regions"]["us-east-1"]
    arch = "arm64" if architecture == "arm64" else "x86_64"
    on_demand = region_prices["ec2_hour"].get(cluster.node_type)
    if on_demand is None:
        raise PlacementInputError(
            f"usage.cluster.node_type: '{cluster.node_type}' has no price in policies/blueprint_policies/data/"
            f"prices.json for {region}; use one of {', '.join(sorted(region_prices['ec2_hour']))}"
        )
    spot = cluster.spot_price_per_hour
    if spot is None:
        spot = float(on_demand) * float(region_prices["ec2_spot_fraction_of_on_demand"])
    return Prices(
        hours_per_month=float(table["hours_per_month"]),
        request_million=float(region_prices["lambda_requests_million"]),
        gb_second=float(region_prices[f"lambda_gb_second_{arch}"]),
        provisioned_gb_second=float(region_prices[f"lambda_provisioned_gb_second_{arch}"]),
        provisioned_duration_gb_second=float(region_prices[f"lambda_provisioned_duration_gb_second_{arch}"]),
        spot_hour=float(spot),
        on_demand_hour=float(on_demand),
    )


# --------------------------------------------------------------------------- formulas


def peak_rate(fn: FunctionProfile, prices: Prices) -> float:
    """Requests per second at the peak: ``peak_to_mean x R / S``."""
    return fn.peak_to_mean * fn.requests_per_month / prices.seconds_per_month


def lambda_cost_per_request(fn: FunctionProfile, prices: Prices) -> float:
    """``a``: the on-demand cost of one request (request charge plus its GB-seconds)."""
    return prices.request_million / 1e6 + fn.duration_ms / 1000 * fn.memory_mb / 1024 * prices.gb_second


def lambda_on_demand(fn: FunctionProfile, prices: Prices) -> float:
    """``R / 1e6 x request_price + R x d x m x gb_second_price``."""
    return fn.requests_per_month * lambda_cost_per_request(fn, prices)


def provisioned_concurrency(fn: FunctionProfile, prices: Prices) -> int:
    """``ceil(r_peak x d)``, at least 1."""
    return max(1, math.ceil(peak_rate(fn, prices) * fn.duration_ms / 1000 - 1e-9))


def lambda_provisioned(fn: FunctionProfile, prices: Prices) -> float:
    """Provisioned concurrency for the peak all month plus invocations at the provisioned duration price."""
    memory_gb = fn.memory_mb / 1024
    standing = provisioned_concurrency(fn, prices) * memory_gb * prices.seconds_per_month * prices.provisioned_gb_second
    invoked = fn.requests_per_month * fn.duration_ms / 1000 * memory_gb * prices.provisioned_duration_gb_second
    return standing + invoked + fn.requests_per_month / 1e6 * prices.request_million


def cluster_pods(fn: FunctionProfile, cluster: ClusterAssumptions, prices: Prices) -> int:
    """``ceil(r_peak x d / (utilisation_target x pod_concurrency))``, at least 1."""
    busy = peak_rate(fn, prices) * fn.duration_ms / 1000
    return max(1, math.ceil(busy / (cluster.utilisation_target * cluster.pod_concurrency) - 1e-9))


def cluster_nodes(fn: FunctionProfile, cluster: ClusterAssumptions, prices: Prices) -> int:
    """``ceil(pods / pods_per_node)``."""
    return math.ceil(cluster_pods(fn, cluster, prices) / cluster.pods_per_node)


def cluster_fixed(cluster: ClusterAssumptions, prices: Prices) -> float:
    """``fixed_node_share x on_demand_hour x hours_per_month``."""
    return cluster.fixed_node_share * prices.on_demand_hour * prices.hours_per_month


def cluster_cost(fn: FunctionProfile, cluster: ClusterAssumptions, prices: Prices) -> float:
    """``nodes x spot_hour x hours_per_month + fixed``."""
    return cluster_nodes(fn, cluster, prices) * prices.spot_hour * prices.hours_per_month + cluster_fixed(
        cluster, prices
    )


def requests_per_node(fn: FunctionProfile, cluster: ClusterAssumptions, prices: Prices) -> float:
    """Requests per month one node carries at the target: ``pods_per_node x u x c x S / (p x d)``."""
    per_pod = cluster.utilisation_target * cluster.pod_concurrency * prices.seconds_per_month
    return cluster.pods_per_node * per_pod / (fn.peak_to_mean * fn.duration_ms / 1000)


def break_even(fn: FunctionProfile, cluster: ClusterAssumptions, prices: Prices) -> float | None:
    """Requests per month where Lambda on-demand first costs at least the cluster (module docstring)."""
    a = lambda_cost_per_request(fn, prices)
    node_month = prices.spot_hour * prices.hours_per_month
    fixed = cluster_fixed(cluster, prices)
    step = requests_per_node(fn, cluster, prices)
    if a <= 0:
        return None
    for nodes in range(1, MAX_NODES + 1):
        low, high = (nodes - 1) * step, nodes * step
        candidate = max(low, (nodes * node_month + fixed) / a)
        if candidate <= high:
            return candidate
        if a * step <= node_month and candidate > high:
            # each further node costs at least what Lambda charges for its capacity: the gap never closes
            return None
    return None


def costs(fn: FunctionProfile, cluster: ClusterAssumptions, prices: Prices) -> dict[Placement, float]:
    """Monthly cost per placement."""
    return {
        "lambda": lambda_on_demand(fn, prices),
        "lambda-provisioned": lambda_provisioned(fn, prices),
        "cluster": cluster_cost(fn, cluster, prices),
    }


def current_placement(placement: str) -> Placement:
    """The priced placement of a config value (``auto`` and unknown values are Lambda on-demand)."""
    return "cluster" if placement == "cluster" else "lambda"


@dataclass
class Advice:
    """The advisor's result for one function."""

    function: FunctionProfile
    cluster: ClusterAssumptions
    prices: Prices
    monthly: dict[Placement, float] = field(default_factory=dict)
    break_even_requests: float | None = None

    @property
    def current(self) -> Placement:
        """The current placement (priced)."""
        return current_placement(self.function.placement)

    @property
    def cheapest(self) -> Placement:
        """The cheapest placement (ties: the order of :data:`PLACEMENTS`)."""
        return min(PLACEMENTS, key=lambda p: (round(self.monthly[p], 6), PLACEMENTS.index(p)))

    @property
    def overspend_percent(self) -> float:
        """How much costlier the current placement is than the cheapest, in percent (0 when cheapest)."""
        best = self.monthly[self.cheapest]
        current = self.monthly[self.current]
        if best <= 0:
            return 0.0 if current <= 0 else math.inf
        return (current - best) / best * 100

    def side_of_break_even(self) -> str:
        """``cluster`` when the cluster is cheaper than Lambda on-demand at the function's rate, else ``lambda``."""
        return "cluster" if self.monthly["cluster"] < self.monthly["lambda"] else "lambda"

    def curve(self, points: int = 11, top: float | None = None) -> list[dict[str, float]]:
        """Monthly cost per placement at ``points`` request rates from 0 to ``top`` (defaults to twice the
        larger of the current rate and the break-even rate)."""
        top = top or 2 * max(self.function.requests_per_month, self.break_even_requests or 0, 1.0)
        rows: list[dict[str, float]] = []
        for i in range(points):
            requests = top * i / (points - 1)
            row: dict[str, float] = {"requests_per_month": requests}
            for placement, monthly in costs(
                replace(self.function, requests_per_month=requests), self.cluster, self.prices
            ).items():
                row[placement] = monthly
            rows.append(row)
        return rows

    def to_json(self) -> dict[str, Any]:
        """The function's entry of the ``placement`` section."""
        fn = self.function
        return {
            "function": fn.name,
            "usage": {
                "requests_per_month": fn.requests_per_month,
                "duration_ms": fn.duration_ms,
                "memory_mb": fn.memory_mb,
                "architecture": fn.architecture,
                "peak_to_mean": fn.peak_to_mean,
            },
            "calibrated_from": list(fn.calibrated_from),
            "current": {"placement": self.current, "monthly": round(self.monthly[self.current], 2)},
            "cheapest": {"placement": self.cheapest, "monthly": round(self.monthly[self.cheapest], 2)},
            "monthly": {p: round(v, 2) for p, v in self.monthly.items()},
            "overspend_percent": None if math.isinf(self.overspend_percent) else round(self.overspend_percent, 1),
            "break_even_requests_per_month": None
            if self.break_even_requests is None
            else round(self.break_even_requests),
            "cluster": {
                "node_type": self.cluster.node_type,
                "nodes": cluster_nodes(fn, self.cluster, self.prices),
                "pods": cluster_pods(fn, self.cluster, self.prices),
                "spot_hour": round(self.prices.spot_hour, 6),
            },
            "provisioned_concurrency": provisioned_concurrency(fn, self.prices),
        }


def advise_function(fn: FunctionProfile, cluster: ClusterAssumptions, region: str) -> Advice:
    """Price one function in every placement and solve its break-even rate."""
    prices = prices_for(region, fn.architecture, cluster)
    return Advice(fn, cluster, prices, costs(fn, cluster, prices), break_even(fn, cluster, prices))


# --------------------------------------------------------------------------- plan documents


def _peak_to_mean(entry: Mapping[str, Any], where: str) -> float:
    profile = entry.get("hourly_profile")
    if profile:
        values = [float(v) for v in profile]
        mean = sum(values) / len(values)
        if mean <= 0:
            raise PlacementInputError(f"{where}.hourly_profile: all 24 weights are 0; give the relative traffic")
        return max(values) / mean
    return float(entry.get("peak_to_mean", 1.0))


def cluster_assumptions(usage: Mapping[str, Any]) -> ClusterAssumptions:
    """``usage.cluster`` of a raw stack config as :class:`ClusterAssumptions` (defaults filled in)."""
    raw = usage.get("cluster") or {}
    defaults = ClusterAssumptions()
    return ClusterAssumptions(
        node_type=str(raw.get("node_type", defaults.node_type)),
        pods_per_node=int(raw.get("pods_per_node", defaults.pods_per_node)),
        pod_concurrency=int(raw.get("pod_concurrency", defaults.pod_concurrency)),
        utilisation_target=float(raw.get("utilisation_target", defaults.utilisation_target)),
        fixed_node_share=float(raw.get("fixed_node_share", defaults.fixed_node_share)),
        spot_price_per_hour=None if raw.get("spot_price_per_hour") is None else float(raw["spot_price_per_hour"]),
    )


def profiles_from_config(config: Mapping[str, Any], project: str) -> list[FunctionProfile]:
    """The preprocessing functions of a plan document's raw ``config`` with their usage."""
    functions = (config.get(f"{project}:preprocessing") or {}).get("functions") or []
    usage = (config.get(f"{project}:usage") or {}).get("functions") or {}
    profiles = []
    for fn in functions:
        if not isinstance(fn, Mapping) or not fn.get("name"):
            continue
        name = str(fn["name"])
        entry = usage.get(name) or {}
        profiles.append(
            FunctionProfile(
                name=name,
                requests_per_month=float(entry.get("requests_per_month", FUNCTION_DEFAULT_REQUESTS)),
                duration_ms=float(entry.get("average_duration_ms", FUNCTION_DEFAULT_DURATION_MS)),
                memory_mb=float(fn.get("memory_mb", DEFAULT_MEMORY_MB)),
                architecture=str(fn.get("architecture", DEFAULT_ARCHITECTURE)),
                peak_to_mean=_peak_to_mean(entry, f"usage.functions.{name}"),
                placement=str(fn.get("placement", "lambda")),
            )
        )
    return profiles


def advise(
    document: Mapping[str, Any], measured: Mapping[str, Sequence[tuple[str, Any]]] | None = None
) -> dict[str, Any]:
    """The ``placement`` section of a plan document: one entry per preprocessing function.

    ``measured`` maps a function name to ``(label, parsed JSON)`` pairs applied with :func:`calibrate`.
    """
    config = document.get("config") or {}
    return {
        "region": str(config.get("aws:region") or "us-east-1"),
        "currency": price_table()["currency"],
        "functions": [advice.to_json() for advice in advice_objects(document, measured)],
    }


def advice_objects(
    document: Mapping[str, Any], measured: Mapping[str, Sequence[tuple[str, Any]]] | None = None
) -> list[Advice]:
    """The advice of :func:`advise`, as :class:`Advice` objects (for tables and charts)."""
    config = document.get("config") or {}
    project = str(document.get("project") or "hybrid-ai-platform")
    region = str(config.get("aws:region") or "us-east-1")
    cluster = cluster_assumptions(config.get(f"{project}:usage") or {})
    result = []
    for fn in profiles_from_config(config, project):
        for label, data in (measured or {}).get(fn.name, ()):
            fn = calibrate(fn, data, label)
        result.append(advise_function(fn, cluster, region))
    return result


# --------------------------------------------------------------------------- calibration


def calibrate(fn: FunctionProfile, data: Any, label: str) -> FunctionProfile:
    """``fn`` with the figures of a measured file.

    * AWS Lambda Power Tuning's output (https://github.com/alexcasalboni/aws-lambda-power-tuning,
      README-INPUT-OUTPUT.md "State Machine Output": ``{"results": {"power", "cost", "duration", ...}}``;
      the bare ``results`` object is accepted too): the memory becomes ``power`` and the duration
      ``duration`` (ms, average per invocation).
    * A CloudWatch ``GetMetricData`` response (``aws cloudwatch get-metric-data`` output,
      https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html:
      ``MetricDataResults[]`` with ``Label``/``Id``, ``Timestamps``, ``Values``) with an ``Invocations``
      series (Sum per period) and a ``Duration`` series (Average per period): requests per month are the
      invocations scaled from the covered periods to the month, the duration the invocation-weighted
      average, and the peak-to-mean ratio the busiest period over the mean period.
    """
    if isinstance(data, Mapping) and ("results" in data or "power" in data):
        results = data.get("results", data)
        try:
            power = float(results["power"])
            duration = float(results["duration"])
        except (KeyError, TypeError, ValueError):
            raise PlacementInputError(
                f"{label}: not AWS Lambda Power Tuning output: results.power and results.duration are required"
            ) from None
        if power < 128 or duration <= 0:
            raise PlacementInputError(f"{label}: results.power must be >= 128 MB and results.duration > 0 ms")
        return replace(fn, memory_mb=power, duration_ms=duration, calibrated_from=(*fn.calibrated_from, label))
    if isinstance(data, Mapping) and "MetricDataResults" in data:
        return _calibrate_cloudwatch(fn, data, label)
    raise PlacementInputError(
        f"{label}: neither AWS Lambda Power Tuning output (results.power/duration) nor a CloudWatch "
        "GetMetricData response (MetricDataResults); export one of those"
    )


def _series(data: Mapping[str, Any], name: str, label: str) -> list[tuple[str, float]]:
    for result in data.get("MetricDataResults") or []:
        if not isinstance(result, Mapping):
            continue
        if name.lower() in (str(result.get("Label", "")).lower(), str(result.get("Id", "")).lower()):
            stamps, values = result.get("Timestamps") or [], result.get("Values") or []
            if len(stamps) != len(values):
                raise PlacementInputError(f"{label}: {name}: Timestamps and Values differ in length")
            return sorted(zip((str(s) for s in stamps), (float(v) for v in values), strict=True))
    raise PlacementInputError(
        f"{label}: no '{name}' series in MetricDataResults; query Invocations (Sum) and Duration (Average) "
        "with Id or Label 'invocations' / 'duration'"
    )


def _calibrate_cloudwatch(fn: FunctionProfile, data: Mapping[str, Any], label: str) -> FunctionProfile:
    from datetime import datetime

    invocations = _series(data, "Invocations", label)
    durations = dict(_series(data, "Duration", label))
    if len(invocations) < 2:
        raise PlacementInputError(f"{label}: Invocations needs at least two periods to infer the period length")
    try:
        times = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t, _ in invocations]
    except ValueError:
        raise PlacementInputError(f"{label}: Timestamps must be ISO 8601 (as the AWS CLI prints them)") from None
    period = min((b - a).total_seconds() for a, b in itertools.pairwise(times))
    if period <= 0:
        raise PlacementInputError(f"{label}: Timestamps repeat; export one value per period")
    total = sum(v for _, v in invocations)
    if total <= 0:
        raise PlacementInputError(f"{label}: no invocations in the export; export a busier period")
    seconds_per_month = float(price_table()["hours_per_month"]) * 3600
    covered = period * len(invocations)
    weighted = sum(v * durations[t] for t, v in invocations if t in durations)
    counted = sum(v for t, v in invocations if t in durations)
    duration = weighted / counted if counted else fn.duration_ms
    mean = total / len(invocations)
    return replace(
        fn,
        requests_per_month=total * seconds_per_month / covered,
        duration_ms=duration,
        peak_to_mean=max(1.0, max(v for _, v in invocations) / mean),
        calibrated_from=(*fn.calibrated_from, label),
    )
