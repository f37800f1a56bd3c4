"""Buckets log server access (a log-target bucket is exempt)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, StackPolicy
from hybrid_ai_platform.policies.props import skip_unknown
from hybrid_ai_platform.policies.stack import StackIndex
from pulumi_policy import Severity, StackValidationArgs

from ._s3 import BUCKET_TYPES, LOGGING, buckets, is_log_target

META = Meta(
    id="BP-S3-007",
    name="s3-access-logging",
    description="Every S3 bucket, except a server-access-log target, has server access logging.",
    severity=Severity.MEDIUM,
    category="security",
    resource_types=BUCKET_TYPES,
    remediation="Add an aws.s3.BucketLogging (bucket=<bucket>.id, target_bucket=<log bucket>.id); ArtifactBucket "
    "does this when given the stack's access-log bucket.",
    equivalents=Equivalents(checkov=("CKV_AWS_18",), cdk_nag=("AwsSolutions-S1",), trivy=("AVD-AWS-0089",)),
)


def check(args: StackValidationArgs, config: Mapping[str, Any], report: Callable[..., None]) -> None:
    """Join each bucket to a BucketLogging through its ``bucket`` input."""
    index = StackIndex(args.resources)
    for bucket in buckets(index):
        with skip_unknown():
            if is_log_target(index, bucket):
                continue
            if not index.dependents(bucket, LOGGING):
                report(f"bucket '{bucket.name}' has no server access logging", bucket.urn)


POLICY = StackPolicy(META, check)
