"""EKS encrypts Kubernetes secrets with KMS."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import get
from pulumi_policy import ResourceValidationArgs, Severity

META = Meta(
    id="BP-EKS-002",
    name="eks-secrets-encryption",
    description="An EKS cluster envelope-encrypts Kubernetes secrets with a KMS key.",
    severity=Severity.HIGH,
    category="security",
    resource_types=("aws:eks/cluster:Cluster",),
    remediation="Set encryption_config={'resources': ['secrets'], 'provider': {'key_arn': <stack key arn>}}.",
    equivalents=Equivalents(checkov=("CKV_AWS_58",), trivy=("AVD-AWS-0039",)),
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report a cluster without ``secrets`` encryption and a key."""
    encryption = get(args.props, "encryptionConfig") or {}
    resources = [str(r) for r in encryption.get("resources") or []]
    key = (encryption.get("provider") or {}).get("keyArn")
    if "secrets" not in resources or not key:
        report(f"cluster '{args.name}' does not encrypt Kubernetes secrets with a KMS key")


POLICY = ResourcePolicy(META, check)
