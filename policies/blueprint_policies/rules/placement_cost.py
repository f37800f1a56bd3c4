"""A preprocessing function is not much costlier than its cheapest placement (advisory; docs/placement.md).

Judged where it runs: a Lambda function (``placement: lambda`` or ``auto``, priced as Lambda on-demand) and a
cluster worker Deployment (``placement: cluster``: label ``app.kubernetes.io/component: preprocessing-worker``,
the function's name in ``app.kubernetes.io/name``, its memory in the container's memory request). A worker's
Lambda alternative is priced at x86_64 (the Deployment does not carry the function's Lambda architecture):
arm64 would be 20% cheaper, so the policy may miss a worker that arm64 Lambda would undercut by a little, and
never reports one that Lambda does not undercut (``blueprint advise`` prices the configured architecture)."""

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

from hybrid_ai_platform.contracts import (
    USAGE_DEFAULT_FUNCTION_DURATION_MS,
    USAGE_DEFAULT_FUNCTION_REQUESTS,
    USAGE_DEFAULT_PLACEMENT_THRESHOLD_PERCENT,
    USAGE_SCHEMA,
    memory_mib,
)

WORKER_TYPE = "kubernetes:apps/v1:Deployment"
WORKER_COMPONENT = "preprocessing-worker"
"""``app.kubernetes.io/component`` of a preprocessing function's cluster worker (components/preprocessing_worker.py)."""

META = Meta(
    id="BP-BUD-008",
    name="placement-cost",
    description="A preprocessing function (its Lambda function, or its cluster worker) costs at most the threshold "
    "above its cheapest placement (Lambda on-demand, provisioned concurrency, or pods on the cluster's spot CPU "
    "nodes).",
    severity=Severity.LOW,
    category="budget",
    resource_types=("aws:lambda/function:Function", WORKER_TYPE),
    remediation="Run `blueprint advise --stack <stack>` for the figures and the break-even rate; move the function "
    "to the cheaper placement (`placement` of the function in the stack's preprocessing config), correct its "
    "`usage` figures (calibrate with `--measured`), or raise `usage.placement_threshold_percent`.",
    config={
        "usage": USAGE_SCHEMA,
    },
)


def _memory_mib(quantity: Any) -> float | None:
    """A Kubernetes memory quantity as MiB (:func:`hybrid_ai_platform.contracts.memory_mib`), else None."""
    try:
        return memory_mib(str(quantity)) if quantity else None
    except ValueError:
        return None


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Price the function in every placement and report when its current one is above the threshold."""
    usage = config.get("usage") or {}
    if args.resource_type == WORKER_TYPE:
        labels = get(args.props, "metadata.labels", None) or {}
        if labels.get("app.kubernetes.io/component") != WORKER_COMPONENT:
            args.not_applicable("not a preprocessing worker (label app.kubernetes.io/component)")
            return
        name = str(labels.get("app.kubernetes.io/name") or args.name)
        containers = get(args.props, "spec.template.spec.containers", None) or [{}]
        memory = _memory_mib(get(containers[0], "resources.requests.memory", None))
        if memory is None:
            args.not_applicable("the worker's memory request is not a Mi/Gi quantity")
            return
        placement, architecture = "cluster", "x86_64"
    else:
        name = str(get(args.props, "name", "") or args.name)
        memory = float(get(args.props, "memorySize", 128) or 128)
        architectures = get(args.props, "architectures", None) or ["x86_64"]
        placement, architecture = "lambda", "arm64" if "arm64" in architectures else "x86_64"
    entry = _lookup(usage.get("functions") or {}, args.name, name) or {}
    fn = FunctionProfile(
        name=args.name,
        requests_per_month=float(entry.get("requests_per_month", USAGE_DEFAULT_FUNCTION_REQUESTS)),
        duration_ms=float(entry.get("average_duration_ms", USAGE_DEFAULT_FUNCTION_DURATION_MS)),
        memory_mb=memory,
        architecture=architecture,
        peak_to_mean=peak_to_mean(entry, "usage.functions"),
        placement=placement,
    )
    provider = getattr(args, "provider", None)
    region = get(args.props, "region", None) or (get(provider.props, "region", None) if provider else None)
    try:
        advice = advise_function(fn, cluster_assumptions(usage), str(region or "us-east-1"))
    except PlacementInputError as exc:
        report(f"function '{args.name}' cannot be priced: {exc}")
        return
    threshold = float(usage.get("placement_threshold_percent", USAGE_DEFAULT_PLACEMENT_THRESHOLD_PERCENT))
    over = advice.overspend_percent
    if advice.cheapest != advice.current and over > threshold:
        where = "on Lambda" if advice.current == "lambda" else "on the cluster"
        report(
            f"function '{args.name}' costs ${advice.monthly[advice.current]:,.2f}/month {where}, {over:.0f}% more "
            f"than {advice.cheapest} at ${advice.monthly[advice.cheapest]:,.2f}/month (threshold {threshold:g}%)"
        )


POLICY = ResourcePolicy(META, check)
