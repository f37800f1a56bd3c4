"""PodIdentityRole: an IAM role bound to one Kubernetes service account through EKS Pod Identity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from .iam import Statement, policy_document

POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"
"""The service principal EKS Pod Identity assumes roles as."""


def pod_identity_trust_policy(
    cluster_arn: pulumi.Input[str], namespace: str, service_account: str
) -> pulumi.Output[str]:
    """Trust policy for EKS Pod Identity, limited to one cluster, namespace and service account.

    Pod Identity passes the session tags ``eks-cluster-arn``, ``kubernetes-namespace`` and
    ``kubernetes-service-account`` (hence ``sts:TagSession``); conditioning on them means no
    other association in the account can use the role, even if someone creates one. The
    cluster ARN pins the account too (Pod Identity documents only these session-tag keys as
    conditions, so no ``aws:SourceAccount``).
    """
    return policy_document(
        [
            {
                "Sid": "EksPodIdentityForOneServiceAccount",
                "Effect": "Allow",
                "Principal": {"Service": POD_IDENTITY_PRINCIPAL},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Condition": {
                    "StringEquals": {
                        "aws:RequestTag/eks-cluster-arn": cluster_arn,
                        "aws:RequestTag/kubernetes-namespace": namespace,
                        "aws:RequestTag/kubernetes-service-account": service_account,
                    }
                },
            }
        ]
    )


@dataclass(frozen=True)
class PodIdentityRoleArgs:
    """Inputs of :class:`PodIdentityRole`."""

    cluster_name: pulumi.Input[str]
    """EKS cluster of the association. Required."""
    cluster_arn: pulumi.Input[str]
    """Its ARN (trust condition). Required."""
    namespace: str
    """Namespace of the service account. Required."""
    service_account: str
    """Service account name. Required."""
    statements: Sequence[Statement]
    """The role's permissions, as an inline policy. Required (may be empty only with
    ``managed_policy_arns``)."""
    tags: Mapping[str, str]
    """Required tags for the role and the association. Required."""
    description: str = ""
    """Role description. Defaults to the namespace/service account."""
    managed_policy_arns: Sequence[str] = ()
    """AWS-managed policies to attach (e.g. ``AmazonEKS_CNI_Policy``). Defaults to none."""
    create_association: bool = True
    """Create the ``aws.eks.PodIdentityAssociation``. Defaults to true; EKS add-ons that bind
    their own roles (``aws.eks.Addon.pod_identity_associations``) pass false."""


class PodIdentityRole(pulumi.ComponentResource):
    """A role only one service account of one cluster can assume, with exactly the given statements.

    Children: ``<name>-role`` (trust: :func:`pod_identity_trust_policy`), ``<name>-policy``
    (inline policy from ``statements``), ``<name>-<managed policy>`` attachments and
    ``<name>-association`` (the Pod Identity association), all named from the component.

    Example::

        PodIdentityRole("fraud-scorer-identity", PodIdentityRoleArgs(cluster_name=cluster.name,
            cluster_arn=cluster.arn, namespace="fraud-scorer",
            service_account="fraud-scorer", statements=registry.read_statements("models/fraud-scorer/"),
            tags=tags))
    """

    role: aws.iam.Role
    association: aws.eks.PodIdentityAssociation | None
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: PodIdentityRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-ai:security:PodIdentityRole", name, None, opts)
        tags = dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(
            f"{name}-role",
            description=args.description or f"EKS Pod Identity for {args.namespace}/{args.service_account}",
            assume_role_policy=pod_identity_trust_policy(args.cluster_arn, args.namespace, args.service_account),
            max_session_duration=3600,
            tags=tags,
            opts=child,
        )
        depends: list[pulumi.Resource] = []
        if args.statements:
            depends.append(
                aws.iam.RolePolicy(
                    f"{name}-policy",
                    role=self.role.id,
                    policy=policy_document(args.statements),
                    opts=pulumi.ResourceOptions(parent=self.role),
                )
            )
        for arn in args.managed_policy_arns:
            depends.append(
                aws.iam.RolePolicyAttachment(
                    f"{name}-{arn.rsplit('/', 1)[-1]}",
                    role=self.role.name,
                    policy_arn=arn,
                    opts=pulumi.ResourceOptions(parent=self.role),
                )
            )
        self.association = None
        if args.create_association:
            self.association = aws.eks.PodIdentityAssociation(
                f"{name}-association",
                cluster_name=args.cluster_name,
                namespace=args.namespace,
                service_account=args.service_account,
                role_arn=self.role.arn,
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self, depends_on=depends),
            )
        self.arn = self.role.arn
        self.register_outputs({"role_arn": self.role.arn})
