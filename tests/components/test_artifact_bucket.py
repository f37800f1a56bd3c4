"""ArtifactBucket: every data-protection control, as the offline plan shows it."""

from __future__ import annotations

import json

import pytest

from hybrid_ai_platform.cli.synth import Plan, RecordedResource, synthesize
from tests.plan_helpers import children_of, depends_via, named, of_type, statements

DATA_BUCKETS = ("landing", "feature-store", "model-registry")


def sibling(plan: Plan, bucket: str, suffix: str) -> RecordedResource:
    return named(plan, f"{bucket}-{suffix}")


@pytest.mark.parametrize("bucket", DATA_BUCKETS)
def test_data_bucket_has_every_control(prod_plan: Plan, bucket: str) -> None:
    # GIVEN the prod plan WHEN looking at a data bucket's configuration siblings
    the_bucket = sibling(prod_plan, bucket, "bucket")
    key = named(prod_plan, "stack-key-key")
    log_bucket = named(prod_plan, "access-logs-bucket")
    # THEN each control is present and joined to this bucket through property dependencies
    versioning = sibling(prod_plan, bucket, "versioning")
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    assert depends_via(versioning, "bucket", the_bucket)

    encryption = sibling(prod_plan, bucket, "encryption")
    rule = encryption.inputs["rules"][0]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert rule["bucketKeyEnabled"] is True
    assert depends_via(encryption, "rules", key)

    pab = sibling(prod_plan, bucket, "public-access")
    assert all(
        pab.inputs[k] is True
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    assert sibling(prod_plan, bucket, "ownership").inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"

    policy = statements(sibling(prod_plan, bucket, "policy").inputs["policy"])
    tls = [s for s in policy if s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}]
    assert tls and tls[0]["Principal"] == "*" and tls[0]["Action"] == "s3:*"
    arn = f"arn:aws:s3:::{the_bucket.id}"
    assert sorted(tls[0]["Resource"]) == [arn, f"{arn}/*"]
    assert not [s for s in policy if s["Effect"] == "Allow" and s.get("Principal") in ("*", {"AWS": "*"})]

    rules = {r["id"]: r for r in sibling(prod_plan, bucket, "lifecycle").inputs["rules"]}
    assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"]["noncurrentDays"] == 365
    assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 7

    logging = sibling(prod_plan, bucket, "access-logging")
    assert depends_via(logging, "targetBucket", log_bucket)
    assert logging.inputs["targetPrefix"] == f"{bucket}/"


def test_only_landing_bucket_sends_events_to_eventbridge(prod_plan: Plan) -> None:
    notifications = of_type(prod_plan, "aws:s3/bucketNotification:BucketNotification")
    assert [n.name for n in notifications] == ["landing-notifications"]
    assert notifications[0].inputs["eventbridge"] is True


@pytest.mark.parametrize(("stack", "mode", "days"), [("prod", "COMPLIANCE", 90), ("dev", "GOVERNANCE", 1)])
def test_model_registry_object_lock_mode_follows_environment(stack: str, mode: str, days: int) -> None:
    from tests.conftest import shipped_plan

    plan = shipped_plan(stack)
    assert named(plan, "model-registry-bucket").inputs["objectLockEnabled"] is True
    lock = named(plan, "model-registry-object-lock")
    assert lock.inputs["rule"]["defaultRetention"] == {"mode": mode, "days": days}
    # Object Lock needs versioning first
    assert named(plan, "model-registry-versioning").urn in lock.options["depends_on"]
    # and only the registry is locked
    assert len(of_type(plan, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")) == 1


def test_access_log_bucket_uses_sse_s3_and_admits_only_this_accounts_log_delivery(prod_plan: Plan) -> None:
    # S3 server access logging cannot write to an SSE-KMS bucket, so the target uses SSE-S3.
    rule = named(prod_plan, "access-logs-encryption").inputs["rules"][0]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    policy = statements(named(prod_plan, "access-logs-policy").inputs["policy"])
    allow = [s for s in policy if s["Effect"] == "Allow"]
    assert allow == [
        {
            "Sid": "S3ServerAccessLogsFromThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{named(prod_plan, 'access-logs-bucket').id}/*",
            "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
        }
    ]
    rules = {r["id"] for r in named(prod_plan, "access-logs-lifecycle").inputs["rules"]}
    assert "expire-current-objects" in rules


def test_buckets_keep_data_on_destroy_by_default(any_stack_plan: Plan) -> None:
    for bucket in of_type(any_stack_plan, "aws:s3/bucket:Bucket"):
        assert bucket.inputs.get("forceDestroy") is False, bucket.name


def test_bucket_names_are_valid_s3_names(any_stack_plan: Plan) -> None:
    import re

    for bucket in of_type(any_stack_plan, "aws:s3/bucket:Bucket"):
        assert bucket.id is not None and re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", bucket.id), bucket.id


def test_grants_are_least_privilege_on_a_prefix() -> None:
    # GIVEN a program that grants a role read on one prefix and write on another
    import pulumi
    import pulumi_aws as aws
    from hybrid_ai_platform.components.artifact_bucket import ArtifactBucket, ArtifactBucketArgs

    def program() -> None:
        tags = {"environment": "dev"}
        bucket = ArtifactBucket(
            "data",
            ArtifactBucketArgs(
                tags=tags,
                region="eu-west-1",
                kms_key="arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555",
                purpose="features",
            ),
        )
        role = aws.iam.Role("reader", assume_role_policy="{}")
        bucket.grant_read("reader-read", role, "in/")
        bucket.grant_write("reader-write", role, "out/")
        bucket.grant_read("reader-head", role, "maybe/", head_missing_keys=True)
        pulumi.export("bucket", bucket.name)

    # WHEN synthesized
    plan = synthesize("dev", program=program)
    read = statements(named(plan, "reader-read").inputs["policy"])
    write = statements(named(plan, "reader-write").inputs["policy"])
    bucket_arn = f"arn:aws:s3:::{named(plan, 'data-bucket').id}"
    key = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    # THEN read covers exactly the prefix, listing only under it, and decrypt through S3 only
    assert read[0] == {
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:GetObjectVersion"],
        "Resource": f"{bucket_arn}/in/*",
    }
    assert read[1]["Resource"] == bucket_arn and read[1]["Condition"] == {"StringLike": {"s3:prefix": ["in/*"]}}
    assert read[2] == {
        "Effect": "Allow",
        "Action": ["kms:Decrypt"],
        "Resource": key,
        "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
    }
    # AND a reader that must see 404 for absent keys gets ListBucket on the bucket without a condition
    # (AWS answers 403 to HeadObject on an absent key otherwise; moto does not model it)
    head = statements(named(plan, "reader-head").inputs["policy"])
    assert head[0]["Resource"] == f"{bucket_arn}/maybe/*"
    assert head[1] == {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn}
    assert write[0]["Resource"] == f"{bucket_arn}/out/*"
    assert write[0]["Action"] == ["s3:PutObject", "s3:AbortMultipartUpload"]
    assert write[1]["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"] and write[1]["Resource"] == key
    # and the bucket's configuration children are all parented to the component
    component = next(r for r in plan.resources if r.type == "hybrid-ai:storage:ArtifactBucket")
    assert len(children_of(plan, component.urn)) == 7
    assert json.loads(json.dumps(plan.outputs))["bucket"] == named(plan, "data-bucket").id


def test_kms_key_is_required_for_data_buckets() -> None:
    from hybrid_ai_platform.components.artifact_bucket import ArtifactBucket, ArtifactBucketArgs

    def program() -> None:
        ArtifactBucket("data", ArtifactBucketArgs(tags={}, region="eu-west-1", kms_key=None, purpose="features"))

    with pytest.raises(ValueError, match=r"ArtifactBucketArgs\.kms_key: is required unless access_log_target is on"):
        synthesize("dev", program=program)
