"""KMS keys are single-region, so key material cannot be replicated out of the allowed regions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import get, truthy
from pulumi_policy import ResourceValidationArgs, Severity

TYPES = ("aws:kms/key:Key", "aws:kms/externalKey:ExternalKey")

META = Meta(
    id="BP-RES-005",
    name="residency-kms-single-region",
    description="KMS keys are single-region keys (no multi-region keys).",
    severity=Severity.HIGH,
    category="residency",
    resource_types=TYPES,
    remediation="Set `multi_region=False` on the aws.kms.Key (the EncryptionKey component's default).",
    waivable=False,
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report ``multiRegion: true``."""
    if truthy(get(args.props, "multiRegion", False)):
        report(f"KMS key '{args.name}' is a multi-region key; its material can be replicated to any region")


POLICY = ResourcePolicy(META, check)
