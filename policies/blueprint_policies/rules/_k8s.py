"""Pod specs of first-class Kubernetes workload objects (Helm release values are opaque)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from blueprint_policies.props import get

POD_SPEC_PATHS = {
    "kubernetes:apps/v1:Deployment": "spec.template.spec",
    "kubernetes:apps/v1:StatefulSet": "spec.template.spec",
    "kubernetes:apps/v1:DaemonSet": "spec.template.spec",
    "kubernetes:apps/v1:ReplicaSet": "spec.template.spec",
    "kubernetes:batch/v1:Job": "spec.template.spec",
    "kubernetes:batch/v1:CronJob": "spec.jobTemplate.spec.template.spec",
    "kubernetes:core/v1:Pod": "spec",
}
"""Workload types and where their pod spec is."""

WORKLOAD_TYPES = tuple(POD_SPEC_PATHS)


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> dict[str, Any]:
    """The pod spec of a workload (empty when absent)."""
    spec = get(props, POD_SPEC_PATHS[resource_type]) or {}
    return spec if isinstance(spec, dict) else {}


def containers(spec: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(kind/name, container)`` for containers and init containers."""
    found = []
    for kind in ("initContainers", "containers"):
        for container in spec.get(kind) or []:
            if isinstance(container, dict):
                found.append(
                    (
                        f"{'init container' if kind == 'initContainers' else 'container'} "
                        f"'{container.get('name', '?')}'",
                        container,
                    )
                )
    return found
