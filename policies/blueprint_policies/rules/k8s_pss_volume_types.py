"""PSS restricted, Volume Types: only the core, pod-scoped volume sources."""

from __future__ import annotations

from collections.abc import Callable

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from pulumi_policy import Severity

from ._k8s import PSS_TYPES, PodView, pss_check

ALLOWED = ("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret")

META = Meta(
    id="BP-PSS-012",
    name="k8s-pss-volume-types",
    description=f"PSS restricted 'Volume Types': every volume is one of {', '.join(ALLOWED)}.",
    severity=Severity.MEDIUM,
    category="security",
    resource_types=PSS_TYPES,
    remediation="Use a PersistentVolumeClaim (storage defined through PersistentVolumes) or an ephemeral source.",
    equivalents=Equivalents(trivy=("AVD-KSV-0028",)),
    standard="Kubernetes Pod Security Standards (restricted): Volume Types",
)


def judge(pod: PodView, report: Callable[[str], None]) -> None:
    """Report volumes of any other type."""
    for volume in pod.volumes():
        sources = sorted(k for k in volume if k != "name" and volume[k] is not None)
        bad = [s for s in sources if s not in ALLOWED] or ([] if sources else ["(none)"])
        if bad:
            report(f"volume '{volume.get('name', '?')}' is of type {', '.join(bad)} (PSS restricted Volume Types)")


POLICY = ResourcePolicy(META, pss_check(True, judge))
