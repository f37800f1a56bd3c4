"""k8s-pss-sysctls: PSS baseline Sysctls (the safe set)."""

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

NAME = "k8s-pss-sysctls"
SAFE = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
]


def _sysctls(*names: str) -> dict:
    return with_pod(restricted_pod(), securityContext={"sysctls": [{"name": n, "value": "1"} for n in names]})


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_safe_sysctls_pass_in_every_kind(kind: str) -> None:
    assert check(NAME, workload(kind, _sysctls(*SAFE))).passed


@pytest.mark.parametrize("name", ["kernel.msgmax", "net.core.somaxconn", "vm.swappiness", "net.ipv4.ip_forward"])
def test_unsafe_sysctl_fails(name: str) -> None:
    outcome = check(NAME, workload("CronJob", _sysctls("kernel.shm_rmid_forced", name)))
    assert outcome.messages == [f"'w': the pod sets sysctl {name} (PSS Sysctls allows only the safe set)"]


def test_not_applicable_to_other_types_and_unknown_values() -> None:
    assert check(NAME, resource_args("kubernetes:core/v1:Service", {})).not_applicable
    assert check(NAME, workload("Pod", with_pod(restricted_pod(), securityContext={"sysctls": UNKNOWN}))).not_applicable


def test_exception_waives(exceptions_file) -> None:
    assert_waived(NAME, lambda config: workload("Pod", _sysctls("kernel.msgmax"), config=config), exceptions_file)
    assert check(NAME, helm("cluster-autoscaler", AUTOSCALER_VALUES)).passed
