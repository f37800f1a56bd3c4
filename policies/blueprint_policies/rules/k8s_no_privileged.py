"""Workload containers are not privileged and cannot escalate."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from blueprint_policies.framework import Equivalents, Meta, ResourcePolicy

from ._k8s import WORKLOAD_TYPES, containers, pod_spec

META = Meta(
    id="BP-K8S-002",
    name="k8s-no-privileged",
    description="No container is privileged, and every container sets allowPrivilegeEscalation=false.",
    severity=Severity.CRITICAL,
    category="security",
    resource_types=WORKLOAD_TYPES,
    remediation="Remove securityContext.privileged and set allowPrivilegeEscalation=false (the NVIDIA device "
    "plugin exposes GPUs without privileged mode).",
    equivalents=Equivalents(checkov=("CKV_K8S_16", "CKV_K8S_20"), trivy=("AVD-KSV-0017", "AVD-KSV-0001")),
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report privileged containers and containers that may escalate."""
    for label, container in containers(pod_spec(args.resource_type, args.props)):
        context = container.get("securityContext") or {}
        if context.get("privileged") is True:
            report(f"{label} of '{args.name}' is privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            report(f"{label} of '{args.name}' does not set allowPrivilegeEscalation=false")


POLICY = ResourcePolicy(META, check)
