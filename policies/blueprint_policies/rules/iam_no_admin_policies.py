"""Workload roles never get administrator managed policies."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from blueprint_policies.framework import Equivalents, Meta, ResourcePolicy
from blueprint_policies.props import get

FORBIDDEN = ["AdministratorAccess", "PowerUserAccess", "IAMFullAccess"]

ATTACHMENTS = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)

META = Meta(
    id="BP-IAM-003",
    name="iam-no-admin-managed-policies",
    description="No AdministratorAccess, PowerUserAccess or IAMFullAccess managed policy is attached by the stack.",
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
            "description": f"Managed policy names refused. Defaults to {FORBIDDEN}.",
        }
    },
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report attachments (and a role's managedPolicyArns) of forbidden AWS-managed policies."""
    forbidden = {str(p) for p in config.get("forbiddenPolicies") or FORBIDDEN}
    if args.resource_type == "aws:iam/role:Role":
        arns = [str(a) for a in get(args.props, "managedPolicyArns") or []]
    else:
        arns = [str(get(args.props, "policyArn") or "")]
    for arn in arns:
        if arn.rsplit("/", 1)[-1] in forbidden and ":aws:policy/" in arn:
            report(f"'{args.name}' attaches {arn}")


POLICY = ResourcePolicy(META, check)
