"""Buckets keep object versions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, StackPolicy
from hybrid_ai_platform.policies.props import get, skip_unknown
from hybrid_ai_platform.policies.stack import StackIndex
from pulumi_policy import Severity, StackValidationArgs

from ._s3 import BUCKET_TYPES, VERSIONING, buckets

META = Meta(
    id="BP-S3-005",
    name="s3-versioning",
    description="Every S3 bucket has versioning Enabled.",
    severity=Severity.MEDIUM,
    category="security",
    resource_types=BUCKET_TYPES,
    remediation="Add an aws.s3.BucketVersioning with versioning_configuration.status 'Enabled' (ArtifactBucket does).",
    equivalents=Equivalents(checkov=("CKV_AWS_21",), trivy=("AVD-AWS-0090",)),
)


def check(args: StackValidationArgs, config: Mapping[str, Any], report: Callable[..., None]) -> None:
    """Join each bucket to its BucketVersioning."""
    index = StackIndex(args.resources)
    for bucket in buckets(index):
        with skip_unknown():
            statuses = [get(v.props, "versioningConfiguration.status") for v in index.dependents(bucket, VERSIONING)]
            if "Enabled" not in statuses:
                shown = statuses[0] if statuses else "not configured"
                report(f"bucket '{bucket.name}' versioning is {shown}, not Enabled", bucket.urn)


POLICY = StackPolicy(META, check)
