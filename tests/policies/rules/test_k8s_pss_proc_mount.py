"""k8s-pss-proc-mount: PSS /proc Mount Type."""

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

NAME = "k8s-pss-proc-mount"


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_restricted_pod_passes_in_every_kind(kind: str) -> None:
    assert check(NAME, workload(kind, restricted_pod())).passed
    assert check(
        NAME, workload(kind, with_container(restricted_pod(), {"securityContext": {"procMount": "Default"}}))
    ).passed


@pytest.mark.parametrize("where", CONTAINER_LISTS)
def test_unmasked_fails_in_every_list(where: str) -> None:
    spec = with_container(restricted_pod(), {"securityContext": {"procMount": "Unmasked"}}, where)
    (message,) = check(NAME, workload("CronJob", spec)).messages
    assert "procMount=Unmasked (PSS /proc Mount Type)" in message


def test_not_applicable_to_other_types_and_unknown_values() -> None:
    assert check(NAME, resource_args("kubernetes:core/v1:Service", {})).not_applicable
    spec = with_container(restricted_pod(), {"securityContext": {"procMount": UNKNOWN}})
    assert check(NAME, workload("Pod", spec)).not_applicable


def test_exception_waives(exceptions_file) -> None:
    spec = with_container(restricted_pod(), {"securityContext": {"procMount": "Unmasked"}})
    assert_waived(NAME, lambda config: workload("Pod", spec, config=config), exceptions_file)
    assert check(NAME, helm("cluster-autoscaler", AUTOSCALER_VALUES)).passed
