"""PSS baseline, Probes and lifecycle hooks: they target the pod, not another host."""

from __future__ import annotations

from collections.abc import Callable

from hybrid_ai_platform.policies.framework import Meta, ResourcePolicy
from pulumi_policy import Severity

from ._k8s import PSS_TYPES, PodView, pss_check

HANDLERS = ("livenessProbe", "readinessProbe", "startupProbe", "lifecycle.postStart", "lifecycle.preStop")

META = Meta(
    id="BP-PSS-011",
    name="k8s-pss-probe-host",
    description="PSS baseline 'Probes / Lifecycle Hooks' (v1.34+): no probe or lifecycle handler sets "
    "httpGet.host or tcpSocket.host.",
    severity=Severity.MEDIUM,
    category="security",
    resource_types=PSS_TYPES,
    remediation="Remove the host field of probes and lifecycle hooks (they then target the pod's IP).",
    standard="Kubernetes Pod Security Standards (baseline): Probes / Lifecycle Hooks",
)


def judge(pod: PodView, report: Callable[[str], None]) -> None:
    """Report handlers that reach another host."""
    for label, container in pod.containers():
        for path in HANDLERS:
            handler: object = container
            for part in path.split("."):
                handler = handler.get(part) if isinstance(handler, dict) else None
            if not isinstance(handler, dict):
                continue
            for kind in ("httpGet", "tcpSocket"):
                host = (handler.get(kind) or {}).get("host")
                if host not in (None, ""):
                    report(f"{label} {path}.{kind}.host is {host} (PSS Probes / Lifecycle Hooks)")


POLICY = ResourcePolicy(META, pss_check(True, judge))
