"""PSS baseline, Host Namespaces: no hostNetwork, hostPID or hostIPC."""

from __future__ import annotations

from collections.abc import Callable

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from pulumi_policy import Severity

from ._k8s import PSS_TYPES, PodView, pss_check

META = Meta(
    id="BP-PSS-002",
    name="k8s-pss-host-namespaces",
    description="PSS baseline 'Host Namespaces': spec.hostNetwork, hostPID and hostIPC are unset or false.",
    severity=Severity.CRITICAL,
    category="security",
    resource_types=PSS_TYPES,
    remediation="Remove hostNetwork/hostPID/hostIPC from the pod spec.",
    equivalents=Equivalents(
        checkov=("CKV_K8S_17", "CKV_K8S_18", "CKV_K8S_19"), trivy=("AVD-KSV-0008", "AVD-KSV-0009", "AVD-KSV-0010")
    ),
    standard="Kubernetes Pod Security Standards (baseline): Host Namespaces",
)


def judge(pod: PodView, report: Callable[[str], None]) -> None:
    """Report each host namespace the pod shares."""
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.spec.get(field) is True:
            report(f"the pod sets {field}=true (PSS Host Namespaces)")


POLICY = ResourcePolicy(META, pss_check(True, judge))
