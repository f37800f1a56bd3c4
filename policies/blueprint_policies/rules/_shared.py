"""Config-schema fragments and helpers shared by several policies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hybrid_ai_platform.policies.stack import aws_types

ALLOWED_REGIONS: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string", "pattern": "^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"},
    "minItems": 1,
    "description": "AWS regions data and resources may live in. Required.",
}


TAGGABLE_TYPES: tuple[str, ...] = tuple(sorted(aws_types()["taggable"]))
"""pulumi-aws types with a ``tags`` input (``data/aws_types.json``): what the tagging policies judge."""

REGIONAL_TYPES: tuple[str, ...] = tuple(sorted(aws_types()["regional"]))
"""pulumi-aws types with their own ``region`` input (``data/aws_types.json``)."""


def allowed_regions(config: Mapping[str, Any]) -> list[str]:
    """The ``allowedRegions`` config value as a list of strings."""
    return [str(r) for r in config.get("allowedRegions") or []]


def region_of_arn(arn: str) -> str | None:
    """The region field of an ARN (``None`` for global ARNs such as S3's)."""
    parts = arn.split(":")
    if len(parts) > 3 and parts[0] == "arn":
        return parts[3] or None
    return None
