"""k8s-pss-seccomp: PSS Seccomp (baseline: never Unconfined; restricted: always set, pod or container)."""

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

NAME = "k8s-pss-seccomp"


def _without_pod_profile() -> dict:
    return with_pod(restricted_pod(), securityContext={"seccompProfile": None})


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_restricted_pod_passes_in_every_kind(kind: str) -> None:
    assert check(NAME, workload(kind, restricted_pod())).passed


def test_pod_level_profile_covers_containers_without_one() -> None:
    spec = restricted_pod()
    for container in spec["containers"] + spec["initContainers"]:
        container["securityContext"].pop("seccompProfile")
    assert check(NAME, workload("Deployment", spec)).passed


def test_container_profiles_alone_are_enough() -> None:
    assert check(NAME, workload("Deployment", _without_pod_profile())).passed
    spec = with_container(
        _without_pod_profile(),
        {"securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}}},
    )
    assert check(NAME, workload("Deployment", spec)).passed


@pytest.mark.parametrize("where", CONTAINER_LISTS)
def test_container_without_profile_and_no_pod_profile_fails(where: str) -> None:
    spec = with_container(_without_pod_profile(), {"securityContext": {"seccompProfile": None}}, where)
    (message,) = check(NAME, workload("CronJob", spec)).messages
    assert "has no seccompProfile" in message


@pytest.mark.parametrize("where", CONTAINER_LISTS)
def test_unconfined_container_overrides_the_pod_and_fails(where: str) -> None:
    spec = with_container(restricted_pod(), {"securityContext": {"seccompProfile": {"type": "Unconfined"}}}, where)
    (message,) = check(NAME, workload("Job", spec)).messages
    assert "seccompProfile.type=Unconfined" in message


def test_unconfined_pod_fails() -> None:
    spec = with_pod(restricted_pod(), securityContext={"seccompProfile": {"type": "Unconfined"}})
    assert (
        "'w': the pod sets seccompProfile.type=Unconfined (PSS Seccomp)" in check(NAME, workload("Pod", spec)).messages
    )


def test_windows_pods_need_no_profile() -> None:
    spec = with_pod(
        with_container(_without_pod_profile(), {"securityContext": {"seccompProfile": None}}), os={"name": "windows"}
    )
    spec["initContainers"][0]["securityContext"].pop("seccompProfile")
    assert check(NAME, workload("Pod", spec)).passed


def test_helm_values_are_judged() -> None:
    values = {"securityContext": {}, "containerSecurityContext": {}}
    assert check(NAME, helm("cluster-autoscaler", AUTOSCALER_VALUES)).passed
    assert check(NAME, helm("cluster-autoscaler", values)).messages


def test_not_applicable_to_other_types_and_unknown_values() -> None:
    assert check(NAME, resource_args("kubernetes:core/v1:Service", {})).not_applicable
    assert check(
        NAME, workload("Pod", with_pod(restricted_pod(), securityContext={"seccompProfile": UNKNOWN}))
    ).not_applicable


def test_exception_waives(exceptions_file) -> None:
    spec = with_pod(restricted_pod(), securityContext={"seccompProfile": {"type": "Unconfined"}})
    assert_waived(NAME, lambda config: workload("Pod", spec, config=config), exceptions_file)
