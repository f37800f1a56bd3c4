"""Bucket policies grant nothing to everyone."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import get, policy_document, principals_are_public, statements
from pulumi_policy import ResourceValidationArgs, Severity

META = Meta(
    id="BP-S3-004",
    name="s3-no-public-principal",
    description="S3 bucket policies do not allow any action to a public principal ('*') without a "
    "restricting condition.",
    severity=Severity.CRITICAL,
    category="security",
    resource_types=("aws:s3/bucketPolicy:BucketPolicy",),
    remediation="Name the principals (account roles or `Service` principals with aws:SourceAccount) instead of '*', "
    "or add a condition that restricts the caller (aws:PrincipalOrgID, aws:SourceVpce, ...).",
    equivalents=Equivalents(checkov=("CKV_AWS_70",), trivy=("AVD-AWS-0092",)),
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report each Allow statement to ``*`` without a Condition."""
    for number, statement in enumerate(statements(policy_document(get(args.props, "policy")))):
        if (
            statement.get("Effect") == "Allow"
            and principals_are_public(statement.get("Principal"))
            and not statement.get("Condition")
        ):
            sid = statement.get("Sid") or f"#{number}"
            report(f"bucket policy '{args.name}' statement {sid} allows everyone ('*') without a condition")


POLICY = ResourcePolicy(META, check)
