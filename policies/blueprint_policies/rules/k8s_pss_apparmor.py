"""PSS baseline, AppArmor: the runtime's default or a node-local profile, never unconfined."""

from __future__ import annotations

from collections.abc import Callable

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from pulumi_policy import Severity

from ._k8s import PSS_TYPES, PodView, container_context, pss_check

ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"

META = Meta(
    id="BP-PSS-006",
    name="k8s-pss-apparmor",
    description="PSS baseline 'AppArmor': appArmorProfile.type is unset, RuntimeDefault or Localhost (pod and "
    "containers), and the beta annotations are runtime/default or localhost/*.",
    severity=Severity.HIGH,
    category="security",
    resource_types=PSS_TYPES,
    remediation="Remove the Unconfined AppArmor profile (securityContext.appArmorProfile or the "
    "container.apparmor.security.beta.kubernetes.io annotation); RuntimeDefault applies by default.",
    equivalents=Equivalents(trivy=("AVD-KSV-0002",)),
    standard="Kubernetes Pod Security Standards (baseline): AppArmor",
)
ALLOWED_TYPES = ("RuntimeDefault", "Localhost")


def judge(pod: PodView, report: Callable[[str], None]) -> None:
    """Report profiles and annotations outside the allowed values."""
    kind = (pod.security_context.get("appArmorProfile") or {}).get("type")
    if kind is not None and kind not in ALLOWED_TYPES:
        report(f"the pod sets appArmorProfile.type={kind} (PSS AppArmor)")
    for label, container in pod.containers():
        kind = (container_context(container).get("appArmorProfile") or {}).get("type")
        if kind is not None and kind not in ALLOWED_TYPES:
            report(f"{label} sets appArmorProfile.type={kind} (PSS AppArmor)")
    for key, value in sorted((pod.metadata.get("annotations") or {}).items()):
        if str(key).startswith(ANNOTATION) and not (value == "runtime/default" or str(value).startswith("localhost/")):
            report(f"annotation {key}={value} (PSS AppArmor allows runtime/default or localhost/*)")


POLICY = ResourcePolicy(META, pss_check(False, judge))
