"""s3-no-public-acl-grants: canned ACLs, grants to the global groups, and policies letting uploads set them."""

from __future__ import annotations

import pytest
from hybrid_ai_platform.policies.testing import UNKNOWN, resource_args

from tests.policies.rules.support import assert_waived, check, document

NAME = "s3-no-public-acl-grants"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"


def _acl(config: dict | None = None, **props):
    return resource_args("aws:s3/bucketAcl:BucketAcl", {"bucket": "b", **props}, name="acl", config=config)


def _grants(uri: str, permission: str = "READ") -> dict:
    owner = {"id": "owner-id"}
    return {
        "accessControlPolicy": {
            "owner": owner,
            "grants": [
                {"grantee": {"type": "CanonicalUser", "id": "owner-id"}, "permission": "FULL_CONTROL"},
                {"grantee": {"type": "Group", "uri": uri}, "permission": permission},
            ],
        }
    }


def test_private_acls_and_log_delivery_pass() -> None:
    assert check(NAME, _acl(acl="private")).passed
    assert check(NAME, _acl(acl="log-delivery-write")).passed
    assert check(NAME, _acl(**_grants(LOG_DELIVERY, "WRITE"))).passed


@pytest.mark.parametrize("canned", ["public-read", "public-read-write", "authenticated-read"])
@pytest.mark.parametrize(
    "type_",
    [
        "aws:s3/bucketAcl:BucketAcl",
        "aws:s3/bucketAclV2:BucketAclV2",
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketV2:BucketV2",
        "aws:s3/bucketObject:BucketObject",
        "aws:s3/bucketObjectv2:BucketObjectv2",
        "aws:s3/objectCopy:ObjectCopy",
    ],
)
def test_public_canned_acls_fail_everywhere(type_: str, canned: str) -> None:
    outcome = check(NAME, resource_args(type_, {"bucket": "b", "acl": canned}, name="x"))
    assert outcome.messages == [f"'x' uses the canned ACL {canned}"]


@pytest.mark.parametrize("uri", [ALL_USERS, AUTHENTICATED])
def test_grants_to_the_global_groups_fail(uri: str) -> None:
    (message,) = check(NAME, _acl(**_grants(uri, "READ_ACP"))).messages
    assert uri.rsplit("/", 1)[-1] in message and "READ_ACP" in message
    legacy = [{"type": "Group", "uri": uri, "permissions": ["READ"]}]
    assert check(NAME, resource_args("aws:s3/bucket:Bucket", {"grants": legacy}, name="x")).messages


@pytest.mark.parametrize(
    "condition",
    [
        {"StringEquals": {"s3:x-amz-acl": "public-read"}},
        {"StringEquals": {"s3:x-amz-acl": ["bucket-owner-full-control", "public-read-write"]}},
        {"StringLike": {"s3:x-amz-grant-read": f"*uri={ALL_USERS}*"}},
        {"StringLike": {"s3:x-amz-acl": "*"}},
    ],
)
def test_policies_that_let_uploads_set_a_public_acl_fail(condition: dict) -> None:
    statement = {
        "Sid": "Upload",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::1:root"},
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::b/*",
        "Condition": condition,
    }
    bucket_policy = resource_args(
        "aws:s3/bucketPolicy:BucketPolicy", {"bucket": "b", "policy": document(statement)}, name="bp"
    )
    (message,) = check(NAME, bucket_policy).messages
    assert "statement Upload allows uploads with a public ACL" in message
    identity = resource_args(
        "aws:iam/rolePolicy:RolePolicy", {"role": "r", "policy": document({**statement, "Principal": None})}, name="rp"
    )
    assert check(NAME, identity).messages


def test_conditions_that_require_a_private_acl_pass() -> None:
    statement = {
        "Effect": "Allow",
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::b/*",
        "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
    }
    deny = {
        "Effect": "Deny",
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::b/*",
        "Condition": {"StringEquals": {"s3:x-amz-acl": "public-read"}},
    }
    policy = resource_args("aws:s3/bucketPolicy:BucketPolicy", {"policy": document(statement, deny)})
    assert check(NAME, policy).passed


def test_not_applicable_to_other_types_and_unknown_values() -> None:
    assert check(NAME, resource_args("aws:s3/bucketVersioning:BucketVersioning", {})).not_applicable
    assert check(NAME, _acl(acl=UNKNOWN)).not_applicable


def test_exception_waives(exceptions_file) -> None:
    assert_waived(NAME, lambda config: _acl(config, acl="public-read"), exceptions_file)
