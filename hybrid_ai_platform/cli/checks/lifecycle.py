"""Lifecycle: each EKS cluster's Kubernetes version against AWS's standard-support calendar.

A minor version has 14 months of standard support, then 12 of extended support at a higher price
per cluster hour. The clusters this library creates set ``upgradePolicy.supportType: STANDARD``,
so "If your upgrade policy is STANDARD, it will be automatically upgraded" when standard support
ends (https://docs.aws.amazon.com/eks/latest/userguide/view-upgrade-policy.html): an upgrade the
team did not plan, onto add-on, autoscaler and AMI versions the stack did not pin. The calendar is
``components/data/eks_versions.json`` (one source, dated), read through
:mod:`hybrid_ai_platform.components.eks_versions`.
"""

from __future__ import annotations

from collections.abc import Iterator

from . import CheckContext, Finding, check

WARNING_DAYS = 90
"""A version with this many days of standard support left, or fewer, gets an advisory finding."""
CLUSTER = "aws:eks/cluster:Cluster"
FIELD = "cluster.kubernetes_version"


@check(
    name="system-eks-version-support",
    id="BP-SYS-001",
    description=(
        "Each EKS cluster runs a Kubernetes version in standard support: past its end, a STANDARD upgrade "
        "policy upgrades the cluster automatically (an unplanned upgrade), and extended support costs more."
    ),
    remediation=(
        "Set cluster.kubernetes_version to a version with more than 90 days of standard support left "
        "(components/data/eks_versions.json lists them with their end dates), then upgrade the cluster, "
        "its add-ons and node groups one minor version at a time."
    ),
    severity="high",
    resource_types=(CLUSTER,),
)
def eks_version_support(context: CheckContext) -> Iterator[Finding]:
    """Mandatory once standard support has ended; advisory within :data:`WARNING_DAYS` of its end."""
    from hybrid_ai_platform.components.eks_versions import EKS_VERSIONS, lookup

    for cluster in context.resources(CLUSTER):
        version = str(cluster.inputs.get("version") or "")
        entry = lookup(version)
        if entry is None:
            yield Finding(
                f"Kubernetes version '{version}' is not a version EKS offers "
                f"(known: {', '.join(sorted(EKS_VERSIONS))})",
                field=FIELD,
                resource=cluster,
            )
            continue
        left = (entry.standard_support_end - context.today).days
        if left < 0:
            yield Finding(
                f"Kubernetes {version} left EKS standard support on {entry.standard_support_end.isoformat()} "
                f"({-left} days before {context.today.isoformat()}); with the STANDARD upgrade policy EKS upgrades "
                "the cluster automatically",
                field=FIELD,
                resource=cluster,
            )
        elif left <= WARNING_DAYS:
            yield Finding(
                f"Kubernetes {version} leaves EKS standard support on {entry.standard_support_end.isoformat()}, "
                f"in {left} days; plan the upgrade before EKS upgrades the cluster automatically",
                field=FIELD,
                resource=cluster,
                enforcement="advisory",
            )
