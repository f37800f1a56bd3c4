"""S3 replication only copies data to buckets in allowed regions."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, StackPolicy
from hybrid_ai_platform.policies.props import get, skip_unknown
from hybrid_ai_platform.policies.stack import StackIndex, effective_region
from pulumi_policy import Severity, StackValidationArgs

from ._shared import ALLOWED_REGIONS, allowed_regions, region_of_arn

BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")

META = Meta(
    id="BP-RES-003",
    name="residency-s3-replication",
    description="S3 replication destinations (and their replica KMS keys) are in allowed regions.",
    severity=Severity.CRITICAL,
    category="residency",
    resource_types=("aws:s3/bucketReplicationConfig:BucketReplicationConfig",),
    remediation="Replicate only to a bucket of this stack whose provider region is allowed, or list a vetted "
    "external destination bucket in `allowedExternalDestinations`.",
    equivalents=Equivalents(checkov=("CKV_AWS_144",)),
    config={
        "allowedRegions": ALLOWED_REGIONS,
        "allowedExternalDestinations": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Bucket ARN globs outside the stack known to be in allowed regions. Defaults to none.",
        },
    },
    required=("allowedRegions",),
    waivable=False,
)


def check(args: StackValidationArgs, config: Mapping[str, Any], report: Callable[..., None]) -> None:
    """Join each replication configuration to its destination buckets through ``rules``."""
    allowed = allowed_regions(config)
    external = [str(p) for p in config.get("allowedExternalDestinations") or []]
    index = StackIndex(args.resources)
    for replication in index.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig"):
        with skip_unknown():
            sources = {r.urn for r in index.sources(replication, "bucket")}
            destinations = [r for r in index.sources(replication, "rules") if r.resource_type in BUCKET_TYPES]
            destinations = [r for r in destinations if r.urn not in sources]
            for bucket in destinations:
                region = effective_region(bucket)
                if region not in allowed:
                    report(
                        f"replication '{replication.name}' copies data to bucket '{bucket.name}' in "
                        f"{region or 'an unset region'}, outside the allowed regions {allowed}",
                        replication.urn,
                    )
            for rule in get(replication.props, "rules") or []:
                destination = rule.get("destination") or {}
                arn = str(destination.get("bucket") or "")
                if not destinations and arn and not any(fnmatch.fnmatchcase(arn, p) for p in external):
                    report(
                        f"replication '{replication.name}' copies data to {arn}, a bucket outside this stack whose "
                        f"region cannot be verified; list it in allowedExternalDestinations once vetted",
                        replication.urn,
                    )
                key = str((destination.get("encryptionConfiguration") or {}).get("replicaKmsKeyId") or "")
                key_region = region_of_arn(key) if key else None
                if key_region and key_region not in allowed:
                    report(
                        f"replication '{replication.name}' uses replica KMS key {key} in {key_region}, "
                        f"outside the allowed regions {allowed}",
                        replication.urn,
                    )


POLICY = StackPolicy(META, check)
