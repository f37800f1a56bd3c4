"""Tag values are in the allowed values (AWS tag-policy semantics: ``*`` wildcards, exact key case)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import wildcard_match
from pulumi_policy import ResourceValidationArgs, Severity

from ._shared import TAGGABLE_TYPES
from ._tags import effective_tags

META = Meta(
    id="BP-TAG-002",
    name="tags-allowed-values",
    description="Tag values are among the allowed values for their key (`*` wildcards), with the key in its "
    "exact case.",
    severity=Severity.MEDIUM,
    category="tagging",
    resource_types=TAGGABLE_TYPES,
    remediation="Use one of the allowed values listed in the message (policies/config/<stack>.json, "
    "`allowedValues`), spelled with the key's exact case.",
    config={
        "allowedValues": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "default": {},
            "description": "Tag key -> allowed values (wildcard `*`). Keys not listed take any value. "
            "Defaults to none.",
        },
        "allowedPatterns": {
            "type": "object",
            "additionalProperties": {"type": "string", "format": "regex"},
            "default": {},
            "description": "Tag key -> regular expression the whole value must match (e.g. `^cc-[0-9]{4}$`). "
            "Defaults to none.",
        },
    },
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report values outside the allowed list or pattern, and keys whose case differs from the policy's."""
    allowed: Mapping[str, Any] = config.get("allowedValues") or {}
    regexes: Mapping[str, Any] = config.get("allowedPatterns") or {}
    if not allowed and not regexes:
        args.not_applicable("no allowedValues or allowedPatterns configured")
    tags = effective_tags(args)
    by_lower = {k.lower(): k for k in [*allowed, *regexes]}
    for key, value in sorted(tags.items()):
        text = "" if value is None else str(value)
        if key in allowed:
            patterns = [str(p) for p in allowed[key]]
            if not wildcard_match(text, patterns):
                report(f"tag '{key}' has value '{text}'; allowed: {patterns}")
        if key in regexes:
            if re.fullmatch(str(regexes[key]), text) is None:
                report(f"tag '{key}' has value '{text}'; it must match {regexes[key]}")
        elif key not in allowed and key.lower() in by_lower:
            report(
                f"tag key '{key}' must be spelled exactly '{by_lower[key.lower()]}' (tag policies compare keys by case)"
            )


POLICY = ResourcePolicy(META, check)
