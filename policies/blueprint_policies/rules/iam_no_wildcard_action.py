"""Identity policies never allow every action, of every service or of one service."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from pulumi_policy import ResourceValidationArgs, Severity

from ._iam import IDENTITY_TYPES, full_service_wildcard, identity_statements, statement_actions

META = Meta(
    id="BP-IAM-001",
    name="iam-no-wildcard-action",
    description="IAM identity policies (inline, role inline and customer-managed) do not Allow '*', '*:*' or "
    "'<service>:*', nor use Allow with NotAction.",
    severity=Severity.CRITICAL,
    category="security",
    resource_types=IDENTITY_TYPES,
    remediation="List the actions the workload needs (the components' grant_* methods do).",
    equivalents=Equivalents(
        checkov=("CKV_AWS_62", "CKV_AWS_63", "CKV_AWS_286"), cdk_nag=("AwsSolutions-IAM5",), trivy=("AVD-AWS-0057",)
    ),
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report Allow statements with full-service wildcard actions or NotAction."""
    for label, statement in identity_statements(args.resource_type, args.props):
        if statement.get("Effect") != "Allow":
            continue
        wild = [a for a in statement_actions(statement) if full_service_wildcard(a)]
        if any(a.strip() in ("*", "*:*") for a in wild):
            report(f"'{args.name}' statement {label} allows every action ('*')")
        elif wild:
            report(f"'{args.name}' statement {label} allows every action of a service ({', '.join(sorted(wild))})")
        if statement.get("NotAction"):
            report(f"'{args.name}' statement {label} uses Allow with NotAction, which allows everything else")


POLICY = ResourcePolicy(META, check)
