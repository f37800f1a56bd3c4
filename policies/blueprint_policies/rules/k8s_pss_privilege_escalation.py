"""PSS restricted, Privilege Escalation: every container sets allowPrivilegeEscalation=false."""

from __future__ import annotations

from collections.abc import Callable

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from pulumi_policy import Severity

from ._k8s import PSS_TYPES, PodView, container_context, pss_check

META = Meta(
    id="BP-PSS-013",
    name="k8s-pss-privilege-escalation",
    description="PSS restricted 'Privilege Escalation': every container sets "
    "securityContext.allowPrivilegeEscalation=false.",
    severity=Severity.HIGH,
    category="security",
    resource_types=PSS_TYPES,
    remediation="Set securityContext.allowPrivilegeEscalation=false on every container (init and ephemeral too).",
    equivalents=Equivalents(checkov=("CKV_K8S_20",), trivy=("AVD-KSV-0001",)),
    standard="Kubernetes Pod Security Standards (restricted): Privilege Escalation",
)


def judge(pod: PodView, report: Callable[[str], None]) -> None:
    """Report containers that do not forbid escalation (Windows pods are exempt)."""
    if pod.windows:
        return
    for label, container in pod.containers():
        if container_context(container).get("allowPrivilegeEscalation") is not False:
            report(f"{label} does not set allowPrivilegeEscalation=false (PSS Privilege Escalation)")


POLICY = ResourcePolicy(META, pss_check(False, judge))
