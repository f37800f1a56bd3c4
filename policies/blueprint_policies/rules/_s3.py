"""Buckets and their v7 sibling resources."""

from __future__ import annotations

from hybrid_ai_platform.policies.props import get
from hybrid_ai_platform.policies.stack import StackIndex
from pulumi_policy import PolicyResource

BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
POLICY_TYPE = "aws:s3/bucketPolicy:BucketPolicy"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
OBJECT_LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"


def buckets(index: StackIndex) -> list[PolicyResource]:
    """The stack's buckets."""
    return index.of_type(*BUCKET_TYPES)


def is_log_target(index: StackIndex, bucket: PolicyResource) -> bool:
    """Whether some BucketLogging's ``targetBucket`` was computed from this bucket."""
    return bool(index.dependents(bucket, LOGGING, "targetBucket"))


def purpose(bucket: PolicyResource) -> str | None:
    """The bucket's ``purpose`` tag."""
    tags = get(bucket.props, "tags") or {}
    value = tags.get("purpose")
    return str(value) if value is not None else None
