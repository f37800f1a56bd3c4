"""Lambda memory, timeout and reserved concurrency stay within the environment's caps."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import get
from pulumi_policy import ResourceValidationArgs, Severity

META = Meta(
    id="BP-BUD-004",
    name="budget-lambda-limits",
    description="Lambda functions stay within the environment's memory, timeout and reserved-concurrency caps.",
    severity=Severity.MEDIUM,
    category="budget",
    resource_types=("aws:lambda/function:Function",),
    remediation="Lower `memory_mb`, `timeout_seconds` or `reserved_concurrency` of the function in the stack's "
    "preprocessing config, or raise the cap in policies/config/<stack>.json with FinOps approval.",
    config={
        "maxMemoryMb": {"type": "integer", "minimum": 128, "default": 4096, "description": "Defaults to 4096."},
        "maxTimeoutSeconds": {"type": "integer", "minimum": 1, "default": 900, "description": "Defaults to 900."},
        "maxReservedConcurrency": {"type": "integer", "minimum": 0, "default": 100, "description": "Defaults to 100."},
    },
)

_LIMITS = (
    ("memorySize", "maxMemoryMb", "memory", "MB", 128),
    ("timeout", "maxTimeoutSeconds", "timeout", "s", 3),
    ("reservedConcurrentExecutions", "maxReservedConcurrency", "reserved concurrency", "", None),
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report each limit above its cap (Lambda defaults: 128 MB, 3 s, unreserved)."""
    for prop, key, label, unit, default in _LIMITS:
        value = get(args.props, prop, default)
        if value is None or int(value) < 0:
            continue
        cap = int(config[key])
        if int(value) > cap:
            report(f"function '{args.name}' has {label} {int(value)}{unit}; the cap here is {cap}{unit}")


POLICY = ResourcePolicy(META, check)
