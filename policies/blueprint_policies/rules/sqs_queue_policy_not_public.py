"""Queue policies grant nothing to everyone without a restricting condition."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import get, policy_document, principals_are_public, statements
from pulumi_policy import ResourceValidationArgs, Severity

META = Meta(
    id="BP-SQS-003",
    name="sqs-queue-policy-not-public",
    description="SQS queue policies do not allow a '*' principal without a restricting condition.",
    severity=Severity.CRITICAL,
    category="security",
    resource_types=("aws:sqs/queuePolicy:QueuePolicy",),
    remediation="Use a Service principal with aws:SourceArn/aws:SourceAccount conditions, or name the account roles.",
    equivalents=Equivalents(checkov=("CKV_AWS_168",), trivy=("AVD-AWS-0097",)),
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report Allow statements to ``*`` without a Condition."""
    for number, statement in enumerate(statements(policy_document(get(args.props, "policy")))):
        if (
            statement.get("Effect") == "Allow"
            and principals_are_public(statement.get("Principal"))
            and not statement.get("Condition")
        ):
            report(
                f"queue policy '{args.name}' statement {statement.get('Sid') or number} allows '*' without a condition"
            )


POLICY = ResourcePolicy(META, check)
