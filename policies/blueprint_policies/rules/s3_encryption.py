"""Buckets are encrypted with KMS (SSE-S3 only for server-access-log targets)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, StackPolicy
from hybrid_ai_platform.policies.props import get, skip_unknown
from hybrid_ai_platform.policies.stack import StackIndex
from pulumi_policy import Severity, StackValidationArgs

from ._s3 import BUCKET_TYPES, ENCRYPTION, buckets, is_log_target

META = Meta(
    id="BP-S3-002",
    name="s3-encryption",
    description="Every S3 bucket has default SSE-KMS encryption; SSE-S3 is accepted only for a server-access-log "
    "target bucket (S3 log delivery cannot use SSE-KMS).",
    severity=Severity.HIGH,
    category="security",
    resource_types=BUCKET_TYPES,
    remediation="Add an aws.s3.BucketServerSideEncryptionConfiguration with sse_algorithm 'aws:kms' and "
    "kms_master_key_id set to the stack key (the ArtifactBucket component does this).",
    equivalents=Equivalents(checkov=("CKV_AWS_145",), cdk_nag=(), trivy=("AVD-AWS-0088", "AVD-AWS-0132")),
)

KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")


def check(args: StackValidationArgs, config: Mapping[str, Any], report: Callable[..., None]) -> None:
    """Join each bucket to its encryption configuration; check the default algorithm and key."""
    index = StackIndex(args.resources)
    for bucket in buckets(index):
        with skip_unknown():
            configs = index.dependents(bucket, ENCRYPTION)
            if not configs:
                report(f"bucket '{bucket.name}' has no server-side encryption configuration", bucket.urn)
                continue
            rules = [rule for c in configs for rule in get(c.props, "rules") or []]
            defaults = [rule.get("applyServerSideEncryptionByDefault") or {} for rule in rules]
            algorithms = {str(d.get("sseAlgorithm")) for d in defaults}
            if algorithms & set(KMS_ALGORITHMS):
                if not any(d.get("kmsMasterKeyId") for d in defaults if d.get("sseAlgorithm") in KMS_ALGORITHMS):
                    report(
                        f"bucket '{bucket.name}' uses SSE-KMS with the AWS-managed key; set the stack's "
                        "customer-managed key",
                        bucket.urn,
                    )
            elif algorithms == {"AES256"} and is_log_target(index, bucket):
                continue
            else:
                shown = ", ".join(sorted(algorithms)) or "none"
                report(f"bucket '{bucket.name}' is encrypted with {shown}, not SSE-KMS", bucket.urn)


POLICY = StackPolicy(META, check)
