"""Data actions are scoped to named resources."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from blueprint_policies.framework import Equivalents, Meta, ResourcePolicy
from blueprint_policies.props import as_list

from ._iam import IDENTITY_TYPES, identity_statements

DATA_SERVICES = [
    "s3",
    "kms",
    "sqs",
    "sns",
    "dynamodb",
    "secretsmanager",
    "ssm",
    "kinesis",
    "firehose",
    "rds",
    "glue",
    "athena",
    "ecr",
    "lambda",
    "states",
]

META = Meta(
    id="BP-IAM-002",
    name="iam-no-wildcard-resource-for-data",
    description="IAM identity policies do not Allow data actions (s3, kms, sqs, dynamodb, secretsmanager, ...) on "
    "Resource '*'.",
    severity=Severity.HIGH,
    category="security",
    resource_types=IDENTITY_TYPES,
    remediation="Scope the statement to the ARNs the workload uses (bucket/prefix, queue, key, secret).",
    equivalents=Equivalents(checkov=("CKV_AWS_355", "CKV_AWS_290"), cdk_nag=("AwsSolutions-IAM5",)),
    config={
        "dataServices": {
            "type": "array",
            "items": {"type": "string"},
            "default": DATA_SERVICES,
            "description": f"Service prefixes whose actions need named resources. Defaults to {DATA_SERVICES}.",
        }
    },
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report Allow statements on ``*`` resources with data actions."""
    services = {str(s) for s in config.get("dataServices") or DATA_SERVICES}
    for label, statement in identity_statements(args.resource_type, args.props):
        if statement.get("Effect") != "Allow" or "*" not in [str(r) for r in as_list(statement.get("Resource"))]:
            continue
        actions = [str(a) for a in as_list(statement.get("Action"))]
        data = sorted({a for a in actions if a.split(":")[0].lower() in services})
        if data:
            report(f"'{args.name}' statement {label} allows {', '.join(data)} on every resource ('*')")


POLICY = ResourcePolicy(META, check)
