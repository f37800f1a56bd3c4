"""EKS control-plane logs include api, audit and authenticator."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import get
from pulumi_policy import ResourceValidationArgs, Severity

DEFAULT = ["api", "audit", "authenticator"]

META = Meta(
    id="BP-EKS-003",
    name="eks-control-plane-logging",
    description="An EKS cluster sends the required control-plane log types to CloudWatch.",
    severity=Severity.MEDIUM,
    category="security",
    resource_types=("aws:eks/cluster:Cluster",),
    remediation="Set enabled_cluster_log_types to include api, audit and authenticator.",
    equivalents=Equivalents(checkov=("CKV_AWS_37",), trivy=("AVD-AWS-0038",)),
    config={
        "requiredLogTypes": {
            "type": "array",
            "items": {"type": "string", "enum": ["api", "audit", "authenticator", "controllerManager", "scheduler"]},
            "default": DEFAULT,
            "description": f"Log types required. Defaults to {DEFAULT}.",
        }
    },
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report the missing log types."""
    enabled = {str(t) for t in get(args.props, "enabledClusterLogTypes") or []}
    missing = [t for t in config.get("requiredLogTypes") or DEFAULT if t not in enabled]
    if missing:
        report(f"cluster '{args.name}' does not log {', '.join(missing)}")


POLICY = ResourcePolicy(META, check)
