"""k8s-pss-probe-host: PSS baseline Probes / Lifecycle Hooks (v1.34+)."""

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

NAME = "k8s-pss-probe-host"


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_restricted_pod_passes_in_every_kind(kind: str) -> None:
    assert check(NAME, workload(kind, restricted_pod())).passed
    empty = with_container(restricted_pod(), {"livenessProbe": {"httpGet": {"host": "", "port": 8080}}})
    assert check(NAME, workload(kind, empty)).passed


@pytest.mark.parametrize("where", CONTAINER_LISTS)
@pytest.mark.parametrize(
    ("field", "handler", "shown"),
    [
        ("livenessProbe", {"httpGet": {"host": "169.254.169.254", "port": 80}}, "livenessProbe.httpGet.host"),
        ("readinessProbe", {"tcpSocket": {"host": "10.0.0.1", "port": 5432}}, "readinessProbe.tcpSocket.host"),
        ("startupProbe", {"httpGet": {"host": "example.com", "port": 80}}, "startupProbe.httpGet.host"),
        ("lifecycle", {"preStop": {"httpGet": {"host": "10.0.0.2", "port": 80}}}, "lifecycle.preStop.httpGet.host"),
        (
            "lifecycle",
            {"postStart": {"tcpSocket": {"host": "10.0.0.3", "port": 1}}},
            "lifecycle.postStart.tcpSocket.host",
        ),
    ],
)
def test_host_in_any_handler_fails(where: str, field: str, handler: dict, shown: str) -> None:
    (message,) = check(NAME, workload("Deployment", with_container(restricted_pod(), {field: handler}, where))).messages
    assert shown in message


def test_not_applicable_to_other_types_unknown_values_and_helm_values() -> None:
    assert check(NAME, resource_args("kubernetes:core/v1:Service", {})).not_applicable
    assert check(NAME, workload("Pod", with_container(restricted_pod(), {"livenessProbe": UNKNOWN}))).not_applicable
    assert check(NAME, helm("cluster-autoscaler", AUTOSCALER_VALUES)).not_applicable


def test_exception_waives(exceptions_file) -> None:
    spec = with_container(restricted_pod(), {"livenessProbe": {"httpGet": {"host": "10.0.0.1", "port": 80}}})
    assert_waived(NAME, lambda config: workload("Pod", spec, config=config), exceptions_file)
