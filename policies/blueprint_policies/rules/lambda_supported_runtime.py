"""Lambda functions use a supported runtime."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import get
from pulumi_policy import ResourceValidationArgs, Severity

SUPPORTED = [
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
    "nodejs20.x",
    "nodejs22.x",
    "java17",
    "java21",
    "dotnet8",
    "ruby3.3",
    "ruby3.4",
    "provided.al2023",
    "provided.al2",
]

META = Meta(
    id="BP-LMB-004",
    name="lambda-supported-runtime",
    description="Lambda functions use a runtime AWS still supports.",
    severity=Severity.MEDIUM,
    category="security",
    resource_types=("aws:lambda/function:Function",),
    remediation="Move the function to a supported runtime (the preprocessing functions accept python3.12 or 3.13).",
    equivalents=Equivalents(checkov=("CKV_AWS_363",), cdk_nag=("AwsSolutions-L1",)),
    config={
        "supportedRuntimes": {
            "type": "array",
            "items": {"type": "string"},
            "default": SUPPORTED,
            "description": f"Runtimes allowed. Defaults to {SUPPORTED}.",
        }
    },
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report a zip function whose runtime is not supported."""
    if get(args.props, "packageType") == "Image":
        args.not_applicable("container-image functions bring their own runtime")
    runtime = get(args.props, "runtime")
    supported = [str(r) for r in config.get("supportedRuntimes") or SUPPORTED]
    if runtime not in supported:
        report(f"function '{args.name}' uses runtime {runtime or 'unset'}; supported: {supported}")


POLICY = ResourcePolicy(META, check)
