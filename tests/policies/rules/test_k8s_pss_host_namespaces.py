"""k8s-pss-host-namespaces: PSS baseline Host Namespaces."""

from __future__ import annotations

import pytest
from hybrid_ai_platform.policies.testing import UNKNOWN, resource_args

from tests.policies.rules.support import (
    AUTOSCALER_VALUES,
    WORKLOAD_KINDS,
    assert_waived,
    check,
    helm,
    restricted_pod,
    with_pod,
    workload,
)

NAME = "k8s-pss-host-namespaces"


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_restricted_pod_passes_in_every_kind(kind: str) -> None:
    assert check(NAME, workload(kind, restricted_pod())).passed


def test_explicit_false_passes() -> None:
    spec = with_pod(restricted_pod(), hostNetwork=False, hostPID=False, hostIPC=False)
    assert check(NAME, workload("Pod", spec)).passed


@pytest.mark.parametrize("field", ["hostNetwork", "hostPID", "hostIPC"])
@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_each_host_namespace_fails(kind: str, field: str) -> None:
    outcome = check(NAME, workload(kind, with_pod(restricted_pod(), **{field: True})))
    assert outcome.messages == [f"'w': the pod sets {field}=true (PSS Host Namespaces)"]


def test_not_applicable_to_other_types_unknown_values_and_helm_values() -> None:
    assert check(NAME, resource_args("kubernetes:core/v1:Service", {"spec": {}})).not_applicable
    assert check(NAME, workload("Pod", with_pod(restricted_pod(), hostNetwork=UNKNOWN))).not_applicable
    # a chart's values show only security contexts, not hostNetwork: said, not guessed
    assert "only the security contexts" in (
        check(NAME, helm("cluster-autoscaler", AUTOSCALER_VALUES)).not_applicable or ""
    )


def test_exception_waives(exceptions_file) -> None:
    assert_waived(
        NAME,
        lambda config: workload("DaemonSet", with_pod(restricted_pod(), hostPID=True), config=config),
        exceptions_file,
    )
