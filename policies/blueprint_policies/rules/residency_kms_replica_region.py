"""KMS replica keys live in allowed regions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import get
from pulumi_policy import ResourceValidationArgs, Severity

from ._shared import ALLOWED_REGIONS, allowed_regions

TYPES = ("aws:kms/replicaKey:ReplicaKey", "aws:kms/replicaExternalKey:ReplicaExternalKey")

META = Meta(
    id="BP-RES-004",
    name="residency-kms-replica-region",
    description="KMS replica keys are created in allowed regions, set explicitly.",
    severity=Severity.CRITICAL,
    category="residency",
    resource_types=TYPES,
    remediation="Create replica keys only with a provider (or `region=`) in an allowed region, or drop the replica.",
    config={"allowedRegions": ALLOWED_REGIONS},
    required=("allowedRegions",),
    waivable=False,
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report a replica key whose region (own or provider's) is unset or not allowed."""
    region = get(args.props, "region") or (get(args.provider.props, "region") if args.provider else None)
    allowed = allowed_regions(config)
    if not region:
        report(f"replica key '{args.name}' has no explicit region; set one of {allowed}")
    elif region not in allowed:
        report(f"replica key '{args.name}' replicates key material to {region}, outside the allowed regions {allowed}")


POLICY = ResourcePolicy(META, check)
