"""k8s-pss-apparmor: PSS baseline AppArmor (fields and the beta annotations)."""

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

NAME = "k8s-pss-apparmor"
ANNOTATION = "container.apparmor.security.beta.kubernetes.io/server"


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_restricted_pod_passes_in_every_kind(kind: str) -> None:
    assert check(NAME, workload(kind, restricted_pod())).passed


@pytest.mark.parametrize("kind", ["RuntimeDefault", "Localhost"])
def test_allowed_profiles_pass(kind: str) -> None:
    spec = with_pod(restricted_pod(), securityContext={"appArmorProfile": {"type": kind}})
    assert check(
        NAME, workload("Pod", with_container(spec, {"securityContext": {"appArmorProfile": {"type": kind}}}))
    ).passed
    for value in ("runtime/default", "localhost/my-profile"):
        assert check(
            NAME, workload("Deployment", restricted_pod(), metadata={"annotations": {ANNOTATION: value}})
        ).passed


@pytest.mark.parametrize("where", CONTAINER_LISTS)
def test_unconfined_container_fails_in_every_list(where: str) -> None:
    spec = with_container(restricted_pod(), {"securityContext": {"appArmorProfile": {"type": "Unconfined"}}}, where)
    (message,) = check(NAME, workload("CronJob", spec)).messages
    assert "appArmorProfile.type=Unconfined" in message


def test_unconfined_pod_fails() -> None:
    spec = with_pod(restricted_pod(), securityContext={"appArmorProfile": {"type": "Unconfined"}})
    assert check(NAME, workload("StatefulSet", spec)).messages == [
        "'w': the pod sets appArmorProfile.type=Unconfined (PSS AppArmor)"
    ]


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_unconfined_annotation_on_the_pod_template_fails(kind: str) -> None:
    outcome = check(NAME, workload(kind, restricted_pod(), metadata={"annotations": {ANNOTATION: "unconfined"}}))
    assert outcome.messages == [
        f"'w': annotation {ANNOTATION}=unconfined (PSS AppArmor allows runtime/default or localhost/*)"
    ]


def test_not_applicable_to_other_types_and_unknown_values() -> None:
    assert check(NAME, resource_args("kubernetes:core/v1:Service", {})).not_applicable
    assert check(
        NAME, workload("Pod", with_pod(restricted_pod(), securityContext={"appArmorProfile": UNKNOWN}))
    ).not_applicable
    assert check(NAME, helm("aws-load-balancer-controller", {})).not_applicable


def test_exception_waives(exceptions_file) -> None:
    spec = with_pod(restricted_pod(), securityContext={"appArmorProfile": {"type": "Unconfined"}})
    assert_waived(NAME, lambda config: workload("Job", spec, config=config), exceptions_file)
    assert check(NAME, helm("cluster-autoscaler", AUTOSCALER_VALUES)).passed
