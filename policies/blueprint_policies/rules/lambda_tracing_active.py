"""Lambda functions trace with X-Ray."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import get
from pulumi_policy import ResourceValidationArgs, Severity

META = Meta(
    id="BP-LMB-001",
    name="lambda-tracing-active",
    description="Lambda functions have X-Ray tracing mode Active.",
    severity=Severity.LOW,
    category="security",
    resource_types=("aws:lambda/function:Function",),
    remediation="Set tracing_config={'mode': 'Active'} on the aws.lambda_.Function.",
    equivalents=Equivalents(checkov=("CKV_AWS_50",), trivy=("AVD-AWS-0066",)),
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report tracing mode other than Active."""
    mode = get(args.props, "tracingConfig.mode")
    if mode != "Active":
        report(f"function '{args.name}' tracing mode is {mode or 'unset (PassThrough)'}, not Active")


POLICY = ResourcePolicy(META, check)
