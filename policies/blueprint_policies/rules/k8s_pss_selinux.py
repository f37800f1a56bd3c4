"""PSS baseline, SELinux: no custom SELinux user or role, only the container types."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from pulumi_policy import Severity

from ._k8s import PSS_TYPES, PodView, container_context, pss_check

ALLOWED_TYPES = ("", "container_t", "container_init_t", "container_kvm_t", "container_engine_t")
"""seLinuxOptions.type values the baseline allows (container_engine_t since Kubernetes 1.31)."""

META = Meta(
    id="BP-PSS-007",
    name="k8s-pss-selinux",
    description="PSS baseline 'SELinux': seLinuxOptions.type is unset or a container type, and user and role are "
    "unset or empty (pod and containers).",
    severity=Severity.HIGH,
    category="security",
    resource_types=PSS_TYPES,
    remediation="Remove securityContext.seLinuxOptions user/role, and use a container_* type or none.",
    equivalents=Equivalents(trivy=("AVD-KSV-0025",)),
    standard="Kubernetes Pod Security Standards (baseline): SELinux",
)


def _judge_options(owner: str, options: Mapping[str, Any], report: Callable[[str], None]) -> None:
    kind = options.get("type")
    if kind is not None and kind not in ALLOWED_TYPES:
        report(f"{owner} sets seLinuxOptions.type={kind} (PSS SELinux)")
    for field in ("user", "role"):
        if options.get(field) not in (None, ""):
            report(f"{owner} sets seLinuxOptions.{field}={options[field]} (PSS SELinux)")


def judge(pod: PodView, report: Callable[[str], None]) -> None:
    """Report SELinux options outside the allowed values."""
    _judge_options("the pod", pod.security_context.get("seLinuxOptions") or {}, report)
    for label, container in pod.containers():
        _judge_options(label, container_context(container).get("seLinuxOptions") or {}, report)


POLICY = ResourcePolicy(META, pss_check(False, judge))
