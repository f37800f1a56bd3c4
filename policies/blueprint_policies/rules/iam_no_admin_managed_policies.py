"""The stack never attaches AWS-managed policies that grant administrator, power-user or full-service access."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import get, wildcard_match
from pulumi_policy import ResourceValidationArgs, Severity

GRANTS: dict[str, str] = {
    # What each AWS-managed policy grants, from the AWS Managed Policy Reference
    # (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/policy-list.html), as of 2026-11.
    "AdministratorAccess": "Action '*' on Resource '*'",
    "PowerUserAccess": "NotAction iam:*/organizations:*/account:* on '*' (everything else)",
    "IAMFullAccess": "iam:* on '*' (a path to administrator)",
    "job-function/SystemAdministrator": "broad write access to most services, including iam:PassRole",
    "job-function/NetworkAdministrator": "ec2/VPC/route53/direct connect write on '*'",
    "job-function/DatabaseAdministrator": "rds/dynamodb/redshift/... write on '*'",
    "ReadOnlyAccess": "read of every service on '*', including s3:Get* (all object data)",
    "AmazonS3ReadOnlyAccess": "s3:Get*/List* on '*' (every bucket's objects)",
    "SecretsManagerReadWrite": "secretsmanager:* on '*'",
    "AWSKeyManagementServicePowerUser": "kms:Create*/Put*/... on '*'",
}
"""AWS-managed policies refused by name, with what they grant."""

FULL_ACCESS_PATTERN = "*FullAccess"
"""AWS-managed ``<service>FullAccess`` policies grant ``<service>:*`` on ``*`` (AmazonS3FullAccess,
AmazonSQSFullAccess, AmazonDynamoDBFullAccess, AWSLambda_FullAccess, ...): refused by pattern."""

FORBIDDEN = sorted([*GRANTS, FULL_ACCESS_PATTERN])

ATTACHMENTS = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
    "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
    "aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive",
    "aws:iam/groupPolicyAttachmentsExclusive:GroupPolicyAttachmentsExclusive",
)

META = Meta(
    id="BP-IAM-003",
    name="iam-no-admin-managed-policies",
    description="No AWS-managed policy that grants administrator, power-user, IAM, full-service (*FullAccess) or "
    "all-data read access is attached by the stack (attachments, a role's managedPolicyArns).",
    severity=Severity.CRITICAL,
    category="security",
    resource_types=(*ATTACHMENTS, "aws:iam/role:Role"),
    remediation="Grant least privilege with the components' grant_* methods; keep admin access on the "
    "platform-admin roles outside this stack.",
    equivalents=Equivalents(checkov=("CKV_AWS_274",), cdk_nag=("AwsSolutions-IAM4",)),
    config={
        "forbiddenPolicies": {
            "type": "array",
            "items": {"type": "string"},
            "default": FORBIDDEN,
            "description": "AWS-managed policy names (after arn:aws:iam::aws:policy/, `*` wildcards) refused. "
            f"Defaults to {FORBIDDEN}.",
        }
    },
)


def _arns(args: ResourceValidationArgs) -> list[str]:
    if args.resource_type == "aws:iam/role:Role":
        return [str(a) for a in get(args.props, "managedPolicyArns") or []]
    if args.resource_type.endswith("PolicyAttachmentsExclusive"):
        return [str(a) for a in get(args.props, "policyArns") or []]
    return [str(get(args.props, "policyArn") or "")]


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report attachments of forbidden AWS-managed policies, naming what they grant."""
    forbidden = [str(p) for p in config.get("forbiddenPolicies") or FORBIDDEN]
    for arn in _arns(args):
        marker = ":aws:policy/"
        if marker not in arn:
            continue  # customer-managed: its document is judged by the iam-no-wildcard-* policies
        name = arn.split(marker, 1)[1]
        if wildcard_match(name, forbidden) or wildcard_match(name.rsplit("/", 1)[-1], forbidden):
            grants = GRANTS.get(name, "<service>:* on '*'" if name.endswith("FullAccess") else "broad access")
            report(f"'{args.name}' attaches {arn}, which grants {grants}")


POLICY = ResourcePolicy(META, check)
