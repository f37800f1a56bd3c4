"""Builders shared by the one-file-per-policy tests: restricted pods at every nesting, waivers, IAM documents."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from hybrid_ai_platform.policies.framework import BlueprintPolicy, pack_policies
from hybrid_ai_platform.policies.testing import Outcome, resource_args, run
from pulumi_policy import ResourceValidationArgs, StackValidationArgs

POLICIES = {p.meta.name: p for p in pack_policies()}

WORKLOAD_KINDS = {
    "Deployment": "kubernetes:apps/v1:Deployment",
    "StatefulSet": "kubernetes:apps/v1:StatefulSet",
    "DaemonSet": "kubernetes:apps/v1:DaemonSet",
    "ReplicaSet": "kubernetes:apps/v1:ReplicaSet",
    "Job": "kubernetes:batch/v1:Job",
    "CronJob": "kubernetes:batch/v1:CronJob",
    "Pod": "kubernetes:core/v1:Pod",
}
"""Every pod-bearing kind the plan can create."""

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def restricted_container(name: str = "server") -> dict[str, Any]:
    """A container that meets the restricted profile on its own."""
    return {
        "name": name,
        "image": "123456789012.dkr.ecr.eu-central-1.amazonaws.com/fraud-scorer:1.4.0",
        "ports": [{"containerPort": 8080, "name": "http"}],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
    }


def restricted_pod() -> dict[str, Any]:
    """A pod spec that meets the restricted profile: pod-level context, an init and a regular container."""
    return {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
            "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
        },
        "initContainers": [restricted_container("init")],
        "containers": [restricted_container()],
        "volumes": [
            {"name": "tmp", "emptyDir": {}},
            {"name": "config", "configMap": {"name": "c"}},
            {"name": "token", "projected": {"sources": []}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "d"}},
        ],
    }


def with_container(spec: dict[str, Any], change: dict[str, Any], where: str = "containers") -> dict[str, Any]:
    """``spec`` with ``change`` merged into the securityContext (or top level, for non-context keys) of the first
    container of ``where``; an ephemeral container is added when ``where`` is ``ephemeralContainers``."""
    spec = copy.deepcopy(spec)
    if where == "ephemeralContainers" and not spec.get(where):
        spec[where] = [restricted_container("debug")]
    container = spec[where][0]
    for key, value in change.items():
        if key == "securityContext":
            merged = {**container.get("securityContext", {}), **value}
            container["securityContext"] = {k: v for k, v in merged.items() if v is not None}
        else:
            container[key] = value
    return spec


def with_pod(spec: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``spec`` with top-level changes; ``securityContext`` is merged (``None`` removes a key)."""
    spec = copy.deepcopy(spec)
    for key, value in changes.items():
        if key == "securityContext":
            merged = {**spec.get("securityContext", {}), **value}
            spec["securityContext"] = {k: v for k, v in merged.items() if v is not None}
        elif value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    return spec


def workload_props(kind: str, spec: dict[str, Any], metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """Props of a ``kind`` object whose pod template is ``spec`` (pod ``metadata`` too), at that kind's nesting."""
    pod = {"metadata": metadata or {"labels": {"app": "w"}}, "spec": spec}
    if kind == "Pod":
        return pod
    if kind == "CronJob":
        return {"spec": {"schedule": "0 2 * * *", "jobTemplate": {"spec": {"template": pod}}}}
    return {"spec": {"template": pod}}


def workload(
    kind: str,
    spec: dict[str, Any],
    metadata: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
) -> ResourceValidationArgs:
    """Arguments for a ``kind`` object named ``w``."""
    return resource_args(WORKLOAD_KINDS[kind], workload_props(kind, spec, metadata), name="w", config=config)


def helm(chart: str, values: dict[str, Any], config: dict[str, Any] | None = None) -> ResourceValidationArgs:
    """A Helm release named ``rel`` of ``chart`` with ``values``."""
    props = {"chart": chart, "name": chart, "namespace": "kube-system", "values": values}
    return resource_args("kubernetes:helm.sh/v3:Release", props, name="rel", config=config)


AUTOSCALER_VALUES: dict[str, Any] = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}},
    "containerSecurityContext": {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": 65534,
    },
}
"""cluster-autoscaler values as the shipped stacks set them (restricted)."""


def check(name: str, args: ResourceValidationArgs | StackValidationArgs) -> Outcome:
    """Run the pack's policy ``name``."""
    return run(POLICIES[name], args)


def policy(name: str) -> BlueprintPolicy:
    """The pack's policy ``name``."""
    return POLICIES[name]


def waiver(name: str) -> dict[str, str]:
    """An active exception for every resource of ``name``."""
    return {
        "policy": name,
        "resource": "*",
        "reason": "accepted risk for the test",
        "owner": "secops",
        "ticket": "SEC-9",
        "expires": "2025-12-31",
    }


def assert_waived(
    name: str,
    build: Callable[[dict[str, Any]], ResourceValidationArgs | StackValidationArgs],
    exceptions_file: Callable[..., str],
) -> None:
    """The failing arguments ``build(config)`` fail without an exception and are waived with one."""
    assert check(name, build({})).violations
    outcome = check(name, build({"exceptionsFile": exceptions_file(waiver(name))}))
    assert outcome.violations == []
    assert outcome.waived and all(w.exception.ticket == "SEC-9" for w in outcome.waived)


def document(*statements: dict[str, Any]) -> str:
    """An IAM policy document as JSON."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
