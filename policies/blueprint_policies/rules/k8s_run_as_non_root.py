"""PSS restricted, Running as Non-root: runAsNonRoot=true for every container."""

from __future__ import annotations

from collections.abc import Callable

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from pulumi_policy import Severity

from ._k8s import PSS_TYPES, PodView, container_context, pss_check

META = Meta(
    id="BP-K8S-001",
    name="k8s-run-as-non-root",
    description="PSS restricted 'Running as Non-root': every container runs with runAsNonRoot=true, set on the "
    "container or inherited from the pod (a container's false overrides the pod's true).",
    severity=Severity.HIGH,
    category="security",
    resource_types=PSS_TYPES,
    remediation="Set securityContext.runAsNonRoot=true on the pod (and runAsUser to the image's unprivileged "
    "user); a non-zero runAsUser alone does not satisfy the standard.",
    equivalents=Equivalents(checkov=("CKV_K8S_23",), trivy=("AVD-KSV-0012",)),
    standard="Kubernetes Pod Security Standards (restricted): Running as Non-root",
)


def judge(pod: PodView, report: Callable[[str], None]) -> None:
    """Report the pod and containers that do not require a non-root user (container settings win)."""
    pod_value = pod.security_context.get("runAsNonRoot")
    if pod_value is False:
        report("the pod sets runAsNonRoot=false (PSS Running as Non-root)")
    for label, container in pod.containers():
        own = container_context(container).get("runAsNonRoot")
        if own is False:
            report(f"{label} sets runAsNonRoot=false and may run as root (PSS Running as Non-root)")
        elif own is None and pod_value is not True:
            report(f"{label} may run as root: runAsNonRoot is not true on it or the pod (PSS Running as Non-root)")


POLICY = ResourcePolicy(META, pss_check(False, judge))
