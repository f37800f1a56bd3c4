"""SQS event source mappings cap their concurrency."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import get
from pulumi_policy import ResourceValidationArgs, Severity

META = Meta(
    id="BP-BUD-005",
    name="budget-sqs-maximum-concurrency",
    description="Lambda event source mappings from SQS set scalingConfig.maximumConcurrency.",
    severity=Severity.MEDIUM,
    category="budget",
    resource_types=("aws:lambda/eventSourceMapping:EventSourceMapping",),
    remediation="Set `maximum_concurrency` of the preprocessing function (EventSourceMapping "
    "`scaling_config.maximum_concurrency`), so a burst cannot starve other functions.",
    config={
        "maxMaximumConcurrency": {
            "type": "integer",
            "minimum": 2,
            "default": 1000,
            "description": "Largest maximumConcurrency allowed. Defaults to 1000 (the Lambda maximum).",
        }
    },
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report an SQS mapping without (or above the cap of) ``maximumConcurrency``."""
    source = str(get(args.props, "eventSourceArn") or "")
    if ":sqs:" not in source:
        args.not_applicable("the event source is not an SQS queue")
    value = get(args.props, "scalingConfig.maximumConcurrency")
    if value is None:
        report(f"event source mapping '{args.name}' reads SQS without scalingConfig.maximumConcurrency")
    elif int(value) > int(config["maxMaximumConcurrency"]):
        report(
            f"event source mapping '{args.name}' allows {int(value)} concurrent invocations; "
            f"the cap here is {int(config['maxMaximumConcurrency'])}"
        )


POLICY = ResourcePolicy(META, check)
