"""PSS restricted, Running as Non-root user: runAsUser is never 0."""

from __future__ import annotations

from collections.abc import Callable

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from pulumi_policy import Severity

from ._k8s import PSS_TYPES, PodView, container_context, pss_check

META = Meta(
    id="BP-PSS-014",
    name="k8s-pss-run-as-non-root-user",
    description="PSS restricted 'Running as Non-root user': runAsUser is unset or non-zero (pod and containers).",
    severity=Severity.HIGH,
    category="security",
    resource_types=PSS_TYPES,
    remediation="Set runAsUser to the image's unprivileged UID (e.g. 10001), never 0.",
    equivalents=Equivalents(trivy=("AVD-KSV-0105",)),
    standard="Kubernetes Pod Security Standards (restricted): Running as Non-root user",
)


def judge(pod: PodView, report: Callable[[str], None]) -> None:
    """Report each place that runs as UID 0."""
    if pod.security_context.get("runAsUser") is not None and int(pod.security_context["runAsUser"]) == 0:
        report("the pod sets runAsUser=0 (PSS Running as Non-root user)")
    for label, container in pod.containers():
        user = container_context(container).get("runAsUser")
        if user is not None and int(user) == 0:
            report(f"{label} sets runAsUser=0 (PSS Running as Non-root user)")


POLICY = ResourcePolicy(META, pss_check(False, judge))
