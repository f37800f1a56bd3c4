"""SQS queues are encrypted at rest."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import get, truthy
from pulumi_policy import ResourceValidationArgs, Severity

META = Meta(
    id="BP-SQS-001",
    name="sqs-encryption",
    description="SQS queues are encrypted with a KMS key (SSE-SQS accepted only when `requireKms` is false).",
    severity=Severity.HIGH,
    category="security",
    resource_types=("aws:sqs/queue:Queue",),
    remediation="Set kms_master_key_id to the stack key on the aws.sqs.Queue (PreprocessingPipeline does).",
    equivalents=Equivalents(
        checkov=("CKV_AWS_27",), cdk_nag=("AwsSolutions-SQS2",), trivy=("AVD-AWS-0096", "AVD-AWS-0135")
    ),
    config={"requireKms": {"type": "boolean", "default": True, "description": "Require SSE-KMS. Defaults to true."}},
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report a queue without a KMS key (or without any encryption)."""
    if get(args.props, "kmsMasterKeyId"):
        return
    if truthy(get(args.props, "sqsManagedSseEnabled", False)) and not config.get("requireKms", True):
        return
    report(f"queue '{args.name}' is not encrypted with a KMS key")


POLICY = ResourcePolicy(META, check)
