"""Identity policies never allow every action."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from blueprint_policies.framework import Equivalents, Meta, ResourcePolicy
from blueprint_policies.props import as_list

from ._iam import IDENTITY_TYPES, identity_statements

META = Meta(
    id="BP-IAM-001",
    name="iam-no-wildcard-action",
    description="IAM identity policies do not Allow the action '*' (nor use Allow with NotAction).",
    severity=Severity.CRITICAL,
    category="security",
    resource_types=IDENTITY_TYPES,
    remediation="List the actions the workload needs (the components' grant_* methods do).",
    equivalents=Equivalents(
        checkov=("CKV_AWS_62", "CKV_AWS_63", "CKV_AWS_286"), cdk_nag=("AwsSolutions-IAM5",), trivy=("AVD-AWS-0057",)
    ),
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report Allow statements with ``*`` actions or NotAction."""
    for label, statement in identity_statements(args.resource_type, args.props):
        if statement.get("Effect") != "Allow":
            continue
        if "*" in [str(a) for a in as_list(statement.get("Action"))]:
            report(f"'{args.name}' statement {label} allows every action ('*')")
        if statement.get("NotAction"):
            report(f"'{args.name}' statement {label} uses Allow with NotAction, which allows everything else")


POLICY = ResourcePolicy(META, check)
