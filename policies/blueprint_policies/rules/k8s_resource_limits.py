"""Workload containers declare CPU and memory limits."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from pulumi_policy import ResourceValidationArgs, Severity

from ._k8s import WORKLOAD_TYPES, containers, pod_spec

META = Meta(
    id="BP-K8S-004",
    name="k8s-resource-limits",
    description="Every container sets CPU and memory limits.",
    severity=Severity.MEDIUM,
    category="security",
    resource_types=WORKLOAD_TYPES,
    remediation="Set resources.limits.cpu and resources.limits.memory (inference.models[].resources).",
    equivalents=Equivalents(checkov=("CKV_K8S_11", "CKV_K8S_13"), trivy=("AVD-KSV-0011", "AVD-KSV-0018")),
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report containers missing a cpu or memory limit."""
    for label, container in containers(pod_spec(args.resource_type, args.props)):
        limits = (container.get("resources") or {}).get("limits") or {}
        missing = [k for k in ("cpu", "memory") if not limits.get(k)]
        if missing:
            report(f"{label} of '{args.name}' has no {' or '.join(missing)} limit")


POLICY = ResourcePolicy(META, check)
