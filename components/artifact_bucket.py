"""ArtifactBucket: an S3 bucket with every data-protection control on, and least-privilege grants.

Built from pulumi-aws v7's ``aws.s3.Bucket`` and its side-by-side configuration resources
(versioning, encryption, public-access block, ownership controls, policy, lifecycle, logging,
notification, Object Lock) — never the deprecated ``*V2`` classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from hybrid_ai_platform.contracts import PURPOSE_TAG, BucketPurpose

from . import validation as check
from .encryption_key import KmsKey, check_kms_key, kms_key_arn
from .iam import Statement, deny_insecure_transport, policy_document


@dataclass(frozen=True)
class ObjectLockArgs:
    """Default Object Lock retention applied to every new object version."""

    mode: Literal["GOVERNANCE", "COMPLIANCE"]
    """``COMPLIANCE``: nobody can delete a locked version before it expires; ``GOVERNANCE``:
    principals with ``s3:BypassGovernanceRetention`` can. Required."""
    days: int
    """Retention in days, 1 to 36500. Required."""

    def __post_init__(self) -> None:
        check.check_choice(self, "mode", self.mode, ("GOVERNANCE", "COMPLIANCE"))
        check.check_int(self, "days", self.days, 1, 36500)


@dataclass(frozen=True)
class ArtifactBucketArgs:
    """Inputs of :class:`ArtifactBucket`."""

    tags: Mapping[str, str]
    """Tags for the bucket. Required (the stack's required tags)."""
    region: str
    """The stack's region (scopes ``kms:ViaService`` in grants). Required."""
    kms_key: KmsKey | None
    """Key for SSE-KMS with an S3 bucket key: an :class:`~.encryption_key.EncryptionKey` (or ``aws.kms.Key``), or
    the ARN of a key you bring. Required unless ``access_log_target`` is on; server-access-log target buckets
    only support SSE-S3, so they must pass None."""
    purpose: BucketPurpose
    """What the bucket holds (``landing``, ``features``, ``models``, ``access-logs``); recorded
    in the ``purpose`` tag. Required."""
    log_bucket: ArtifactBucket | None = None
    """Bucket receiving server access logs under ``<log_prefix>``. Defaults to none; every
    data bucket of the stack passes the stack's log bucket."""
    log_prefix: str | None = None
    """Prefix of this bucket's access logs in the log bucket. Defaults to ``<name>/``."""
    eventbridge_notifications: bool = False
    """Send every object event to EventBridge (the landing bucket). Defaults to off."""
    object_lock: ObjectLockArgs | None = None
    """Default Object Lock retention (the model registry). Defaults to none. Object Lock can
    only be enabled when the bucket is created."""
    noncurrent_version_expiration_days: int = 90
    """Expire noncurrent versions after this many days. Defaults to 90."""
    abort_incomplete_multipart_upload_days: int = 7
    """Abort unfinished multipart uploads after this many days. Defaults to 7."""
    current_version_expiration_days: int | None = None
    """Expire current objects after this many days (log buckets). Defaults to never."""
    access_log_target: bool = False
    """This bucket receives server access logs from ``log_sources`` in ``account_id``: the
    policy lets the S3 logging service write under its prefixes. Defaults to off."""
    account_id: pulumi.Input[str] | None = None
    """Account whose buckets may log here (with ``access_log_target``). Defaults to none."""
    force_destroy: bool = False
    """Named opt-out: let ``pulumi destroy`` delete a non-empty bucket. Defaults to false."""

    def __post_init__(self) -> None:
        check.check_mapping(self, "tags", self.tags)
        check.check_type(self, "region", self.region, str)
        check.check_type(self, "purpose", self.purpose, str)
        if self.purpose not in {p.value for p in BucketPurpose}:
            check.fail(self, "purpose", f"{self.purpose!r} is not one of {', '.join(p.value for p in BucketPurpose)}")
        if self.kms_key is None and not self.access_log_target:
            check.fail(self, "kms_key", "is required unless access_log_target is on (SSE-KMS for data buckets)")
        if self.kms_key is not None:
            check_kms_key(self, "kms_key", self.kms_key)
        check.check_int(self, "noncurrent_version_expiration_days", self.noncurrent_version_expiration_days, 1, 3650)
        check.check_int(
            self, "abort_incomplete_multipart_upload_days", self.abort_incomplete_multipart_upload_days, 1, 365
        )
        if self.current_version_expiration_days is not None:
            check.check_int(self, "current_version_expiration_days", self.current_version_expiration_days, 1, 3650)
        check.check_type(self, "force_destroy", self.force_destroy, bool)

    @property
    def kms_key_arn(self) -> pulumi.Input[str] | None:
        """The ARN of ``kms_key``; None without one."""
        return kms_key_arn(self.kms_key) if self.kms_key is not None else None


class ArtifactBucket(pulumi.ComponentResource):
    """A private, versioned, KMS-encrypted, TLS-only S3 bucket.

    Children (named ``<name>-<control>``): the bucket, versioning (Enabled), SSE-KMS with a
    bucket key (or SSE-S3 for an access-log target), all four public-access-block settings,
    ownership ``BucketOwnerEnforced`` (ACLs disabled), a bucket policy that denies non-TLS
    requests, lifecycle rules (noncurrent version expiry, multipart abort), server access
    logging, optional EventBridge notifications and optional Object Lock.

    Example::

        landing = ArtifactBucket("landing", ArtifactBucketArgs(tags=tags, region=region,
                                 kms_key=key, purpose=BucketPurpose.LANDING, log_bucket=logs,
                                 eventbridge_notifications=True))
        statements = landing.read_statements("raw/transactions/")
    """

    bucket: aws.s3.Bucket
    """The bucket resource."""
    name: pulumi.Output[str]
    """The bucket name."""
    arn: pulumi.Output[str]
    """The bucket ARN."""

    def __init__(self, name: str, args: ArtifactBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-ai:storage:ArtifactBucket", name, None, opts)
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            object_lock_enabled=args.object_lock is not None or None,
            force_destroy=args.force_destroy,
            tags={**args.tags, PURPOSE_TAG: str(args.purpose)},
            opts=child,
        )
        self.name = self.bucket.bucket
        self.arn = self.bucket.arn
        bucket_id = self.bucket.id

        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket_id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        sse_default: aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgsDict
        if args.kms_key_arn is not None:
            sse_default = {"sse_algorithm": "aws:kms", "kms_master_key_id": args.kms_key_arn}
        else:
            sse_default = {"sse_algorithm": "AES256"}
        sse_rule: aws.s3.BucketServerSideEncryptionConfigurationRuleArgsDict = {
            "apply_server_side_encryption_by_default": sse_default,
            "bucket_key_enabled": True,
        }
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket_id,
            rules=[sse_rule],
            opts=child,
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket_id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket_id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket_id,
            policy=self._bucket_policy(args),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access]),
        )
        rules: list[aws.s3.BucketLifecycleConfigurationRuleArgsDict] = [
            {
                "id": "expire-noncurrent-versions",
                "status": "Enabled",
                "filter": {"prefix": ""},
                "noncurrent_version_expiration": {"noncurrent_days": args.noncurrent_version_expiration_days},
            },
            {
                "id": "abort-incomplete-multipart-uploads",
                "status": "Enabled",
                "filter": {"prefix": ""},
                "abort_incomplete_multipart_upload": {
                    "days_after_initiation": args.abort_incomplete_multipart_upload_days
                },
            },
        ]
        if args.current_version_expiration_days is not None:
            rules.append(
                {
                    "id": "expire-current-objects",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "expiration": {"days": args.current_version_expiration_days},
                }
            )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket_id,
            rules=rules,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        if args.log_bucket is not None:
            aws.s3.BucketLogging(
                f"{name}-access-logging",
                bucket=bucket_id,
                target_bucket=args.log_bucket.bucket.id,
                target_prefix=args.log_prefix or f"{name}/",
                target_object_key_format={"partitioned_prefix": {"partition_date_source": "EventTime"}},
                opts=child,
            )
        if args.eventbridge_notifications:
            aws.s3.BucketNotification(f"{name}-notifications", bucket=bucket_id, eventbridge=True, opts=child)
        if args.object_lock is not None:
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock",
                bucket=bucket_id,
                object_lock_enabled="Enabled",
                rule={"default_retention": {"mode": args.object_lock.mode, "days": args.object_lock.days}},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
            )
        self.register_outputs({"name": self.name, "arn": self.arn})

    def _bucket_policy(self, args: ArtifactBucketArgs) -> pulumi.Output[str]:
        objects = pulumi.Output.concat(self.bucket.arn, "/*")
        statements: list[Statement] = [deny_insecure_transport([self.bucket.arn, objects], "s3:*")]
        if args.access_log_target:
            statements.append(
                {
                    "Sid": "S3ServerAccessLogsFromThisAccount",
                    "Effect": "Allow",
                    "Principal": {"Service": "logging.s3.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": objects,
                    "Condition": {"StringEquals": {"aws:SourceAccount": args.account_id}},
                }
            )
        return policy_document(statements)

    # -- least-privilege grants ---------------------------------------------------------------

    def _kms(self, actions: Sequence[str]) -> list[Statement]:
        if self._args.kms_key_arn is None:
            return []
        return [
            {
                "Effect": "Allow",
                "Action": list(actions),
                "Resource": self._args.kms_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{self._args.region}.amazonaws.com"}},
            }
        ]

    def read_statements(self, prefix: str, *, head_missing_keys: bool = False) -> list[Statement]:
        """Statements to read objects under ``prefix`` (and list that prefix), with KMS decrypt.

        ``prefix`` is a key prefix such as ``raw/transactions/``; an empty prefix grants the
        whole bucket. The key statement is limited to use through S3 in the stack's region.

        ``head_missing_keys`` defaults to off: listing is limited to ``prefix`` by an ``s3:prefix``
        condition, and ``HeadObject``/``GetObject`` on a key that does not exist answers **403**
        AccessDenied. Turn it on for a principal that must tell "absent" from "forbidden" (write-once
        checks, fallbacks to another key): ``s3:ListBucket`` is then granted on the bucket without a
        condition, which is what makes S3 answer **404** NoSuchKey ("If you have the s3:ListBucket
        permission on the bucket, Amazon S3 returns an HTTP status code 404 Not Found error. If you don't
        have the s3:ListBucket permission, Amazon S3 returns an HTTP status code 403 Forbidden error."
        https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html). A ``HeadObject``/``GetObject``
        request carries no ``s3:prefix`` key, so a prefix-conditioned ``ListBucket`` never counts. The cost
        is that the principal may list every key name of the bucket (not read other objects).
        """
        objects: Statement = {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": pulumi.Output.concat(self.bucket.arn, "/", prefix, "*"),
        }
        listing: dict[str, object] = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": self.bucket.arn}
        if not head_missing_keys:
            listing["Condition"] = {"StringLike": {"s3:prefix": [f"{prefix}*"]}}
        return [objects, listing, *self._kms(["kms:Decrypt"])]

    def write_statements(self, prefix: str) -> list[Statement]:
        """Statements to write objects under ``prefix``, with the KMS data-key permissions SSE-KMS needs."""
        return [
            {
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": pulumi.Output.concat(self.bucket.arn, "/", prefix, "*"),
            },
            *self._kms(["kms:GenerateDataKey", "kms:Decrypt"]),
        ]

    def grant_read(
        self, name: str, role: aws.iam.Role, prefix: str, *, head_missing_keys: bool = False
    ) -> aws.iam.RolePolicy:
        """Attach :meth:`read_statements` for ``prefix`` to ``role`` as an inline policy ``name``.

        ``head_missing_keys`` defaults to off; see :meth:`read_statements`.
        """
        return aws.iam.RolePolicy(
            name,
            role=role.id,
            policy=policy_document(self.read_statements(prefix, head_missing_keys=head_missing_keys)),
            opts=pulumi.ResourceOptions(parent=role),
        )

    def grant_write(self, name: str, role: aws.iam.Role, prefix: str) -> aws.iam.RolePolicy:
        """Attach :meth:`write_statements` for ``prefix`` to ``role`` as an inline policy ``name``."""
        return aws.iam.RolePolicy(
            name,
            role=role.id,
            policy=policy_document(self.write_statements(prefix)),
            opts=pulumi.ResourceOptions(parent=role),
        )
