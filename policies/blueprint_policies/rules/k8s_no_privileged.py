"""PSS baseline, Privileged Containers: no container is privileged."""

from __future__ import annotations

from collections.abc import Callable

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from pulumi_policy import Severity

from ._k8s import PSS_TYPES, PodView, container_context, pss_check

META = Meta(
    id="BP-K8S-002",
    name="k8s-no-privileged",
    description="PSS baseline 'Privileged Containers': no container (init, regular or ephemeral) sets "
    "securityContext.privileged=true.",
    severity=Severity.CRITICAL,
    category="security",
    resource_types=PSS_TYPES,
    remediation="Remove securityContext.privileged (the NVIDIA device plugin exposes GPUs without privileged mode); "
    "allowPrivilegeEscalation is judged by k8s-pss-privilege-escalation.",
    equivalents=Equivalents(checkov=("CKV_K8S_16",), trivy=("AVD-KSV-0017",)),
    standard="Kubernetes Pod Security Standards (baseline): Privileged Containers",
)


def judge(pod: PodView, report: Callable[[str], None]) -> None:
    """Report privileged containers."""
    for label, container in pod.containers():
        if container_context(container).get("privileged") is True:
            report(f"{label} is privileged (PSS Privileged Containers)")


POLICY = ResourcePolicy(META, pss_check(False, judge))
