"""Lambda environment variables hold no secrets."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import get
from pulumi_policy import ResourceValidationArgs, Severity

SECRET_NAME = re.compile(r"(?i)(secret|password|passwd|token|api[_-]?key|private[_-]?key|credential)")
SECRET_VALUE = re.compile(
    r"(AKIA|ASIA)[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----|ghp_[A-Za-z0-9]{36}|xox[abp]-|sk_live_[0-9A-Za-z]{16,}"
)

META = Meta(
    id="BP-LMB-003",
    name="lambda-no-secrets-in-environment",
    description="Lambda environment variables have no secret-looking names or values.",
    severity=Severity.HIGH,
    category="security",
    resource_types=("aws:lambda/function:Function",),
    remediation="Keep the secret in Secrets Manager or SSM Parameter Store and pass its name; grant the role "
    "read access to that one secret.",
    equivalents=Equivalents(checkov=("CKV_AWS_45",)),
    config={
        "allowedNames": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Variable names that look secret but hold none (e.g. SECRET_ARN). Defaults to none.",
        }
    },
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report secret-looking names and values (values are never echoed)."""
    variables = get(args.props, "environment.variables") or {}
    allowed = {str(n) for n in config.get("allowedNames") or []}
    for name, value in sorted(variables.items()):
        if name in allowed:
            continue
        if SECRET_NAME.search(name):
            report(f"function '{args.name}': environment variable {name} looks like a secret")
        elif isinstance(value, str) and SECRET_VALUE.search(value):
            report(f"function '{args.name}': environment variable {name} holds a credential-shaped value")


POLICY = ResourcePolicy(META, check)
