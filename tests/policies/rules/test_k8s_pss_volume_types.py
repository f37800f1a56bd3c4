"""k8s-pss-volume-types: PSS restricted Volume Types."""

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

NAME = "k8s-pss-volume-types"
ALLOWED = {
    "configMap": {"name": "c"},
    "csi": {"driver": "secrets-store.csi.k8s.io"},
    "downwardAPI": {"items": []},
    "emptyDir": {},
    "ephemeral": {"volumeClaimTemplate": {"spec": {}}},
    "persistentVolumeClaim": {"claimName": "d"},
    "projected": {"sources": []},
    "secret": {"secretName": "s"},
}
RESTRICTED = {
    "hostPath": {"path": "/"},
    "nfs": {"server": "fs", "path": "/"},
    "awsElasticBlockStore": {"volumeID": "vol-1"},
    "gitRepo": {"repository": "r"},
    "iscsi": {"targetPortal": "p", "iqn": "q", "lun": 0},
    "cephfs": {"monitors": []},
    "flexVolume": {"driver": "d"},
    "rbd": {"image": "i", "monitors": []},
}


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_every_allowed_type_passes_in_every_kind(kind: str) -> None:
    spec = with_pod(restricted_pod(), volumes=[{"name": k, k: v} for k, v in ALLOWED.items()])
    assert check(NAME, workload(kind, spec)).passed


@pytest.mark.parametrize("source", RESTRICTED)
def test_each_restricted_type_fails(source: str) -> None:
    spec = with_pod(
        restricted_pod(), volumes=[{"name": "tmp", "emptyDir": {}}, {"name": "v", source: RESTRICTED[source]}]
    )
    assert check(NAME, workload("CronJob", spec)).messages == [
        f"'w': volume 'v' is of type {source} (PSS restricted Volume Types)"
    ]


def test_volume_without_a_source_fails() -> None:
    spec = with_pod(restricted_pod(), volumes=[{"name": "v"}])
    assert "(none)" in check(NAME, workload("Pod", spec)).messages[0]


def test_not_applicable_to_other_types_unknown_values_and_helm_values() -> None:
    assert check(NAME, resource_args("kubernetes:core/v1:Service", {})).not_applicable
    assert check(NAME, workload("Pod", with_pod(restricted_pod(), volumes=UNKNOWN))).not_applicable
    assert check(NAME, helm("cluster-autoscaler", AUTOSCALER_VALUES)).not_applicable


def test_exception_waives(exceptions_file) -> None:
    spec = with_pod(restricted_pod(), volumes=[{"name": "v", "nfs": {"server": "fs", "path": "/"}}])
    assert_waived(NAME, lambda config: workload("Pod", spec, config=config), exceptions_file)
