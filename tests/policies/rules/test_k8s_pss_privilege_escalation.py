"""k8s-pss-privilege-escalation: PSS restricted Privilege Escalation."""

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

NAME = "k8s-pss-privilege-escalation"


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_restricted_pod_passes_in_every_kind(kind: str) -> None:
    assert check(NAME, workload(kind, restricted_pod())).passed


@pytest.mark.parametrize("value", [True, None])
@pytest.mark.parametrize("where", CONTAINER_LISTS)
def test_unset_or_true_fails_in_every_list(where: str, value: bool | None) -> None:
    spec = with_container(restricted_pod(), {"securityContext": {"allowPrivilegeEscalation": value}}, where)
    (message,) = check(NAME, workload("CronJob", spec)).messages
    assert "does not set allowPrivilegeEscalation=false" in message


def test_windows_pods_are_exempt() -> None:
    spec = with_container(restricted_pod(), {"securityContext": {"allowPrivilegeEscalation": None}})
    assert check(NAME, workload("Pod", with_pod(spec, os={"name": "windows"}))).passed


def test_helm_values_are_judged() -> None:
    assert check(NAME, helm("cluster-autoscaler", AUTOSCALER_VALUES)).passed
    assert check(NAME, helm("cluster-autoscaler", {"containerSecurityContext": {}})).messages


def test_not_applicable_to_other_types_and_unknown_values() -> None:
    assert check(NAME, resource_args("kubernetes:core/v1:Service", {})).not_applicable
    spec = with_container(restricted_pod(), {"securityContext": {"allowPrivilegeEscalation": UNKNOWN}})
    assert check(NAME, workload("Pod", spec)).not_applicable


def test_exception_waives(exceptions_file) -> None:
    spec = with_container(restricted_pod(), {"securityContext": {"allowPrivilegeEscalation": True}})
    assert_waived(NAME, lambda config: workload("Pod", spec, config=config), exceptions_file)
