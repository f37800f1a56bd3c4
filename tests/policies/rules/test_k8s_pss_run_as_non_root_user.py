"""k8s-pss-run-as-non-root-user: PSS restricted Running as Non-root user."""

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

NAME = "k8s-pss-run-as-non-root-user"


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_restricted_pod_passes_in_every_kind(kind: str) -> None:
    assert check(NAME, workload(kind, restricted_pod())).passed
    unset = with_pod(
        with_container(restricted_pod(), {"securityContext": {"runAsUser": None}}), securityContext={"runAsUser": None}
    )
    assert check(NAME, workload(kind, unset)).passed


@pytest.mark.parametrize("where", CONTAINER_LISTS)
def test_container_uid_zero_fails_in_every_list(where: str) -> None:
    spec = with_container(restricted_pod(), {"securityContext": {"runAsUser": 0}}, where)
    (message,) = check(NAME, workload("CronJob", spec)).messages
    assert "sets runAsUser=0" in message


def test_pod_uid_zero_fails_even_when_containers_override_it() -> None:
    spec = with_pod(restricted_pod(), securityContext={"runAsUser": 0})
    assert check(NAME, workload("Deployment", spec)).messages == [
        "'w': the pod sets runAsUser=0 (PSS Running as Non-root user)"
    ]


def test_helm_values_are_judged() -> None:
    assert check(NAME, helm("cluster-autoscaler", AUTOSCALER_VALUES)).passed
    assert check(NAME, helm("cluster-autoscaler", {"securityContext": {"runAsUser": 0}})).messages


def test_not_applicable_to_other_types_and_unknown_values() -> None:
    assert check(NAME, resource_args("kubernetes:core/v1:Service", {})).not_applicable
    assert check(
        NAME, workload("Pod", with_pod(restricted_pod(), securityContext={"runAsUser": UNKNOWN}))
    ).not_applicable


def test_exception_waives(exceptions_file) -> None:
    spec = with_container(restricted_pod(), {"securityContext": {"runAsUser": 0}})
    assert_waived(NAME, lambda config: workload("Pod", spec, config=config), exceptions_file)
