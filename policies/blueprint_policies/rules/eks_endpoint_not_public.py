"""The EKS API server is not open to the internet."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import get, truthy
from pulumi_policy import ResourceValidationArgs, Severity

from ._cidr import world_open

META = Meta(
    id="BP-EKS-001",
    name="eks-endpoint-not-public",
    description="An EKS cluster's public endpoint is off, or limited to listed CIDRs whose union does not cover the "
    "IPv4 or IPv6 internet (0.0.0.0/0 however split, ::/0).",
    severity=Severity.CRITICAL,
    category="security",
    resource_types=("aws:eks/cluster:Cluster",),
    remediation="Set vpc_config.endpoint_public_access=False (the cluster default), or list your own CIDRs in "
    "cluster.public_access_cidrs.",
    equivalents=Equivalents(checkov=("CKV_AWS_38", "CKV_AWS_39"), trivy=("AVD-AWS-0040", "AVD-AWS-0041")),
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """EKS defaults to a public endpoint open to 0.0.0.0/0: only an explicit setting passes."""
    public = get(args.props, "vpcConfig.endpointPublicAccess")
    if public is not None and not truthy(public):
        return
    cidrs = [str(c) for c in get(args.props, "vpcConfig.publicAccessCidrs") or []]
    shown = "unset (EKS defaults to public)" if public is None else "on"
    if not cidrs:
        report(f"cluster '{args.name}' public endpoint is {shown} and open to ['0.0.0.0/0'] (no publicAccessCidrs)")
        return
    internets = world_open(cidrs)
    if internets:
        report(
            f"cluster '{args.name}' public endpoint is {shown} and open to {cidrs}: together they cover the "
            f"{' and '.join(internets)} internet"
        )


POLICY = ResourcePolicy(META, check)
