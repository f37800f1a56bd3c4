"""k8s-pss-selinux: PSS baseline SELinux."""

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

NAME = "k8s-pss-selinux"


def _options(options: dict, where: str | None = "containers") -> dict:
    if where is None:
        return with_pod(restricted_pod(), securityContext={"seLinuxOptions": options})
    return with_container(restricted_pod(), {"securityContext": {"seLinuxOptions": options}}, where)


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_restricted_pod_passes_in_every_kind(kind: str) -> None:
    assert check(NAME, workload(kind, restricted_pod())).passed


@pytest.mark.parametrize(
    "selinux_type", ["", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"]
)
def test_container_types_and_a_level_pass(selinux_type: str) -> None:
    assert check(NAME, workload("Pod", _options({"type": selinux_type, "level": "s0:c123,c456"}))).passed
    assert check(NAME, workload("Pod", _options({"user": "", "role": ""}, None))).passed


@pytest.mark.parametrize("where", [*CONTAINER_LISTS, None])
@pytest.mark.parametrize("options", [{"type": "spc_t"}, {"user": "system_u"}, {"role": "sysadm_r"}])
def test_custom_type_user_or_role_fails_on_pod_and_every_container_list(options: dict, where: str | None) -> None:
    (message,) = check(NAME, workload("Deployment", _options(options, where))).messages
    field, value = next(iter(options.items()))
    assert f"seLinuxOptions.{field}={value}" in message


def test_helm_values_are_judged() -> None:
    values = {**AUTOSCALER_VALUES, "containerSecurityContext": {"seLinuxOptions": {"type": "spc_t"}}}
    assert check(NAME, helm("cluster-autoscaler", values)).messages


def test_not_applicable_to_other_types_and_unknown_values() -> None:
    assert check(NAME, resource_args("kubernetes:core/v1:Service", {})).not_applicable
    assert check(NAME, workload("Pod", _options(UNKNOWN))).not_applicable  # type: ignore[arg-type]


def test_exception_waives(exceptions_file) -> None:
    assert_waived(NAME, lambda config: workload("Pod", _options({"type": "spc_t"}), config=config), exceptions_file)
