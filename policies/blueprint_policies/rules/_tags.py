"""Tag helpers shared by the tagging policies."""

from __future__ import annotations

from typing import Any

from hybrid_ai_platform.policies.props import get
from pulumi_policy import ResourceValidationArgs


def effective_tags(args: ResourceValidationArgs) -> dict[str, Any]:
    """The resource's ``tags`` merged over its provider's ``defaultTags.tags`` (as AWS applies them)."""
    tags: dict[str, Any] = {}
    if args.provider is not None:
        tags.update(get(args.provider.props, "defaultTags.tags") or {})
    tags.update(get(args.props, "tags") or {})
    return tags
