"""KEDA: scales each model's Deployment on its in-flight requests per pod, read from CloudWatch.

CPU is not the load signal of GPU inference (the work runs on the GPU; a saturated server can idle
its CPUs), so the models scale on ``InFlight``, the in-flight requests the servers report as EMF
(``container_src/inference_server/emf.py``). KEDA's ``aws-cloudwatch`` scaler reads the metric and
feeds the HPA it manages as an external metric with target type ``AverageValue``: the HPA divides the
summed in-flight requests by the replica count, i.e. scales on in-flight requests per pod
(https://keda.sh/docs/2.19/scalers/aws-cloudwatch/). Reading CloudWatch keeps one plane (the alarms and
the scaler see the same numbers) and needs no Prometheus server in the cluster; the Prometheus adapter
would need one.

The operator gets AWS credentials through EKS Pod Identity (service account ``keda-operator`` in
``keda``); its only permission is ``cloudwatch:GetMetricData``, an action without resource-level
permissions (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html),
so its resource is ``*``. A ``TriggerAuthentication`` with ``podIdentity.provider: aws`` in each model's
namespace makes the scaler use the operator's identity
(https://keda.sh/docs/2.19/authentication-providers/aws/).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from . import validation as check
from .gpu_node_group import NODE_POOL_LABEL
from .pod_identity import PodIdentityRole, PodIdentityRoleArgs

CHART = "keda"
CHART_REPOSITORY = "https://kedacore.github.io/charts"
CHART_VERSION = "2.21.0"
"""Pinned chart (= KEDA) version. KEDA's compatibility table lists v2.21 as tested on Kubernetes
1.34-1.36 (https://keda.sh/docs/2.22/operate/cluster/), the versions the shipped stacks run."""
NAMESPACE = "keda"
OPERATOR_SERVICE_ACCOUNT = "keda-operator"
TRIGGER_AUTHENTICATION = "keda-aws-operator-identity"
"""Name of the TriggerAuthentication in each model namespace."""
SCALED_OBJECT_API = "keda.sh/v1alpha1"


@dataclass(frozen=True)
class KedaArgs:
    """Inputs of :class:`Keda`."""

    cluster: aws.eks.Cluster
    """Cluster of the Pod Identity association. Required."""
    provider: k8s.Provider
    """Provider of the cluster. Required."""
    tags: Mapping[str, str]
    """Required tags for the role. Required."""
    chart_version: str = CHART_VERSION
    """Chart version. Defaults to :data:`CHART_VERSION`."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What the release waits for (the system nodes, the Pod Identity agent). Defaults to none."""
    sqs_queue_arns: Sequence[pulumi.Input[str]] = ()
    """Queues an ``aws-sqs-queue`` trigger reads (the preprocessing workers' queues): the operator may call
    ``sqs:GetQueueAttributes`` on exactly these. Defaults to none (no SQS permission)."""

    def __post_init__(self) -> None:
        check.check_mapping(self, "tags", self.tags)
        check.check_pattern(self, "chart_version", self.chart_version, r"\d+\.\d+\.\d+", "a chart version (2.16.0)")


class Keda(pulumi.ComponentResource):
    """The KEDA operator (Helm chart, on the system nodes) with a read-only CloudWatch identity.

    Example::

        Keda("keda", KedaArgs(cluster=c.cluster, provider=c.provider, tags=tags))
    """

    release: k8s.helm.v3.Release
    identity: PodIdentityRole

    def __init__(self, name: str, args: KedaArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-ai:compute:Keda", name, None, opts)
        self.identity = PodIdentityRole(
            f"{name}-identity",
            PodIdentityRoleArgs(
                cluster_name=args.cluster.name,
                cluster_arn=args.cluster.arn,
                namespace=NAMESPACE,
                service_account=OPERATOR_SERVICE_ACCOUNT,
                statements=[
                    {
                        "Sid": "ReadScalingMetrics",
                        "Effect": "Allow",
                        "Action": "cloudwatch:GetMetricData",
                        "Resource": "*",
                    },
                    # The aws-sqs-queue scaler reads ApproximateNumberOfMessages(+NotVisible) with
                    # GetQueueAttributes (https://keda.sh/docs/2.21/scalers/aws-sqs/).
                    *(
                        [
                            {
                                "Sid": "ReadQueueDepth",
                                "Effect": "Allow",
                                "Action": "sqs:GetQueueAttributes",
                                "Resource": list(args.sqs_queue_arns),
                            }
                        ]
                        if args.sqs_queue_arns
                        else []
                    ),
                ],
                description="KEDA operator: read the CloudWatch metrics the models scale on",
                tags=dict(args.tags),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        system = {NODE_POOL_LABEL: "system"}
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name="keda",
            chart=CHART,
            version=args.chart_version,
            repository_opts={"repo": CHART_REPOSITORY},
            namespace=NAMESPACE,
            create_namespace=True,
            # The chart's operator service account is keda-operator (the Pod Identity association names it).
            values={"nodeSelector": system},
            atomic=True,
            cleanup_on_fail=True,
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                depends_on=[*args.depends_on, *([self.identity.association] if self.identity.association else [])],
            ),
        )
        self.register_outputs({"release": self.release.name, "role_arn": self.identity.arn})
