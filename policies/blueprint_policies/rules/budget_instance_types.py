"""Node groups, launch templates and instances use the environment's allowed instance types."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import as_list, get, wildcard_match
from pulumi_policy import ResourceValidationArgs, Severity

FIELDS = {
    "aws:eks/nodeGroup:NodeGroup": "instanceTypes",
    "aws:ec2/launchTemplate:LaunchTemplate": "instanceType",
    "aws:ec2/instance:Instance": "instanceType",
}

META = Meta(
    id="BP-BUD-001",
    name="budget-instance-types",
    description="EC2 capacity (node groups, launch templates, instances) uses the environment's allowed "
    "instance types.",
    severity=Severity.MEDIUM,
    category="budget",
    resource_types=tuple(FIELDS),
    remediation="Pick an allowed instance type (policies/config/<stack>.json, `allowedInstanceTypes`) in the "
    "cluster's node-group config, or ask FinOps to extend the list for this environment.",
    config={
        "allowedInstanceTypes": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "description": "Instance types allowed in this environment (wildcards such as `g5.*`). Required.",
        }
    },
    required=("allowedInstanceTypes",),
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report each instance type outside ``allowedInstanceTypes``."""
    types = [str(t) for t in as_list(get(args.props, FIELDS[args.resource_type]))]
    if not types:
        args.not_applicable("no instance type set here (it comes from a launch template or the EKS default)")
    allowed = [str(p) for p in config.get("allowedInstanceTypes") or []]
    for instance_type in types:
        if not wildcard_match(instance_type, allowed):
            report(f"'{args.name}' uses instance type {instance_type}; allowed here: {allowed}")


POLICY = ResourcePolicy(META, check)
