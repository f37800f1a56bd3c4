"""Data actions are scoped to named resources."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from pulumi_policy import ResourceValidationArgs, Severity

from ._iam import IDENTITY_TYPES, identity_statements, statement_actions, statement_resources, wildcard_resource

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
    "every resource, however written ('*', 'arn:aws:s3:::*', 'arn:aws:s3:::*/*', '...:key/*', an account-wide "
    "ARN), nor on NotResource.",
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
    """Report Allow statements whose data actions reach every resource of a service."""
    services = {str(s).lower() for s in config.get("dataServices") or DATA_SERVICES}
    for label, statement in identity_statements(args.resource_type, args.props):
        if statement.get("Effect") != "Allow":
            continue
        actions = statement_actions(statement)
        data = sorted({a for a in actions if a.split(":")[0].strip().lower() in services or a.strip() in ("*", "*:*")})
        if not data:
            continue
        if statement.get("NotResource"):
            report(f"'{args.name}' statement {label} allows {', '.join(data)} on NotResource (every other resource)")
            continue
        wild = [r for r in statement_resources(statement) if wildcard_resource(r)]
        if "*" in wild:
            report(f"'{args.name}' statement {label} allows {', '.join(data)} on every resource ('*')")
        elif wild:
            report(f"'{args.name}' statement {label} allows {', '.join(data)} on account-wide {', '.join(wild)}")


POLICY = ResourcePolicy(META, check)
