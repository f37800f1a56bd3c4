"""No role can be assumed by any principal."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import as_list, get, policy_document, statements
from pulumi_policy import ResourceValidationArgs, Severity

RESTRICTING_KEYS = frozenset(
    k.lower()
    for k in (
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
        "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths",
        "aws:SourceAccount",
        "aws:SourceArn",
        "aws:SourceOrgID",
        "aws:SourceOrgPaths",
        "aws:userid",
    )
)
"""Global condition keys that name who may assume the role
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html)."""

POSITIVE_OPERATORS = (
    "StringEquals",
    "StringLike",
    "ArnEquals",
    "ArnLike",
    "ForAnyValue:StringEquals",
    "ForAnyValue:StringLike",
    "ForAllValues:StringEquals",
    "ForAllValues:StringLike",
)
"""Operators that restrict to the listed values (a Not*/IfExists form does not)."""

META = Meta(
    id="BP-IAM-004",
    name="iam-trust-not-public",
    description="No role's trust policy lets any principal assume it (Principal '*', AWS '*' or "
    "'arn:aws:iam::*:root', or Allow with NotPrincipal) without a condition naming the account, organization "
    "or principal.",
    severity=Severity.CRITICAL,
    category="security",
    resource_types=("aws:iam/role:Role",),
    remediation="Name the trusted service or account in Principal, or add a StringEquals condition on "
    "aws:PrincipalOrgID / aws:PrincipalAccount / aws:SourceAccount.",
    equivalents=Equivalents(checkov=("CKV_AWS_60", "CKV_AWS_61"), trivy=("AVD-AWS-0143",)),
)


def _everyone(principal: Any) -> bool:
    """``*``, or an AWS/Federated/CanonicalUser entry of ``*`` or an ARN in any account (``arn:aws:iam::*:root``)."""
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        for kind in ("AWS", "Federated", "CanonicalUser"):
            for value in as_list(principal.get(kind)):
                parts = str(value).strip().split(":")
                if parts == ["*"] or (len(parts) > 4 and parts[0] == "arn" and parts[4].strip("*") == ""):
                    return True
    return False


def _restricted(condition: Any) -> bool:
    if not isinstance(condition, Mapping):
        return False
    for operator, entries in condition.items():
        if operator not in POSITIVE_OPERATORS or not isinstance(entries, Mapping):
            continue
        for key, values in entries.items():
            if str(key).lower() in RESTRICTING_KEYS and all(str(v).strip("*?") for v in as_list(values)):
                return True
    return False


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report trust statements open to everyone."""
    document = policy_document(get(args.props, "assumeRolePolicy"), "assumeRolePolicy")
    for index, statement in enumerate(statements(document)):
        if statement.get("Effect") != "Allow":
            continue
        label = statement.get("Sid") or f"#{index}"
        if statement.get("NotPrincipal") is not None:
            report(
                f"role '{args.name}' trust statement {label} uses Allow with NotPrincipal: anyone else may assume it"
            )
        elif _everyone(statement.get("Principal")) and not _restricted(statement.get("Condition")):
            report(f"role '{args.name}' trust statement {label} lets any principal assume it")


POLICY = ResourcePolicy(META, check)
