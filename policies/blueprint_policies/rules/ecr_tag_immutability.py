"""ECR repositories do not let a pushed tag be overwritten."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import get
from pulumi_policy import ResourceValidationArgs, Severity

META = Meta(
    id="BP-ECR-001",
    name="ecr-tag-immutability",
    description="ECR repositories set imageTagMutability=IMMUTABLE (or IMMUTABLE_WITH_EXCLUSION whose exclusion "
    "filters do not cover every tag).",
    severity=Severity.HIGH,
    category="security",
    resource_types=("aws:ecr/repository:Repository",),
    remediation="Set image_tag_mutability='IMMUTABLE' (the default is MUTABLE): a deployed tag must always "
    "name the same image.",
    equivalents=Equivalents(checkov=("CKV_AWS_51",), trivy=("AVD-AWS-0031",)),
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report mutable repositories (MUTABLE is the default)."""
    mutability = str(get(args.props, "imageTagMutability") or "MUTABLE")
    if mutability == "IMMUTABLE":
        return
    if mutability == "IMMUTABLE_WITH_EXCLUSION":
        filters = [str(f.get("filter", "")) for f in get(args.props, "imageTagMutabilityExclusionFilters") or []]
        every = [f for f in filters if f.strip("*") == ""]
        if every:
            report(f"repository '{args.name}' excludes every tag ({every}) from immutability")
        return
    report(f"repository '{args.name}' has {mutability} tags: a pushed tag can be overwritten")


POLICY = ResourcePolicy(META, check)
