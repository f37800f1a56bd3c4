"""Workload containers have a read-only root filesystem."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from pulumi_policy import ResourceValidationArgs, Severity

from ._k8s import WORKLOAD_TYPES, containers, pod_spec

META = Meta(
    id="BP-K8S-003",
    name="k8s-read-only-root-filesystem",
    description="Every container sets securityContext.readOnlyRootFilesystem=true.",
    severity=Severity.MEDIUM,
    category="security",
    resource_types=WORKLOAD_TYPES,
    remediation="Set readOnlyRootFilesystem=true and mount an emptyDir for paths the process writes (e.g. /tmp, "
    "the model cache).",
    equivalents=Equivalents(checkov=("CKV_K8S_22",), trivy=("AVD-KSV-0014",)),
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report containers with a writable root filesystem."""
    for label, container in containers(pod_spec(args.resource_type, args.props)):
        if (container.get("securityContext") or {}).get("readOnlyRootFilesystem") is not True:
            report(f"{label} of '{args.name}' has a writable root filesystem")


POLICY = ResourcePolicy(META, check)
