"""The model registry bucket (tag purpose=models) has Object Lock with a default retention."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, StackPolicy
from hybrid_ai_platform.policies.props import get, skip_unknown, truthy
from hybrid_ai_platform.policies.stack import StackIndex
from pulumi_policy import Severity, StackValidationArgs

from hybrid_ai_platform.contracts import BucketPurpose

from ._s3 import BUCKET_TYPES, OBJECT_LOCK, buckets, purpose

META = Meta(
    id="BP-S3-008",
    name="s3-model-registry-object-lock",
    description="The model-registry bucket (tag purpose=models) has Object Lock enabled with a default retention.",
    severity=Severity.HIGH,
    category="security",
    resource_types=BUCKET_TYPES,
    remediation="Create the registry with object_lock_enabled=True and an aws.s3.BucketObjectLockConfiguration "
    "with rule.default_retention (storage.model_registry.object_lock_mode / retention_days).",
    equivalents=Equivalents(checkov=("CKV_AWS_143",)),
    config={
        "requiredMode": {
            "type": "string",
            "enum": ["ANY", "GOVERNANCE", "COMPLIANCE"],
            "default": "ANY",
            "description": "Retention mode required. Defaults to ANY (either mode).",
        }
    },
)


def check(args: StackValidationArgs, config: Mapping[str, Any], report: Callable[..., None]) -> None:
    """Check the bucket's ``objectLockEnabled`` and its lock configuration sibling."""
    index = StackIndex(args.resources)
    required_mode = str(config.get("requiredMode", "ANY"))
    registries = [b for b in buckets(index) if purpose(b) == BucketPurpose.MODELS]
    if not registries:
        args.not_applicable("no bucket tagged purpose=models")
    for bucket in registries:
        with skip_unknown():
            if not truthy(get(bucket.props, "objectLockEnabled", False)):
                report(f"model registry bucket '{bucket.name}' is created without Object Lock", bucket.urn)
                continue
            locks = index.dependents(bucket, OBJECT_LOCK)
            modes = [get(lock.props, "rule.defaultRetention.mode") for lock in locks]
            modes = [m for m in modes if m]
            if not modes:
                report(f"model registry bucket '{bucket.name}' has no default Object Lock retention", bucket.urn)
            elif required_mode != "ANY" and required_mode not in modes:
                report(
                    f"model registry bucket '{bucket.name}' retains in {modes[0]} mode; {required_mode} is "
                    "required here",
                    bucket.urn,
                )


POLICY = StackPolicy(META, check)
