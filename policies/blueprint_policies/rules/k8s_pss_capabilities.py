"""PSS baseline and restricted, Capabilities: drop ALL, add at most NET_BIND_SERVICE."""

from __future__ import annotations

from collections.abc import Callable

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from pulumi_policy import Severity

from ._k8s import PSS_TYPES, PodView, container_context, pss_check

BASELINE = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
"""Capabilities the baseline profile lets a container add (the container runtime's default set)."""

META = Meta(
    id="BP-PSS-003",
    name="k8s-pss-capabilities",
    description="PSS restricted 'Capabilities': every container drops ALL and adds nothing but NET_BIND_SERVICE "
    "(baseline: nothing outside the runtime's default set).",
    severity=Severity.HIGH,
    category="security",
    resource_types=PSS_TYPES,
    remediation="Set securityContext.capabilities.drop=[ALL] on every container; add only NET_BIND_SERVICE.",
    equivalents=Equivalents(
        checkov=("CKV_K8S_25", "CKV_K8S_28", "CKV_K8S_37", "CKV_K8S_39"),
        trivy=("AVD-KSV-0003", "AVD-KSV-0022", "AVD-KSV-0005"),
    ),
    standard="Kubernetes Pod Security Standards (restricted): Capabilities",
)


def judge(pod: PodView, report: Callable[[str], None]) -> None:
    """Report added capabilities beyond the baseline / restricted sets, and containers that do not drop ALL."""
    for label, container in pod.containers():
        capabilities = container_context(container).get("capabilities") or {}
        # compared exactly, as Pod Security admission does: "CAP_CHOWN" or "chown" is not "CHOWN"
        added = sorted({str(c) for c in capabilities.get("add") or []})
        beyond_baseline = [c for c in added if c not in BASELINE]
        if beyond_baseline:
            report(f"{label} adds {beyond_baseline} (PSS baseline Capabilities allows only the runtime defaults)")
        if pod.windows:
            continue  # the restricted Capabilities control exempts Windows pods (spec.os.name=windows)
        beyond_restricted = [c for c in added if c != "NET_BIND_SERVICE" and c in BASELINE]
        if beyond_restricted:
            report(f"{label} adds {beyond_restricted} (PSS restricted Capabilities allows only NET_BIND_SERVICE)")
        if "ALL" not in {str(c) for c in capabilities.get("drop") or []}:
            report(f"{label} does not drop ALL capabilities (PSS restricted Capabilities)")


POLICY = ResourcePolicy(META, pss_check(False, judge))
