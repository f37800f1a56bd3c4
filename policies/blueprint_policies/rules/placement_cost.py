"""A Lambda function is not much costlier than its cheapest placement (advisory; docs/placement.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.cost import _lookup
from hybrid_ai_platform.policies.framework import Meta, ResourcePolicy
from hybrid_ai_platform.policies.placement import (
    FunctionProfile,
    PlacementInputError,
    advise_function,
    cluster_assumptions,
)
from hybrid_ai_platform.policies.placement import _peak_to_mean as peak_to_mean
from hybrid_ai_platform.policies.props import get
from pulumi_policy import ResourceValidationArgs, Severity

from hybrid_ai_platform.contracts import USAGE_SCHEMA

META = Meta(
    id="BP-BUD-008",
    name="placement-cost",
    description="A preprocessing Lambda function costs at most the threshold above its cheapest placement "
    "(Lambda on-demand, provisioned concurrency, or pods on the cluster's spot CPU nodes).",
    severity=Severity.LOW,
    category="budget",
    resource_types=("aws:lambda/function:Function",),
    remediation="Run `blueprint advise --stack <stack>` for the figures and the break-even rate; move the function "
    "to the cheaper placement (`placement` of the function in the stack's preprocessing config), correct its "
    "`usage` figures (calibrate with `--measured`), or raise `usage.placement_threshold_percent`.",
    config={
        "usage": USAGE_SCHEMA,
    },
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Price the function in every placement and report when Lambda on-demand is above the threshold."""
    usage = config.get("usage") or {}
    name = str(get(args.props, "name", "") or args.name)
    entry = _lookup(usage.get("functions") or {}, args.name, name) or {}
    architectures = get(args.props, "architectures", None) or ["x86_64"]
    fn = FunctionProfile(
        name=args.name,
        requests_per_month=float(entry.get("requests_per_month", 100_000)),
        duration_ms=float(entry.get("average_duration_ms", 2_000)),
        memory_mb=float(get(args.props, "memorySize", 128) or 128),
        architecture="arm64" if "arm64" in architectures else "x86_64",
        peak_to_mean=peak_to_mean(entry, "usage.functions"),
    )
    provider = getattr(args, "provider", None)
    region = get(args.props, "region", None) or (get(provider.props, "region", None) if provider else None)
    try:
        advice = advise_function(fn, cluster_assumptions(usage), str(region or "us-east-1"))
    except PlacementInputError as exc:
        report(f"function '{args.name}' cannot be priced: {exc}")
        return
    threshold = float(usage.get("placement_threshold_percent", 20))
    over = advice.overspend_percent
    if advice.cheapest != "lambda" and over > threshold:
        report(
            f"function '{args.name}' costs ${advice.monthly['lambda']:,.2f}/month on Lambda, {over:.0f}% more than "
            f"{advice.cheapest} at ${advice.monthly[advice.cheapest]:,.2f}/month (threshold {threshold:g}%)"
        )


POLICY = ResourcePolicy(META, check)
