"""Bucket policies deny requests that are not over TLS."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, StackPolicy
from hybrid_ai_platform.policies.props import as_list, get, policy_document, skip_unknown, statements
from hybrid_ai_platform.policies.stack import StackIndex
from pulumi_policy import PolicyResource, Severity, StackValidationArgs

from ._s3 import BUCKET_TYPES, POLICY_TYPE, buckets

META = Meta(
    id="BP-S3-003",
    name="s3-tls-only",
    description="Every S3 bucket's policy denies requests without TLS (aws:SecureTransport false).",
    severity=Severity.HIGH,
    category="security",
    resource_types=BUCKET_TYPES,
    remediation="Add a statement {Effect: Deny, Principal: '*', Action: 's3:*', Resource: [bucket, bucket/*], "
    "Condition: {Bool: {aws:SecureTransport: 'false'}}} to the aws.s3.BucketPolicy.",
    equivalents=Equivalents(cdk_nag=("AwsSolutions-S10",)),
)


def denies_insecure_transport(policy: PolicyResource) -> bool:
    """Whether the policy has a Deny on ``s3:*`` (or ``*``) when ``aws:SecureTransport`` is false."""
    for statement in statements(policy_document(get(policy.props, "policy"))):
        if statement.get("Effect") != "Deny":
            continue
        actions = [str(a) for a in as_list(statement.get("Action"))]
        if not any(a in ("s3:*", "*") for a in actions):
            continue
        condition = statement.get("Condition") or {}
        for operator in ("Bool", "BoolIfExists"):
            value = (condition.get(operator) or {}).get("aws:SecureTransport")
            if str(value).lower() == "false" or value is False:
                return True
    return False


def check(args: StackValidationArgs, config: Mapping[str, Any], report: Callable[..., None]) -> None:
    """Join each bucket to its policies through the policy's ``bucket`` input."""
    index = StackIndex(args.resources)
    for bucket in buckets(index):
        with skip_unknown():
            policies = index.dependents(bucket, POLICY_TYPE)
            if not policies:
                report(
                    f"bucket '{bucket.name}' has no bucket policy, so plain-HTTP requests are not denied", bucket.urn
                )
            elif not any(denies_insecure_transport(p) for p in policies):
                report(f"bucket '{bucket.name}': its policy does not deny requests without TLS", bucket.urn)


POLICY = StackPolicy(META, check)
