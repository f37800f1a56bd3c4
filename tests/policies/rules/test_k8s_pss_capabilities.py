"""k8s-pss-capabilities: PSS baseline and restricted Capabilities."""

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

NAME = "k8s-pss-capabilities"


def _caps(add: list[str] | None = None, drop: list[str] | None = None, where: str = "containers") -> dict:
    capabilities: dict = {}
    if add is not None:
        capabilities["add"] = add
    if drop is not None:
        capabilities["drop"] = drop
    return with_container(restricted_pod(), {"securityContext": {"capabilities": capabilities}}, where)


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_restricted_pod_passes_in_every_kind(kind: str) -> None:
    assert check(NAME, workload(kind, restricted_pod())).passed


def test_net_bind_service_is_the_one_addition_allowed() -> None:
    assert check(NAME, workload("Pod", _caps(add=["NET_BIND_SERVICE"], drop=["ALL"]))).passed


def test_names_are_compared_exactly_as_admission_does() -> None:
    # Pod Security admission compares capability names as written: "CAP_" prefixes and lower case do not count
    assert (
        "adds ['CAP_NET_BIND_SERVICE']"
        in check(NAME, workload("Pod", _caps(add=["CAP_NET_BIND_SERVICE"], drop=["ALL"]))).messages[0]
    )
    assert "does not drop ALL" in check(NAME, workload("Pod", _caps(drop=["all"]))).messages[0]


@pytest.mark.parametrize("where", CONTAINER_LISTS)
def test_not_dropping_all_fails_in_every_list(where: str) -> None:
    messages = check(NAME, workload("CronJob", _caps(drop=["NET_RAW"], where=where))).messages
    assert len(messages) == 1 and "does not drop ALL capabilities" in messages[0]


def test_baseline_default_capability_fails_restricted_only() -> None:
    (message,) = check(NAME, workload("Deployment", _caps(add=["CHOWN"], drop=["ALL"]))).messages
    assert "['CHOWN']" in message and "restricted" in message


@pytest.mark.parametrize("capability", ["SYS_ADMIN", "NET_ADMIN", "NET_RAW", "SYS_PTRACE", "SYS_MODULE", "CAP_CHOWN"])
def test_capability_beyond_the_baseline_fails(capability: str) -> None:
    (message,) = check(NAME, workload("StatefulSet", _caps(add=[capability], drop=["ALL"]))).messages
    assert "PSS baseline Capabilities" in message


def test_windows_pods_are_exempt_from_the_restricted_part_only() -> None:
    windows = with_pod(_caps(drop=[]), os={"name": "windows"})
    assert check(NAME, workload("Pod", windows)).passed
    assert check(NAME, workload("Pod", with_pod(_caps(add=["SYS_ADMIN"]), os={"name": "windows"}))).messages


def test_helm_values_are_judged() -> None:
    values = {**AUTOSCALER_VALUES, "containerSecurityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}
    assert check(NAME, helm("cluster-autoscaler", AUTOSCALER_VALUES)).passed
    assert len(check(NAME, helm("cluster-autoscaler", values)).messages) == 2


def test_not_applicable_to_other_types_and_unknown_values() -> None:
    assert check(NAME, resource_args("kubernetes:core/v1:ConfigMap", {"data": {}})).not_applicable
    unknown = with_container(restricted_pod(), {"securityContext": {"capabilities": UNKNOWN}})
    assert check(NAME, workload("Pod", unknown)).not_applicable


def test_exception_waives(exceptions_file) -> None:
    assert_waived(NAME, lambda config: workload("Job", _caps(add=["SYS_ADMIN"]), config=config), exceptions_file)
