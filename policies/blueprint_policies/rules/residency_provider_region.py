"""Every AWS provider sets its region explicitly, to an allowed region."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Meta, StackPolicy
from hybrid_ai_platform.policies.props import get, skip_unknown
from pulumi_policy import PolicyProviderResource, PolicyResource, Severity, StackValidationArgs

from ._shared import ALLOWED_REGIONS, allowed_regions

META = Meta(
    id="BP-RES-001",
    name="residency-provider-region",
    description="Every AWS provider sets its region explicitly, and to an allowed region.",
    severity=Severity.CRITICAL,
    category="residency",
    resource_types=("pulumi:providers:aws",),
    remediation="Set `aws:region` in stacks/Pulumi.<stack>.yaml (or `region=` on an explicit aws.Provider) "
    "to one of the stack's allowed regions.",
    config={"allowedRegions": ALLOWED_REGIONS},
    required=("allowedRegions",),
    waivable=False,
)


def check(args: StackValidationArgs, config: Mapping[str, Any], report: Callable[..., None]) -> None:
    """Judge provider resources and the providers resources reference (default providers too)."""
    allowed = allowed_regions(config)
    providers: dict[str, PolicyResource | PolicyProviderResource] = {}
    for resource in args.resources:
        if resource.resource_type == "pulumi:providers:aws":
            providers[resource.urn] = resource
        elif resource.provider is not None and resource.provider.resource_type == "pulumi:providers:aws":
            providers.setdefault(resource.provider.urn, resource.provider)
    for urn, provider in sorted(providers.items()):
        with skip_unknown():
            region = get(provider.props, "region")
            if not region:
                report(
                    f"AWS provider '{provider.name}' sets no region, so it would use whatever AWS_REGION or "
                    f"profile the operator has; set it explicitly to one of {allowed}",
                    urn,
                )
            elif region not in allowed:
                report(
                    f"AWS provider '{provider.name}' uses region {region}, outside the allowed regions {allowed}", urn
                )


POLICY = StackPolicy(META, check)
