"""Bucket ACLs are disabled (BucketOwnerEnforced)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, StackPolicy
from hybrid_ai_platform.policies.props import get, skip_unknown
from hybrid_ai_platform.policies.stack import StackIndex
from pulumi_policy import Severity, StackValidationArgs

from ._s3 import BUCKET_TYPES, OWNERSHIP, buckets

META = Meta(
    id="BP-S3-006",
    name="s3-acls-disabled",
    description="Every S3 bucket disables ACLs through BucketOwnershipControls with BucketOwnerEnforced.",
    severity=Severity.MEDIUM,
    category="security",
    resource_types=BUCKET_TYPES,
    remediation="Add an aws.s3.BucketOwnershipControls with rule.object_ownership 'BucketOwnerEnforced'.",
    equivalents=Equivalents(checkov=("CKV2_AWS_65",)),
)


def check(args: StackValidationArgs, config: Mapping[str, Any], report: Callable[..., None]) -> None:
    """Join each bucket to its ownership controls."""
    index = StackIndex(args.resources)
    for bucket in buckets(index):
        with skip_unknown():
            modes = [get(o.props, "rule.objectOwnership") for o in index.dependents(bucket, OWNERSHIP)]
            if "BucketOwnerEnforced" not in modes:
                shown = modes[0] if modes else "no ownership controls"
                report(f"bucket '{bucket.name}' keeps ACLs enabled ({shown})", bucket.urn)


POLICY = StackPolicy(META, check)
