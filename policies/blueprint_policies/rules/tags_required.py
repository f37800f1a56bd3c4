"""Required tag keys are present on every taggable resource, spelled exactly."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Meta, ResourcePolicy
from pulumi_policy import ResourceValidationArgs, Severity

from hybrid_ai_platform.contracts import REQUIRED_TAG_KEYS

from ._shared import TAGGABLE_TYPES
from ._tags import effective_tags

DEFAULT_KEYS = list(REQUIRED_TAG_KEYS)

META = Meta(
    id="BP-TAG-001",
    name="tags-required",
    description="Every taggable AWS resource carries the required tag keys, in their exact case, with a non-empty "
    "value.",
    severity=Severity.MEDIUM,
    category="tagging",
    resource_types=TAGGABLE_TYPES,
    remediation="Create the resource through a component (they merge the stack's tags), or pass "
    "`tags=` with the required keys; tag keys are case-sensitive.",
    config={
        "requiredKeys": {
            "type": "array",
            "items": {"type": "string"},
            "default": DEFAULT_KEYS,
            "description": f"Tag keys every taggable resource must carry. Defaults to {DEFAULT_KEYS}.",
        }
    },
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report each missing key; name a key present with the wrong case."""
    tags = effective_tags(args)
    by_lower = {k.lower(): k for k in tags}
    for key in [str(k) for k in config.get("requiredKeys") or DEFAULT_KEYS]:
        if key in tags:
            if tags[key] is None or not str(tags[key]).strip():
                report(f"required tag '{key}' is empty")
            continue
        found = by_lower.get(key.lower())
        if found is not None:
            report(f"tag key '{found}' must be spelled exactly '{key}' (AWS tag keys are case-sensitive)")
        else:
            report(f"required tag '{key}' is missing")


POLICY = ResourcePolicy(META, check)
