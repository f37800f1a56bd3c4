"""PSS baseline, Host Ports: no container port is bound on the node."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from pulumi_policy import ResourceValidationArgs, Severity

from ._k8s import PSS_TYPES, PodView, pss_check

META = Meta(
    id="BP-PSS-005",
    name="k8s-pss-host-ports",
    description="PSS baseline 'Host Ports': no container sets ports[*].hostPort (other than 0) unless the port "
    "is in the configured allowlist.",
    severity=Severity.HIGH,
    category="security",
    resource_types=PSS_TYPES,
    remediation="Remove ports[].hostPort and expose the pod through a Service.",
    equivalents=Equivalents(checkov=("CKV_K8S_26",), trivy=("AVD-KSV-0024",)),
    standard="Kubernetes Pod Security Standards (baseline): Host Ports",
    config={
        "allowedHostPorts": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1, "maximum": 65535},
            "default": [],
            "description": "Host ports the stack may bind (the PSS 'known list'). Defaults to none.",
        }
    },
)


def check_ports(pod: PodView, report: Callable[[str], None], allowed: set[int]) -> None:
    """Report host ports outside the allowlist."""
    for label, container in pod.containers():
        for port in container.get("ports") or []:
            host_port = int((port or {}).get("hostPort") or 0)
            if host_port and host_port not in allowed:
                report(f"{label} binds host port {host_port} (PSS Host Ports)")


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Run the control with the configured allowlist."""
    allowed = {int(p) for p in config.get("allowedHostPorts") or []}
    pss_check(True, lambda pod, rep: check_ports(pod, rep, allowed))(args, config, report)


POLICY = ResourcePolicy(META, check)
