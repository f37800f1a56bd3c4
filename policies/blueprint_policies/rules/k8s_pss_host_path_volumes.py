"""PSS baseline, HostPath Volumes: no hostPath volume."""

from __future__ import annotations

from collections.abc import Callable

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from pulumi_policy import Severity

from ._k8s import PSS_TYPES, PodView, pss_check

META = Meta(
    id="BP-PSS-004",
    name="k8s-pss-host-path-volumes",
    description="PSS baseline 'HostPath Volumes': no volume of the pod is a hostPath.",
    severity=Severity.HIGH,
    category="security",
    resource_types=PSS_TYPES,
    remediation="Use an emptyDir, a configMap/secret/projected volume or a PersistentVolumeClaim instead of hostPath.",
    equivalents=Equivalents(checkov=("CKV_K8S_27",), trivy=("AVD-KSV-0023",)),
    standard="Kubernetes Pod Security Standards (baseline): HostPath Volumes",
)


def judge(pod: PodView, report: Callable[[str], None]) -> None:
    """Report each hostPath volume."""
    for volume in pod.volumes():
        if volume.get("hostPath") is not None:
            path = (volume.get("hostPath") or {}).get("path", "?")
            report(f"volume '{volume.get('name', '?')}' mounts host path {path} (PSS HostPath Volumes)")


POLICY = ResourcePolicy(META, pss_check(True, judge))
