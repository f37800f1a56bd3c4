"""No S3 ACL grants access to everyone or to every AWS account, and no policy lets uploads do so."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import as_list, get, policy_document, statements
from pulumi_policy import ResourceValidationArgs, Severity

from ._iam import POLICY_FIELDS, identity_statements

PUBLIC_CANNED = ("public-read", "public-read-write", "authenticated-read")
"""Canned ACLs that grant AllUsers or AuthenticatedUsers
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/acl-overview.html#canned-acl)."""

PUBLIC_GROUPS = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)
"""Grantee group URIs for everyone and for any AWS account."""

ACL_KEYS = (
    "s3:x-amz-acl",
    "s3:x-amz-grant-read",
    "s3:x-amz-grant-write",
    "s3:x-amz-grant-read-acp",
    "s3:x-amz-grant-write-acp",
    "s3:x-amz-grant-full-control",
)

ACL_RESOURCES = (
    "aws:s3/bucketAcl:BucketAcl",
    "aws:s3/bucketAclV2:BucketAclV2",
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketV2:BucketV2",
    "aws:s3/bucketObject:BucketObject",
    "aws:s3/bucketObjectv2:BucketObjectv2",
    "aws:s3/objectCopy:ObjectCopy",
)

META = Meta(
    id="BP-S3-009",
    name="s3-no-public-acl-grants",
    description="No bucket or object ACL (canned or grants) gives access to AllUsers or AuthenticatedUsers, and no "
    "bucket or identity policy allows PutObject/PutObjectAcl with a condition on a public ACL.",
    severity=Severity.CRITICAL,
    category="security",
    resource_types=(*ACL_RESOURCES, "aws:s3/bucketPolicy:BucketPolicy", *POLICY_FIELDS, "aws:iam/role:Role"),
    remediation="Remove the ACL (ownership BucketOwnerEnforced disables ACLs) and the public-ACL condition; "
    "share through a bucket policy naming principals.",
    equivalents=Equivalents(checkov=("CKV_AWS_20", "CKV_AWS_57"), trivy=("AVD-AWS-0092",)),
)


def _public_grants(grants: list[Any]) -> list[str]:
    found: list[str] = []
    for grant in grants:
        if not isinstance(grant, Mapping):
            continue
        grantee = grant.get("grantee") if isinstance(grant.get("grantee"), Mapping) else grant
        uri = str((grantee or {}).get("uri") or "")
        if uri in PUBLIC_GROUPS:
            found.append(
                f"{uri.rsplit('/', 1)[-1]}:{grant.get('permission') or ','.join(grant.get('permissions') or [])}"
            )
    return found


def _acl_values(condition: Any) -> list[str]:
    found: list[str] = []
    if not isinstance(condition, Mapping):
        return found
    for operator, entries in condition.items():
        if str(operator).startswith(("StringNot", "ForAllValues:StringNot")) or not isinstance(entries, Mapping):
            continue
        for key, values in entries.items():
            if str(key).lower() in ACL_KEYS:
                for value in as_list(values):
                    text = str(value)
                    if text in PUBLIC_CANNED or any(g in text for g in PUBLIC_GROUPS) or text.strip("*") == "":
                        found.append(f"{key}={text}")
    return found


def _put_actions(statement: Mapping[str, Any]) -> bool:
    for action in as_list(statement.get("Action")):
        text = str(action).lower()
        if text in ("*", "s3:*", "s3:put*", "s3:putobject", "s3:putobjectacl", "s3:putobject*"):
            return True
    return False


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report public canned ACLs, public grants and policies that let uploads set them."""
    if args.resource_type in ACL_RESOURCES:
        acl = get(args.props, "acl")
        if args.resource_type in ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2"):
            grants = get(args.props, "accessControlPolicy.grants") or []
        else:
            grants = get(args.props, "grants") or []
        if acl in PUBLIC_CANNED:
            report(f"'{args.name}' uses the canned ACL {acl}")
        for grant in _public_grants(grants):
            report(f"'{args.name}' grants {grant}")
        return
    if args.resource_type == "aws:s3/bucketPolicy:BucketPolicy":
        labelled = [
            (str(s.get("Sid") or f"#{i}"), s)
            for i, s in enumerate(statements(policy_document(get(args.props, "policy"))))
        ]
    else:
        labelled = identity_statements(args.resource_type, args.props)
    for label, statement in labelled:
        if statement.get("Effect") == "Allow" and _put_actions(statement):
            for value in _acl_values(statement.get("Condition")):
                report(f"'{args.name}' statement {label} allows uploads with a public ACL ({value})")


POLICY = ResourcePolicy(META, check)
