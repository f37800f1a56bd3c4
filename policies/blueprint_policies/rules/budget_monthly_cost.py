"""The stack's estimated monthly cost stays under the environment's ceiling."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.cost import estimate
from hybrid_ai_platform.policies.framework import Meta, StackPolicy
from hybrid_ai_platform.policies.props import plain
from hybrid_ai_platform.policies.stack import provider_region
from pulumi_policy import PolicyResource, Severity, StackValidationArgs

from hybrid_ai_platform.contracts import USAGE_SCHEMA

META = Meta(
    id="BP-BUD-006",
    name="budget-monthly-cost",
    description="The stack's estimated monthly cost is within the environment's ceiling.",
    severity=Severity.HIGH,
    category="budget",
    resource_types=(),
    remediation="Reduce the largest cost drivers named in the message (node counts, GPU hours, NAT layout), or "
    "raise the stack's `budget.monthly_limit_usd` (policies/config/<stack>.json is generated from it: "
    "`make policy-config`).",
    config={
        "monthlyLimitUsd": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "Ceiling in USD: the stack's budget.monthly_limit_usd. Required.",
        },
        "usage": USAGE_SCHEMA,
    },
    required=("monthlyLimitUsd",),
)


def as_plan_resource(resource: PolicyResource) -> dict[str, Any]:
    """A policy resource in the plan document's shape (what :func:`estimate` reads)."""
    return {
        "urn": resource.urn,
        "type": resource.resource_type,
        "name": resource.name,
        "inputs": plain(resource.props, resource.name),
        "property_dependencies": {k: [d.urn for d in v] for k, v in resource.property_dependencies.items()},
    }


def stack_region(resources: list[PolicyResource]) -> str:
    """The region most AWS resources use (through their providers)."""
    regions = Counter(
        r for r in (provider_region(res) for res in resources if res.resource_type.startswith("aws:")) if r
    )
    return regions.most_common(1)[0][0] if regions else "us-east-1"


def check(args: StackValidationArgs, config: Mapping[str, Any], report: Callable[..., None]) -> None:
    """Estimate the stack and report when the total is above ``monthlyLimitUsd``."""
    resources = [as_plan_resource(r) for r in args.resources]
    result = estimate(resources, stack_region(list(args.resources)), config.get("usage") or {})
    limit = float(config["monthlyLimitUsd"])
    total = float(result["total_monthly"])
    if total > limit:
        top = sorted(result["resources"], key=lambda r: -r["monthly"])[:3]
        drivers = ", ".join(f"{r['name']} ${r['monthly']:,.2f}" for r in top)
        report(f"estimated monthly cost ${total:,.2f} is above the ceiling ${limit:,.2f}; largest: {drivers}")


POLICY = StackPolicy(META, check)
