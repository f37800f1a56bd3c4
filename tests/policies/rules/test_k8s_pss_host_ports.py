"""k8s-pss-host-ports: PSS baseline Host Ports, with the configurable known list."""

from __future__ import annotations

import pytest
from hybrid_ai_platform.policies.testing import UNKNOWN, resource_args

from tests.policies.rules.support import (
    AUTOSCALER_VALUES,
    CONTAINER_LISTS,
    WORKLOAD_KINDS,
    assert_waived,
    check,
    helm,
    restricted_pod,
    with_container,
    workload,
)

NAME = "k8s-pss-host-ports"


def _port(host_port: int, where: str = "containers") -> dict:
    return with_container(restricted_pod(), {"ports": [{"containerPort": 8080, "hostPort": host_port}]}, where)


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_restricted_pod_passes_in_every_kind(kind: str) -> None:
    assert check(NAME, workload(kind, restricted_pod())).passed


def test_host_port_zero_is_unset() -> None:
    assert check(NAME, workload("Pod", _port(0))).passed


@pytest.mark.parametrize("where", CONTAINER_LISTS)
def test_host_port_fails_in_every_list(where: str) -> None:
    (message,) = check(NAME, workload("CronJob", _port(8080, where))).messages
    assert "binds host port 8080 (PSS Host Ports)" in message


def test_allowlisted_port_passes() -> None:
    assert check(NAME, workload("DaemonSet", _port(9100), config={"allowedHostPorts": [9100]})).passed
    assert check(NAME, workload("DaemonSet", _port(9101), config={"allowedHostPorts": [9100]})).messages


def test_not_applicable_to_other_types_unknown_values_and_helm_values() -> None:
    assert check(NAME, resource_args("kubernetes:core/v1:Service", {})).not_applicable
    assert check(NAME, workload("Pod", _port(UNKNOWN))).not_applicable  # type: ignore[arg-type]
    assert check(NAME, helm("cluster-autoscaler", AUTOSCALER_VALUES)).not_applicable


def test_exception_waives(exceptions_file) -> None:
    assert_waived(NAME, lambda config: workload("Deployment", _port(80), config=config), exceptions_file)
