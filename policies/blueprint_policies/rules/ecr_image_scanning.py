"""Images pushed to the stack's ECR repositories are scanned for vulnerabilities."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, StackPolicy
from hybrid_ai_platform.policies.props import get, skip_unknown, truthy
from pulumi_policy import PolicyResource, Severity, StackValidationArgs

REPOSITORY = "aws:ecr/repository:Repository"
REGISTRY_SCANNING = "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration"

META = Meta(
    id="BP-ECR-002",
    name="ecr-image-scanning",
    description="Every ECR repository scans images on push: its own scanOnPush when the stack sets no registry "
    "scanning configuration; otherwise a registry rule (SCAN_ON_PUSH / CONTINUOUS_SCAN) whose filter matches it "
    "(repositories no filter matches are manual-only under BASIC and unscanned under ENHANCED).",
    severity=Severity.MEDIUM,
    category="security",
    resource_types=(REPOSITORY, REGISTRY_SCANNING),
    remediation="Set image_scanning_configuration.scan_on_push=True, or add the repository to a registry "
    "scanning rule's repository filters.",
    equivalents=Equivalents(checkov=("CKV_AWS_163",), trivy=("AVD-AWS-0030",)),
)


def matches(name: str, pattern: str) -> bool:
    """ECR filter semantics: without a wildcard the filter matches names that contain it; ``*`` matches any
    characters (https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning-filters.html)."""
    if "*" not in pattern:
        return pattern in name
    return fnmatch.fnmatchcase(name, pattern.replace("?", "[?]"))


def _registry(configs: list[PolicyResource]) -> tuple[str, list[str]] | None:
    """``(scan type, filters that scan)`` of the stack's registry scanning configuration."""
    for config in configs:
        with skip_unknown():
            scan_type = str(get(config.props, "scanType") or "BASIC")
            filters = [
                str(f.get("filter", ""))
                for rule in get(config.props, "rules") or []
                if str(rule.get("scanFrequency", "")) in ("SCAN_ON_PUSH", "CONTINUOUS_SCAN")
                for f in rule.get("repositoryFilters") or []
            ]
            return scan_type, filters
    return None


def check(args: StackValidationArgs, config: Mapping[str, Any], report: Callable[..., None]) -> None:
    """Report repositories nothing scans."""
    resources = list(args.resources)
    registry = _registry([r for r in resources if r.resource_type == REGISTRY_SCANNING])
    for repository in [r for r in resources if r.resource_type == REPOSITORY]:
        with skip_unknown():
            name = str(get(repository.props, "name") or repository.name)
            own = truthy(get(repository.props, "imageScanningConfiguration.scanOnPush"))
            by_registry = registry is not None and any(matches(name, f) for f in registry[1])
            # With a registry scanning configuration, repositories no scan filter matches are set to MANUAL
            # (BASIC) or not scanned (ENHANCED), whatever their own scanOnPush:
            # https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning-filters.html
            if registry is not None:
                if not by_registry:
                    report(
                        f"repository '{repository.name}' matches no scan-on-push or continuous rule of the "
                        f"{registry[0]} registry scanning configuration (its own scanOnPush does not apply)",
                        repository.urn,
                    )
            elif not own:
                report(f"repository '{repository.name}' does not scan images on push", repository.urn)


POLICY = StackPolicy(META, check)
