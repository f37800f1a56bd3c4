"""PSS baseline and restricted, Seccomp: RuntimeDefault or Localhost for every container."""

from __future__ import annotations

from collections.abc import Callable

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from pulumi_policy import Severity

from ._k8s import PSS_TYPES, PodView, container_context, pss_check

ALLOWED = ("RuntimeDefault", "Localhost")

META = Meta(
    id="BP-PSS-009",
    name="k8s-pss-seccomp",
    description="PSS restricted 'Seccomp': every container runs with seccompProfile.type RuntimeDefault or "
    "Localhost, set on the container or inherited from the pod; Unconfined is refused (baseline).",
    severity=Severity.HIGH,
    category="security",
    resource_types=PSS_TYPES,
    remediation="Set securityContext.seccompProfile.type=RuntimeDefault on the pod.",
    equivalents=Equivalents(checkov=("CKV_K8S_31",), trivy=("AVD-KSV-0104", "AVD-KSV-0030")),
    standard="Kubernetes Pod Security Standards (restricted): Seccomp",
)


def judge(pod: PodView, report: Callable[[str], None]) -> None:
    """Report Unconfined profiles anywhere, and containers without an allowed profile (restricted)."""
    pod_type = (pod.security_context.get("seccompProfile") or {}).get("type")
    if pod_type is not None and pod_type not in ALLOWED:
        report(f"the pod sets seccompProfile.type={pod_type} (PSS Seccomp)")
    for label, container in pod.containers():
        own = (container_context(container).get("seccompProfile") or {}).get("type")
        if own is not None and own not in ALLOWED:
            report(f"{label} sets seccompProfile.type={own} (PSS Seccomp)")
        elif own is None and pod_type is None and not pod.windows:
            report(f"{label} has no seccompProfile, on itself or the pod (PSS restricted Seccomp)")


POLICY = ResourcePolicy(META, pss_check(False, judge))
