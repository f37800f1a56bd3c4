"""The stack's GPU node groups together cannot exceed a GPU cap at full scale."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.cost import gpus_per_instance
from hybrid_ai_platform.policies.framework import Meta, StackPolicy
from hybrid_ai_platform.policies.props import as_list, get, skip_unknown
from hybrid_ai_platform.policies.stack import StackIndex
from pulumi_policy import PolicyResource, Severity, StackValidationArgs

META = Meta(
    id="BP-BUD-003",
    name="budget-gpu-total",
    description="The sum over GPU node groups of max size x GPUs per instance stays within the stack's GPU cap.",
    severity=Severity.HIGH,
    category="budget",
    resource_types=(),
    remediation="Lower `max_size` of GPU node groups or use smaller GPU instances; raise `maxTotalGpus` in "
    "policies/config/<stack>.json only with a capacity reservation or FinOps approval.",
    config={
        "maxTotalGpus": {
            "type": "integer",
            "minimum": 0,
            "description": "Most GPUs the stack's node groups may reach together. Required.",
        }
    },
    required=("maxTotalGpus",),
)


def _instance_types(index: StackIndex, group: PolicyResource) -> list[str]:
    types = [str(t) for t in as_list(get(group.props, "instanceTypes"))]
    if types:
        return types
    for template in index.sources(group, "launchTemplate"):
        if template.resource_type == "aws:ec2/launchTemplate:LaunchTemplate":
            instance_type = get(template.props, "instanceType")
            if instance_type:
                return [str(instance_type)]
    return []


def check(args: StackValidationArgs, config: Mapping[str, Any], report: Callable[..., None]) -> None:
    """Sum max size x GPUs (the largest GPU count of the group's types) over node groups."""
    index = StackIndex(args.resources)
    cap = int(config["maxTotalGpus"])
    total = 0
    parts = []
    for group in index.of_type("aws:eks/nodeGroup:NodeGroup"):
        with skip_unknown():
            gpus = max((gpus_per_instance(t) for t in _instance_types(index, group)), default=0)
            if gpus == 0:
                continue
            max_size = int(get(group.props, "scalingConfig.maxSize") or 0)
            total += max_size * gpus
            parts.append(f"{group.name}: {max_size} x {gpus}")
    if total > cap:
        report(f"GPU node groups can reach {total} GPUs ({', '.join(parts)}); the cap here is {cap}")


POLICY = StackPolicy(META, check)
