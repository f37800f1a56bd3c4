"""Worker nodes cannot be reached over SSH."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import get
from pulumi_policy import ResourceValidationArgs, Severity

META = Meta(
    id="BP-EKS-005",
    name="eks-no-ssh",
    description="Node groups have no remoteAccess and launch templates no keyName: use SSM Session Manager "
    "instead of SSH.",
    severity=Severity.HIGH,
    category="security",
    resource_types=("aws:eks/nodeGroup:NodeGroup", "aws:ec2/launchTemplate:LaunchTemplate"),
    remediation="Remove remote_access from the node group and key_name from the launch template.",
    equivalents=Equivalents(checkov=("CKV_AWS_100",), trivy=("AVD-AWS-0042",)),
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report SSH access paths."""
    if args.resource_type == "aws:eks/nodeGroup:NodeGroup" and get(args.props, "remoteAccess"):
        report(f"node group '{args.name}' opens SSH through remoteAccess")
    if args.resource_type == "aws:ec2/launchTemplate:LaunchTemplate" and get(args.props, "keyName"):
        report(f"launch template '{args.name}' installs SSH key {get(args.props, 'keyName')}")


POLICY = ResourcePolicy(META, check)
