"""k8s-pss-host-process: PSS baseline HostProcess, pod and every container list."""

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
    with_pod,
    workload,
)

NAME = "k8s-pss-host-process"
HOST_PROCESS = {"windowsOptions": {"hostProcess": True}}


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_restricted_pod_passes_in_every_kind(kind: str) -> None:
    assert check(NAME, workload(kind, restricted_pod())).passed


def test_false_is_allowed() -> None:
    spec = with_container(restricted_pod(), {"securityContext": {"windowsOptions": {"hostProcess": False}}})
    assert check(NAME, workload("Pod", spec)).passed


@pytest.mark.parametrize("where", CONTAINER_LISTS)
@pytest.mark.parametrize("kind", ["CronJob", "DaemonSet", "Pod"])
def test_container_host_process_fails_in_every_list_and_nesting(kind: str, where: str) -> None:
    spec = with_container(restricted_pod(), {"securityContext": HOST_PROCESS}, where)
    (message,) = check(NAME, workload(kind, spec)).messages
    assert "windowsOptions.hostProcess=true" in message and "'w'" in message


def test_pod_level_host_process_fails() -> None:
    outcome = check(NAME, workload("Deployment", with_pod(restricted_pod(), securityContext=HOST_PROCESS)))
    assert outcome.messages == ["'w': the pod sets windowsOptions.hostProcess=true (PSS HostProcess)"]


def test_helm_values_are_judged() -> None:
    values = {**AUTOSCALER_VALUES, "securityContext": {**AUTOSCALER_VALUES["securityContext"], **HOST_PROCESS}}
    assert check(NAME, helm("cluster-autoscaler", AUTOSCALER_VALUES)).passed
    assert check(NAME, helm("cluster-autoscaler", values)).messages


def test_not_applicable_to_other_types_unknown_values_and_opaque_charts() -> None:
    assert check(NAME, resource_args("kubernetes:core/v1:Service", {"spec": {}})).not_applicable
    assert check(NAME, resource_args(WORKLOAD_KINDS["Deployment"], {"spec": {"template": UNKNOWN}})).not_applicable
    assert "pod spec it renders" in (check(NAME, helm("nvidia-device-plugin", {})).not_applicable or "")


def test_exception_waives(exceptions_file) -> None:
    spec = with_container(restricted_pod(), {"securityContext": HOST_PROCESS})
    assert_waived(NAME, lambda config: workload("Job", spec, config=config), exceptions_file)
