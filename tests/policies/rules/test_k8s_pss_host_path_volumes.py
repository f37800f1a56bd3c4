"""k8s-pss-host-path-volumes: PSS baseline HostPath Volumes."""

from __future__ import annotations

import pytest
from hybrid_ai_platform.policies.testing import UNKNOWN, resource_args

from tests.policies.rules.support import (
    AUTOSCALER_VALUES,
    WORKLOAD_KINDS,
    assert_waived,
    check,
    helm,
    restricted_pod,
    with_pod,
    workload,
)

NAME = "k8s-pss-host-path-volumes"


def _host_path(path: str = "/var/run/docker.sock") -> dict:
    spec = restricted_pod()
    spec["volumes"].append({"name": "host", "hostPath": {"path": path, "type": "Socket"}})
    return spec


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_restricted_pod_passes_in_every_kind(kind: str) -> None:
    assert check(NAME, workload(kind, restricted_pod())).passed


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_host_path_fails_in_every_kind(kind: str) -> None:
    outcome = check(NAME, workload(kind, _host_path("/var/lib/kubelet")))
    assert outcome.messages == ["'w': volume 'host' mounts host path /var/lib/kubelet (PSS HostPath Volumes)"]


def test_not_applicable_to_other_types_unknown_values_and_helm_values() -> None:
    assert check(NAME, resource_args("kubernetes:core/v1:Service", {})).not_applicable
    assert check(NAME, workload("Pod", with_pod(restricted_pod(), volumes=UNKNOWN))).not_applicable
    assert check(NAME, helm("cluster-autoscaler", AUTOSCALER_VALUES)).not_applicable


def test_exception_waives(exceptions_file) -> None:
    assert_waived(NAME, lambda config: workload("DaemonSet", _host_path(), config=config), exceptions_file)
