"""Resources that override their region (pulumi-aws v7 ``region`` input) stay in allowed regions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import get
from pulumi_policy import ResourceValidationArgs, Severity

from ._shared import ALLOWED_REGIONS, REGIONAL_TYPES, allowed_regions

META = Meta(
    id="BP-RES-002",
    name="residency-resource-region",
    description="A resource's own `region` input names an allowed region.",
    severity=Severity.CRITICAL,
    category="residency",
    resource_types=REGIONAL_TYPES,
    remediation="Remove the resource's `region` argument (inherit the provider's) or set an allowed region.",
    config={"allowedRegions": ALLOWED_REGIONS},
    required=("allowedRegions",),
    waivable=False,
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report a ``region`` input outside the allowed regions."""
    region = get(args.props, "region")
    if not region:
        args.not_applicable("the resource inherits its provider's region")
    allowed = allowed_regions(config)
    if region not in allowed:
        report(
            f"{args.resource_type.split(':')[-1]} '{args.name}' is placed in {region}, "
            f"outside the allowed regions {allowed}"
        )


POLICY = ResourcePolicy(META, check)
