"""PSS baseline, HostProcess: no Windows HostProcess containers."""

from __future__ import annotations

from collections.abc import Callable

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from pulumi_policy import Severity

from ._k8s import PSS_TYPES, PodView, container_context, pss_check

META = Meta(
    id="BP-PSS-001",
    name="k8s-pss-host-process",
    description="PSS baseline 'HostProcess': no pod or container sets windowsOptions.hostProcess=true.",
    severity=Severity.CRITICAL,
    category="security",
    resource_types=PSS_TYPES,
    remediation="Remove securityContext.windowsOptions.hostProcess (pod and containers).",
    equivalents=Equivalents(trivy=("AVD-KSV-0103",)),
    standard="Kubernetes Pod Security Standards (baseline): HostProcess",
)


def judge(pod: PodView, report: Callable[[str], None]) -> None:
    """Report the pod and each container that asks for HostProcess."""
    if (pod.security_context.get("windowsOptions") or {}).get("hostProcess") is True:
        report("the pod sets windowsOptions.hostProcess=true (PSS HostProcess)")
    for label, container in pod.containers():
        if (container_context(container).get("windowsOptions") or {}).get("hostProcess") is True:
            report(f"{label} sets windowsOptions.hostProcess=true (PSS HostProcess)")


POLICY = ResourcePolicy(META, pss_check(False, judge))
