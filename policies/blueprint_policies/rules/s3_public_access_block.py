"""Every bucket has a public access block with all four settings on."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, StackPolicy
from hybrid_ai_platform.policies.props import get, skip_unknown, truthy
from hybrid_ai_platform.policies.stack import StackIndex
from pulumi_policy import Severity, StackValidationArgs

from ._s3 import BUCKET_TYPES, PUBLIC_ACCESS_BLOCK, buckets

SETTINGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")

META = Meta(
    id="BP-S3-001",
    name="s3-public-access-block",
    description="Every S3 bucket has a BucketPublicAccessBlock with all four settings true.",
    severity=Severity.CRITICAL,
    category="security",
    resource_types=BUCKET_TYPES,
    remediation="Create buckets with the ArtifactBucket component, or add an aws.s3.BucketPublicAccessBlock "
    "(bucket=<bucket>.id) with block_public_acls, block_public_policy, ignore_public_acls and "
    "restrict_public_buckets all True.",
    equivalents=Equivalents(
        checkov=("CKV2_AWS_6", "CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56"),
        cdk_nag=("AwsSolutions-S2",),
        trivy=("AVD-AWS-0086", "AVD-AWS-0087", "AVD-AWS-0091", "AVD-AWS-0093", "AVD-AWS-0094"),
    ),
)


def check(args: StackValidationArgs, config: Mapping[str, Any], report: Callable[..., None]) -> None:
    """Join each bucket to its public access block through the block's ``bucket`` input."""
    index = StackIndex(args.resources)
    for bucket in buckets(index):
        with skip_unknown():
            blocks = index.dependents(bucket, PUBLIC_ACCESS_BLOCK)
            if not blocks:
                report(f"bucket '{bucket.name}' has no public access block", bucket.urn)
                continue
            off = [s for s in SETTINGS if not any(truthy(get(b.props, s, False)) for b in blocks)]
            if off:
                report(f"bucket '{bucket.name}': public access block leaves {', '.join(off)} off", bucket.urn)


POLICY = StackPolicy(META, check)
