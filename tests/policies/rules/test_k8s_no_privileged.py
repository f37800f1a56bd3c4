"""k8s-no-privileged: PSS baseline Privileged Containers."""

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

NAME = "k8s-no-privileged"


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_restricted_pod_passes_in_every_kind(kind: str) -> None:
    assert check(NAME, workload(kind, restricted_pod())).passed
    explicit = with_container(restricted_pod(), {"securityContext": {"privileged": False}})
    assert check(NAME, workload(kind, explicit)).passed


@pytest.mark.parametrize("where", CONTAINER_LISTS)
@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_privileged_fails_in_every_list_and_kind(kind: str, where: str) -> None:
    spec = with_container(restricted_pod(), {"securityContext": {"privileged": True}}, where)
    (message,) = check(NAME, workload(kind, spec)).messages
    assert message.endswith("is privileged (PSS Privileged Containers)")


def test_helm_values_are_judged() -> None:
    assert check(NAME, helm("cluster-autoscaler", AUTOSCALER_VALUES)).passed
    assert check(NAME, helm("cluster-autoscaler", {"containerSecurityContext": {"privileged": True}})).messages


def test_not_applicable_to_other_types_and_unknown_values() -> None:
    assert check(NAME, resource_args("kubernetes:core/v1:Service", {})).not_applicable
    spec = with_container(restricted_pod(), {"securityContext": {"privileged": UNKNOWN}})
    assert check(NAME, workload("Pod", spec)).not_applicable


def test_exception_waives(exceptions_file) -> None:
    spec = with_container(restricted_pod(), {"securityContext": {"privileged": True}})
    assert_waived(NAME, lambda config: workload("DaemonSet", spec, config=config), exceptions_file)
