"""PSS baseline, Sysctls: only the namespaced, isolated "safe" set."""

from __future__ import annotations

from collections.abc import Callable

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from pulumi_policy import Severity

from ._k8s import PSS_TYPES, PodView, pss_check

SAFE = (
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
)
"""The baseline's allowed sysctls (ip_local_reserved_ports since 1.27, the tcp_* four since 1.29)."""

META = Meta(
    id="BP-PSS-010",
    name="k8s-pss-sysctls",
    description="PSS baseline 'Sysctls': spec.securityContext.sysctls names only the safe set.",
    severity=Severity.HIGH,
    category="security",
    resource_types=PSS_TYPES,
    remediation=f"Remove sysctls outside {list(SAFE)} from the pod securityContext.",
    equivalents=Equivalents(trivy=("AVD-KSV-0026",)),
    standard="Kubernetes Pod Security Standards (baseline): Sysctls",
)


def judge(pod: PodView, report: Callable[[str], None]) -> None:
    """Report each unsafe sysctl."""
    for sysctl in pod.security_context.get("sysctls") or []:
        name = str((sysctl or {}).get("name", ""))
        if name not in SAFE:
            report(f"the pod sets sysctl {name} (PSS Sysctls allows only the safe set)")


POLICY = ResourcePolicy(META, pss_check(False, judge))
