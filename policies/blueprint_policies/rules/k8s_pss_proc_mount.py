"""PSS baseline/restricted, /proc Mount Type: the default masked /proc."""

from __future__ import annotations

from collections.abc import Callable

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from pulumi_policy import Severity

from ._k8s import PSS_TYPES, PodView, container_context, pss_check

META = Meta(
    id="BP-PSS-008",
    name="k8s-pss-proc-mount",
    description="PSS '/proc Mount Type': every container's procMount is unset or Default.",
    severity=Severity.HIGH,
    category="security",
    resource_types=PSS_TYPES,
    remediation="Remove securityContext.procMount (Unmasked exposes the host's /proc paths).",
    equivalents=Equivalents(trivy=("AVD-KSV-0027",)),
    standard="Kubernetes Pod Security Standards (restricted): /proc Mount Type",
)


def judge(pod: PodView, report: Callable[[str], None]) -> None:
    """Report containers with an unmasked /proc."""
    for label, container in pod.containers():
        mount = container_context(container).get("procMount")
        if mount not in (None, "Default"):
            report(f"{label} sets procMount={mount} (PSS /proc Mount Type)")


POLICY = ResourcePolicy(META, pss_check(False, judge))
