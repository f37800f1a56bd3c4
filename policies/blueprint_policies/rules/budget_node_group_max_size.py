"""Node groups cannot scale beyond the environment's cap."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import get
from pulumi_policy import ResourceValidationArgs, Severity

META = Meta(
    id="BP-BUD-002",
    name="budget-node-group-max-size",
    description="An EKS node group's scaling maximum stays within the environment's cap.",
    severity=Severity.MEDIUM,
    category="budget",
    resource_types=("aws:eks/nodeGroup:NodeGroup",),
    remediation="Lower `max_size` of the node group in the stack's cluster config, or raise `maxNodeGroupSize` "
    "in policies/config/<stack>.json with FinOps approval.",
    config={
        "maxNodeGroupSize": {
            "type": "integer",
            "minimum": 1,
            "default": 10,
            "description": "Largest allowed scalingConfig.maxSize. Defaults to 10.",
        }
    },
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report ``scalingConfig.maxSize`` above ``maxNodeGroupSize``."""
    max_size = get(args.props, "scalingConfig.maxSize")
    if max_size is None:
        args.not_applicable("no scalingConfig.maxSize")
    cap = int(config.get("maxNodeGroupSize", 10))
    if int(max_size) > cap:
        report(f"node group '{args.name}' may scale to {int(max_size)} nodes; the cap here is {cap}")


POLICY = ResourcePolicy(META, check)
