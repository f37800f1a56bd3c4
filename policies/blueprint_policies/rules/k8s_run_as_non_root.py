"""Workload containers run as a non-root user."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from blueprint_policies.framework import Equivalents, Meta, ResourcePolicy

from ._k8s import WORKLOAD_TYPES, containers, pod_spec

META = Meta(
    id="BP-K8S-001",
    name="k8s-run-as-non-root",
    description="Every container of a Kubernetes workload runs as non-root (runAsNonRoot or a non-zero runAsUser).",
    severity=Severity.HIGH,
    category="security",
    resource_types=WORKLOAD_TYPES,
    remediation="Set securityContext.runAsNonRoot=true and runAsUser to the image's unprivileged user "
    "(pod or container).",
    equivalents=Equivalents(checkov=("CKV_K8S_23",), trivy=("AVD-KSV-0012",)),
)


def _non_root(context: Mapping[str, Any]) -> bool | None:
    if context.get("runAsNonRoot") is True:
        return True
    user = context.get("runAsUser")
    if user is not None:
        return int(user) != 0
    if context.get("runAsNonRoot") is False:
        return False
    return None


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report containers that may run as root (container settings override the pod's)."""
    spec = pod_spec(args.resource_type, args.props)
    pod = _non_root(spec.get("securityContext") or {})
    for label, container in containers(spec):
        own = _non_root(container.get("securityContext") or {})
        if not (own if own is not None else pod):
            report(f"{label} of '{args.name}' may run as root")


POLICY = ResourcePolicy(META, check)
