"""CloudWatch log groups expire their events."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import get
from pulumi_policy import ResourceValidationArgs, Severity

VALID_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
"""Retention values CloudWatch Logs accepts
(https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html)."""

META = Meta(
    id="BP-LOG-001",
    name="logs-retention",
    description="CloudWatch log groups set a retention period (never 'forever') between minDays and maxDays.",
    severity=Severity.LOW,
    category="security",
    resource_types=("aws:cloudwatch/logGroup:LogGroup",),
    remediation="Set retention_in_days on the aws.cloudwatch.LogGroup (the components take it from the stack's "
    "observability config).",
    equivalents=Equivalents(checkov=("CKV_AWS_66",)),
    config={
        "minDays": {"type": "integer", "minimum": 1, "default": 1, "description": "Defaults to 1."},
        "maxDays": {"type": "integer", "minimum": 1, "default": 3653, "description": "Defaults to 3653."},
    },
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report a missing, invalid, too short or too long retention."""
    days = get(args.props, "retentionInDays")
    if not days:
        report(f"log group '{args.name}' keeps events forever (no retentionInDays)")
        return
    days, low, high = int(days), int(config.get("minDays") or 1), int(config.get("maxDays") or 3653)
    if days not in VALID_DAYS:
        report(f"log group '{args.name}' retention {days} days is not a value CloudWatch Logs accepts")
    elif days < low:
        report(f"log group '{args.name}' keeps events {days} days; at least {low}")
    elif days > high:
        report(f"log group '{args.name}' keeps events {days} days; at most {high}")


POLICY = ResourcePolicy(META, check)
