"""k8s-run-as-non-root: PSS restricted Running as Non-root, with pod/container precedence."""

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

NAME = "k8s-run-as-non-root"


def _no_container_setting(spec: dict) -> dict:
    for key in CONTAINER_LISTS:
        for container in spec.get(key) or []:
            container["securityContext"].pop("runAsNonRoot", None)
    return spec


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_restricted_pod_passes_in_every_kind(kind: str) -> None:
    assert check(NAME, workload(kind, restricted_pod())).passed


def test_pod_level_true_covers_containers_without_a_setting() -> None:
    assert check(NAME, workload("Deployment", _no_container_setting(restricted_pod()))).passed


def test_every_container_true_is_enough_without_the_pod() -> None:
    assert check(
        NAME, workload("Deployment", with_pod(restricted_pod(), securityContext={"runAsNonRoot": None}))
    ).passed


@pytest.mark.parametrize("where", CONTAINER_LISTS)
def test_container_false_overrides_the_pod_true(where: str) -> None:
    spec = with_container(restricted_pod(), {"securityContext": {"runAsNonRoot": False}}, where)
    (message,) = check(NAME, workload("CronJob", spec)).messages
    assert "sets runAsNonRoot=false" in message


def test_non_zero_uid_alone_does_not_satisfy_the_standard() -> None:
    spec = _no_container_setting(with_pod(restricted_pod(), securityContext={"runAsNonRoot": None}))
    messages = check(NAME, workload("Job", spec)).messages
    assert len(messages) == 2 and all("may run as root" in m for m in messages)


def test_pod_false_fails() -> None:
    spec = with_pod(restricted_pod(), securityContext={"runAsNonRoot": False})
    assert (
        "'w': the pod sets runAsNonRoot=false (PSS Running as Non-root)" in check(NAME, workload("Pod", spec)).messages
    )


def test_helm_values_are_judged() -> None:
    assert check(NAME, helm("cluster-autoscaler", AUTOSCALER_VALUES)).passed
    assert check(NAME, helm("cluster-autoscaler", {"securityContext": {"runAsUser": 65534}})).messages


def test_not_applicable_to_other_types_and_unknown_values() -> None:
    assert check(NAME, resource_args("kubernetes:core/v1:Service", {})).not_applicable
    assert check(
        NAME, workload("Pod", with_pod(restricted_pod(), securityContext={"runAsNonRoot": UNKNOWN}))
    ).not_applicable


def test_exception_waives(exceptions_file) -> None:
    spec = with_container(restricted_pod(), {"securityContext": {"runAsNonRoot": False}})
    assert_waived(NAME, lambda config: workload("Pod", spec, config=config), exceptions_file)
