"""ClusterAutoscaler: the Kubernetes cluster autoscaler (Helm chart) with a least-privilege Pod Identity role."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from . import validation as check
from .eks_versions import lookup
from .gpu_node_group import NODE_POOL_LABEL
from .iam import Statement
from .kubernetes import restricted_container_security_context
from .pod_identity import PodIdentityRole, PodIdentityRoleArgs

CHART = "cluster-autoscaler"
CHART_REPOSITORY = "https://kubernetes.github.io/autoscaler"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"


def autoscaler_statements(cluster_name: str, region: str, account_id: pulumi.Input[str]) -> list[Statement]:
    """The autoscaler's IAM statements: scale and terminate only this cluster's tagged groups.

    ``autoscaling:Describe*``/``ec2:Describe*`` are read-only metadata calls that support no
    resource-level permissions, so they take ``*``; the two write actions are limited to Auto
    Scaling groups in the stack's account and region tagged ``k8s.io/cluster-autoscaler/<cluster>``,
    and ``eks:DescribeNodegroup`` (labels and taints for scale-from-zero) to this cluster's groups.
    """
    return [
        {
            "Sid": "ScaleOwnNodeGroupsOnly",
            "Effect": "Allow",
            "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
            "Resource": pulumi.Output.concat(
                "arn:aws:autoscaling:", region, ":", account_id, ":autoScalingGroup:*:autoScalingGroupName/*"
            ),
            "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}},
        },
        {
            "Sid": "DiscoverGroupsAndInstanceTypes",
            "Effect": "Allow",
            "Action": [
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeAutoScalingInstances",
                "autoscaling:DescribeLaunchConfigurations",
                "autoscaling:DescribeScalingActivities",
                "autoscaling:DescribeTags",
                "ec2:DescribeImages",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplateVersions",
                "ec2:GetInstanceTypesFromInstanceRequirements",
            ],
            "Resource": "*",
        },
        {
            "Sid": "ReadOwnNodeGroupTemplates",
            "Effect": "Allow",
            "Action": "eks:DescribeNodegroup",
            "Resource": pulumi.Output.concat(
                "arn:aws:eks:", region, ":", account_id, ":nodegroup/", cluster_name, "/*/*"
            ),
        },
    ]


@dataclass(frozen=True)
class ClusterAutoscalerArgs:
    """Inputs of :class:`ClusterAutoscaler`. Checked at construction: a bad value raises naming the field."""

    cluster: aws.eks.Cluster
    """The cluster. Required."""
    cluster_name: str
    """Its static name (auto-discovery tag). Required."""
    kubernetes_version: str
    """Cluster minor version, a row of the EKS version table (``components/eks_versions.py``),
    which gives the image tag and chart version (the autoscaler's minor must match). Required."""
    region: str
    """Stack region. Required."""
    account_id: pulumi.Input[str]
    """Stack account. Required."""
    tags: Mapping[str, str]
    """Required tags for the role and association. Required."""
    provider: k8s.Provider
    """Provider of the cluster. Required."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What the release waits for (the nodes it runs on). Defaults to none."""

    def __post_init__(self) -> None:
        check.check_type(self, "cluster_name", self.cluster_name, str)
        check.check_type(self, "kubernetes_version", self.kubernetes_version, str)
        if lookup(self.kubernetes_version) is None:
            check.fail(
                self,
                "kubernetes_version",
                f"{self.kubernetes_version!r} is not in the EKS version table (components/data/eks_versions.json); "
                "it gives the autoscaler's image and chart",
            )
        check.check_type(self, "region", self.region, str)
        check.check_mapping(self, "tags", self.tags)


class ClusterAutoscaler(pulumi.ComponentResource):
    """The cluster autoscaler in ``kube-system``, discovering node groups by tag.

    Children: ``<name>-identity`` (a :class:`PodIdentityRole` for ``kube-system/cluster-autoscaler``
    with :func:`autoscaler_statements`) and ``<name>-release`` (the Helm release, created after
    the Pod Identity association so its pod gets credentials). The autoscaler runs on the system
    nodes, balances similar groups, uses the ``least-waste`` expander and may scale GPU groups
    to and from zero.

    The image tag and chart version come from the EKS version table for
    ``kubernetes_version``; a version not in the table raises ``ValueError`` when the Args are built.

    Example::

        ClusterAutoscaler("cluster-autoscaler", ClusterAutoscalerArgs(cluster=c.cluster,
            cluster_name="ai-prod", kubernetes_version="1.36", region="eu-central-1",
            account_id=acct, tags=tags, provider=c.provider))
    """

    release: k8s.helm.v3.Release
    identity: PodIdentityRole

    def __init__(self, name: str, args: ClusterAutoscalerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-ai:compute:ClusterAutoscaler", name, None, opts)
        version = lookup(args.kubernetes_version)
        assert version is not None  # checked by the Args
        self.identity = PodIdentityRole(
            f"{name}-identity",
            PodIdentityRoleArgs(
                cluster_name=args.cluster.name,
                cluster_arn=args.cluster.arn,
                namespace=NAMESPACE,
                service_account=SERVICE_ACCOUNT,
                statements=autoscaler_statements(args.cluster_name, args.region, args.account_id),
                description=f"Cluster autoscaler of {args.cluster_name}",
                tags=args.tags,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        values = {
            "cloudProvider": "aws",
            "awsRegion": args.region,
            "fullnameOverride": "cluster-autoscaler",
            "autoDiscovery": {
                "clusterName": args.cluster_name,
                "tags": ["k8s.io/cluster-autoscaler/enabled", f"k8s.io/cluster-autoscaler/{args.cluster_name}"],
            },
            "image": {"tag": version.cluster_autoscaler_image_tag},
            "rbac": {"create": True, "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT}},
            "extraArgs": {
                "balance-similar-node-groups": True,
                "expander": "least-waste",
                "skip-nodes-with-system-pods": False,
                "scale-down-unneeded-time": "10m",
            },
            "nodeSelector": {NODE_POOL_LABEL: "system"},
            "priorityClassName": "system-cluster-critical",
            "containerSecurityContext": restricted_container_security_context()
            | {"runAsUser": 65534, "runAsGroup": 65534},
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65534,
                "fsGroup": 65534,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
        }
        depends = [*args.depends_on, *([self.identity.association] if self.identity.association is not None else [])]
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name="cluster-autoscaler",
            chart=CHART,
            version=version.cluster_autoscaler_chart_version,
            repository_opts={"repo": CHART_REPOSITORY},
            namespace=NAMESPACE,
            values=values,
            atomic=True,
            cleanup_on_fail=True,
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=depends),
        )
        self.register_outputs({"role_arn": self.identity.arn, "release": self.release.name})
