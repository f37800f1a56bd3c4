"""InferenceCluster: an EKS control plane, its managed add-ons and the system node group.

Built from ``pulumi_aws`` resources (not ``pulumi_eks``) so that every input is visible in the
offline plan and no secure default depends on a higher-level library's choices. Secure by
default, as terraform-aws-eks: private endpoint only, envelope encryption of Secrets with the
stack key, API-only authentication through access entries (no ``aws-auth`` ConfigMap, no
implicit admin for the creator), control-plane logs to a KMS-encrypted group with retention,
IMDSv2 with hop limit 1 on nodes, the VPC CNI's AWS permissions through Pod Identity instead
of the node role.

Deploy path: the role that runs ``pulumi up`` (``deployer_role_arn``) gets a cluster-admin
access entry like the admin roles, and each deployer security group or CIDR gets an ingress
rule for TCP 443 on the EKS-created cluster security group, which the private endpoint's
network interfaces use, so the Kubernetes half of the update can reach the API server.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from hybrid_ai_platform.contracts import GPU_FAMILIES, LOG_RETENTION_DAYS, EksAddonName

from . import eks_versions
from . import validation as check
from .encryption_key import KmsKey, check_kms_key, kms_key_arn
from .gpu_node_group import NODE_POOL_LABEL, node_launch_template
from .iam import policy_document, service_assume_role_policy
from .kubernetes import kubeconfig
from .pod_identity import PodIdentityRole, PodIdentityRoleArgs

CLUSTER_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
"""Control-plane log types sent to CloudWatch Logs (all five)."""
CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
"""EKS access policy given to each admin role, at cluster scope."""
NODE_MANAGED_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
)
"""The node role's only policies. ``AmazonEKS_CNI_Policy`` is deliberately absent: the VPC CNI
gets it through Pod Identity, so no pod can use the node's credentials to change ENIs.

AWS documents the CNI policy on the node role as needed only when neither IRSA nor EKS Pod
Identity gives the VPC CNI its permissions
(https://docs.aws.amazon.com/eks/latest/userguide/create-node-role.html). On a fresh node the
Pod Identity agent does not wait for the CNI: it runs in the node's host network
(https://docs.aws.amazon.com/eks/latest/userguide/pod-id-how-it-works.html), and its add-on is
created before ``vpc-cni`` and both before any node group (:data:`ADDONS_BEFORE_NODES`), as the
add-on IAM guide asks ("confirm that the EKS Pod Identity agent is set up",
https://docs.aws.amazon.com/eks/latest/userguide/add-ons-iam.html). The agent reaches the EKS
Auth API through the private subnets' NAT gateways."""
CNI_POLICY = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
AUTOSCALING_GRANT_OPERATIONS = (
    "Encrypt",
    "Decrypt",
    "ReEncryptFrom",
    "ReEncryptTo",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "DescribeKey",
    "CreateGrant",
)
"""What the EC2 Auto Scaling service-linked role needs on the key to launch nodes with
KMS-encrypted volumes."""
ADDONS_BEFORE_NODES: tuple[EksAddonName, ...] = ("eks-pod-identity-agent", "vpc-cni", "kube-proxy")
"""DaemonSet add-ons created before the node groups, so new nodes get networking at once."""
ADDONS_ON_SYSTEM_NODES: tuple[EksAddonName, ...] = ("coredns", "metrics-server")
"""Deployment add-ons created after the system node group. ``metrics-server`` (an EKS community
add-on, namespace ``kube-system``:
https://docs.aws.amazon.com/eks/latest/userguide/community-addons.html) serves the resource
metrics API the HorizontalPodAutoscalers read; EKS does not install it by default
(https://docs.aws.amazon.com/eks/latest/userguide/metrics-server.html). Both run on the system
nodes because every other node group is tainted (``nvidia.com/gpu=true:NoSchedule``) and they
tolerate no such taint."""
CLOUDWATCH_OBSERVABILITY: EksAddonName = "amazon-cloudwatch-observability"
"""The EKS add-on that installs the CloudWatch agent (Container Insights with enhanced observability, incl.
NVIDIA GPU metrics from its DCGM exporter) and Fluent Bit
(https://docs.aws.amazon.com/eks/latest/userguide/amazon-cloudwatch-observability.html). Its agent runs as
service account ``cloudwatch-agent`` in namespace ``amazon-cloudwatch`` and needs
``CloudWatchAgentServerPolicy``; from add-on version 3.1.0 it can get it through EKS Pod Identity
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-setup-EKS-addon.html).
Not pinned by default, like the other add-ons (``cluster.addon_versions`` pins it): no version list for
Kubernetes 1.36 could be confirmed offline; EKS installs the default version for the cluster's version."""
CLOUDWATCH_AGENT_POLICY = "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"
CLOUDWATCH_AGENT_CONFIG = {
    "agent": {
        "config": {
            "logs": {
                "metrics_collected": {
                    # The model servers' EMF metrics (components/inference_service.py), on the agent's default
                    # tcp:25888 listener
                    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Generation_CloudWatch_Agent.html).
                    "emf": {},
                    # Container Insights with enhanced observability, with NVIDIA GPU (accelerated compute) metrics.
                    "kubernetes": {"enhanced_container_insights": True, "accelerated_compute_metrics": True},
                }
            }
        }
    }
}
"""The add-on's ``configurationValues``: the CloudWatch agent configuration it runs."""
AUTOSCALING_SERVICE = "autoscaling.amazonaws.com"
"""Service principal of the EC2 Auto Scaling service-linked role."""
API_SERVER_PORT = 443


@dataclass(frozen=True)
class InferenceClusterArgs:
    """Inputs of :class:`InferenceCluster`."""

    cluster_name: str
    """Physical cluster name (also in the log-group name and autoscaler tags). Required."""
    kubernetes_version: str
    """Kubernetes minor version, e.g. ``1.36`` (a row of the EKS version table). Required."""
    region: str
    """Stack region. Required."""
    account_id: pulumi.Input[str]
    """Stack account. Required."""
    subnet_ids: pulumi.Input[Sequence[str]]
    """Private subnets (control-plane ENIs and nodes). Required."""
    kms_key: KmsKey
    """Stack key (an :class:`~.encryption_key.EncryptionKey` or ``aws.kms.Key``, or the ARN of a key you bring):
    Secrets envelope encryption, log group, node volumes. Required."""
    tags: Mapping[str, str]
    """Required tags. Required."""
    system_instance_types: Sequence[str] = ("m7i.large",)
    """Instance types of the on-demand system node group that runs the cluster add-ons (CPU types: GPU
    families are refused). Defaults to ``m7i.large``."""
    system_min_size: int = 2
    """Minimum system nodes, 1 to 100. Defaults to 2 (add-ons survive a node loss)."""
    system_max_size: int = 4
    """Maximum system nodes, 1 to 100. Defaults to 4."""
    system_desired_size: int = 2
    """Initial system nodes, between the minimum and maximum. Defaults to 2; afterwards the autoscaler owns it."""
    system_disk_size_gb: int = 50
    """Encrypted gp3 root volume of each system node, 20 to 16384 GB. Defaults to 50 GB."""
    admin_role_arns: Sequence[str] = ()
    """Roles given ``AmazonEKSClusterAdminPolicy`` through access entries. Defaults to none."""
    public_endpoint: bool = False
    """Also expose the API server publicly. Defaults to false (private only)."""
    public_access_cidrs: Sequence[str] = ()
    """CIDRs allowed to a public endpoint (ignored when private). Defaults to none."""
    log_retention_days: int = 90
    """Control-plane log retention, one of the periods CloudWatch Logs accepts. Defaults to 90 days."""
    addon_versions: Mapping[EksAddonName, str] = field(default_factory=dict)
    """Pinned add-on versions (``v1.19.2-eksbuild.1``) by add-on name. Defaults to none: EKS installs its
    default version for the cluster's Kubernetes version when the add-on is created."""
    deletion_protection: bool = False
    """Refuse to delete the cluster until this is turned off. Defaults to false; prod sets it."""
    deployer_role_arn: str | None = None
    """Role that runs ``pulumi up``; gets a cluster-admin access entry (once, also when it is in
    ``admin_role_arns``). Defaults to none."""
    deployer_source_security_group_ids: Sequence[str] = ()
    """Security groups allowed to the API server on 443 (rules on the cluster security group).
    Defaults to none."""
    deployer_cidrs: Sequence[str] = ()
    """IPv4/IPv6 CIDRs allowed to the API server on 443. Defaults to none."""
    create_autoscaling_service_linked_role: bool = False
    """Create ``AWSServiceRoleForAutoScaling`` before the node-volume key grant that names it
    (kept on destroy: other Auto Scaling groups of the account use it). Defaults to false: it is
    a prerequisite (creating it when it exists fails)."""

    def __post_init__(self) -> None:
        check_kms_key(self, "kms_key", self.kms_key)
        check.check_type(self, "cluster_name", self.cluster_name, str)
        check.check_pattern(
            self, "cluster_name", self.cluster_name, r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}", "an EKS cluster name"
        )
        check.check_type(self, "kubernetes_version", self.kubernetes_version, str)
        if eks_versions.lookup(self.kubernetes_version) is None:
            check.fail(
                self,
                "kubernetes_version",
                f"{self.kubernetes_version!r} is not an EKS version this library offers; use one of "
                f"{', '.join(eks_versions.EKS_VERSIONS)}",
            )
        check.check_type(self, "region", self.region, str)
        check.check_mapping(self, "tags", self.tags)
        check.check_strings(self, "system_instance_types", self.system_instance_types, non_empty=True)
        gpu = [t for t in self.system_instance_types if t.split(".")[0] in GPU_FAMILIES]
        if gpu:
            check.fail(self, "system_instance_types", f"{gpu} are GPU instance types; use CPU types such as m7i.large")
        check.check_int(self, "system_min_size", self.system_min_size, 1, 100)
        check.check_int(self, "system_max_size", self.system_max_size, 1, 100)
        check.check_int(self, "system_desired_size", self.system_desired_size, 1, 100)
        if not self.system_min_size <= self.system_desired_size <= self.system_max_size:
            check.fail(
                self,
                "system_desired_size",
                f"{self.system_desired_size} must lie between system_min_size {self.system_min_size} and "
                f"system_max_size {self.system_max_size}",
            )
        check.check_int(self, "system_disk_size_gb", self.system_disk_size_gb, 20, 16384)
        check.check_strings(self, "admin_role_arns", self.admin_role_arns)
        check.check_type(self, "public_endpoint", self.public_endpoint, bool)
        check.check_strings(self, "public_access_cidrs", self.public_access_cidrs)
        if self.public_endpoint and not self.public_access_cidrs:
            check.fail(self, "public_access_cidrs", "is empty but public_endpoint is on; list the CIDRs allowed")
        check.check_type(self, "log_retention_days", self.log_retention_days, int)
        check.check_choice(self, "log_retention_days", self.log_retention_days, LOG_RETENTION_DAYS)
        check.check_mapping(self, "addon_versions", self.addon_versions)
        for addon_name, version in self.addon_versions.items():
            check.check_choice(self, "addon_versions", addon_name, EksAddonName)
            check.check_pattern(
                self,
                "addon_versions",
                version,
                r"v\d+\.\d+\.\d+-eksbuild\.\d+",
                "an add-on version (v1.19.2-eksbuild.1)",
            )
        check.check_type(self, "deletion_protection", self.deletion_protection, bool)
        if self.deployer_role_arn is not None:
            check.check_type(self, "deployer_role_arn", self.deployer_role_arn, str)
        check.check_strings(self, "deployer_source_security_group_ids", self.deployer_source_security_group_ids)
        check.check_strings(self, "deployer_cidrs", self.deployer_cidrs)
        check.check_type(
            self, "create_autoscaling_service_linked_role", self.create_autoscaling_service_linked_role, bool
        )

    @property
    def kms_key_arn(self) -> pulumi.Input[str]:
        """The ARN of ``kms_key``."""
        return kms_key_arn(self.kms_key)


class InferenceCluster(pulumi.ComponentResource):
    """An EKS cluster ready for GPU node groups and Kubernetes workloads.

    Children (``<name>-...``): cluster role (``AmazonEKSClusterPolicy`` plus an inline policy
    for the stack key only), control-plane log group ``/aws/eks/<cluster>/cluster``, the
    cluster (API authentication mode, creator not admin, private endpoint, Secrets encrypted,
    all five log types, standard support only, self-managed add-ons not bootstrapped), one
    access entry and cluster-admin policy association per admin role (keyed by role name), a
    node role shared by all node groups, a KMS grant for EC2 Auto Scaling to use the key for
    node volumes (after the Auto Scaling service-linked role when the component creates it),
    the managed add-ons ``eks-pod-identity-agent``, ``vpc-cni`` (network policy enforcement on,
    AWS permissions through Pod Identity), ``kube-proxy``, and ``coredns`` and
    ``metrics-server`` (after the system nodes), the system node group, the deployer's access
    entry and 443 ingress rules, and a Kubernetes provider authenticated with
    ``aws eks get-token`` that waits for the admin access and the ingress rules.

    Example::

        cluster = InferenceCluster("cluster", InferenceClusterArgs(cluster_name="ai-prod",
            kubernetes_version="1.36", region="eu-central-1", account_id=acct,
            subnet_ids=net.private_subnet_ids, kms_key=key, tags=tags,
            admin_role_arns=["arn:aws:iam::123456789012:role/platform-admins"]))
    """

    cluster: aws.eks.Cluster
    cluster_role: aws.iam.Role
    node_role: aws.iam.Role
    system_node_group: aws.eks.NodeGroup
    addons: dict[str, aws.eks.Addon]
    provider: k8s.Provider
    kubeconfig: pulumi.Output[str]
    node_ready: list[pulumi.Resource]
    """What a node group waits for: node-role policies and the networking add-ons."""

    def __init__(self, name: str, args: InferenceClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-ai:compute:InferenceCluster", name, None, opts)
        self._name = name
        tags = dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)

        # Control plane -------------------------------------------------------------------------
        self.cluster_role = aws.iam.Role(
            f"{name}-cluster-role",
            description=f"EKS control plane of {args.cluster_name}",
            assume_role_policy=service_assume_role_policy("eks.amazonaws.com", args.account_id),
            max_session_duration=3600,
            tags=tags,
            opts=child,
        )
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy",
            role=self.cluster_role.name,
            policy_arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
            opts=pulumi.ResourceOptions(parent=self.cluster_role),
        )
        key_policy = aws.iam.RolePolicy(
            f"{name}-cluster-kms",
            role=self.cluster_role.id,
            policy=policy_document(
                [
                    {
                        "Sid": "EnvelopeEncryptionWithStackKey",
                        "Effect": "Allow",
                        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant"],
                        "Resource": args.kms_key_arn,
                    }
                ]
            ),
            opts=pulumi.ResourceOptions(parent=self.cluster_role),
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.kms_key_arn,
            tags=tags,
            opts=child,
        )
        vpc_config: aws.eks.ClusterVpcConfigArgsDict = {
            "subnet_ids": args.subnet_ids,
            "endpoint_private_access": True,
            "endpoint_public_access": args.public_endpoint,
        }
        if args.public_endpoint:
            vpc_config["public_access_cidrs"] = list(args.public_access_cidrs)
        self.cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=args.kubernetes_version,
            role_arn=self.cluster_role.arn,
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": False},
            vpc_config=vpc_config,
            encryption_config={"resources": ["secrets"], "provider": {"key_arn": args.kms_key_arn}},
            enabled_cluster_log_types=list(CLUSTER_LOG_TYPES),
            bootstrap_self_managed_addons=False,
            upgrade_policy={"support_type": "STANDARD"},
            deletion_protection=args.deletion_protection,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster_policy, key_policy, log_group]),
        )

        # Access entries --------------------------------------------------------------------------
        admin_access: list[pulumi.Resource] = []
        admin_roles = list(dict.fromkeys([*args.admin_role_arns, *filter(None, [args.deployer_role_arn])]))
        for role_arn in admin_roles:
            key = _role_key(role_arn)
            entry = aws.eks.AccessEntry(
                f"{name}-admin-{key}",
                cluster_name=self.cluster.name,
                principal_arn=role_arn,
                type="STANDARD",
                tags=tags,
                opts=child,
            )
            admin_access.append(
                aws.eks.AccessPolicyAssociation(
                    f"{name}-admin-{key}-policy",
                    cluster_name=self.cluster.name,
                    principal_arn=role_arn,
                    policy_arn=CLUSTER_ADMIN_POLICY,
                    access_scope={"type": "cluster"},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[entry]),
                )
            )

        # Deployer network path: 443 on the cluster security group -------------------------------
        cluster_sg = self.cluster.vpc_config.cluster_security_group_id
        self.deployer_ingress: list[aws.vpc.SecurityGroupIngressRule] = []
        for sg_id in args.deployer_source_security_group_ids:
            self.deployer_ingress.append(
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-deployer-https-{sg_id}",
                    security_group_id=cluster_sg,
                    referenced_security_group_id=sg_id,
                    ip_protocol="tcp",
                    from_port=API_SERVER_PORT,
                    to_port=API_SERVER_PORT,
                    description="pulumi up (deployer) to the EKS API server",
                    tags=tags,
                    opts=child,
                )
            )
        for cidr in args.deployer_cidrs:
            ipv4 = ipaddress.ip_network(cidr).version == 4
            self.deployer_ingress.append(
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-deployer-https-{_cidr_key(cidr)}",
                    security_group_id=cluster_sg,
                    cidr_ipv4=cidr if ipv4 else None,
                    cidr_ipv6=None if ipv4 else cidr,
                    ip_protocol="tcp",
                    from_port=API_SERVER_PORT,
                    to_port=API_SERVER_PORT,
                    description="pulumi up (deployer) to the EKS API server",
                    tags=tags,
                    opts=child,
                )
            )

        # Nodes' identity --------------------------------------------------------------------------
        self.node_role = aws.iam.Role(
            f"{name}-node-role",
            description=f"EKS managed nodes of {args.cluster_name} (no CNI policy: that is Pod Identity)",
            assume_role_policy=policy_document(
                [
                    {
                        "Sid": "Ec2Nodes",
                        "Effect": "Allow",
                        "Principal": {"Service": "ec2.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ]
            ),
            max_session_duration=3600,
            tags=tags,
            opts=child,
        )
        node_policies: list[pulumi.Resource] = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{arn.rsplit('/', 1)[-1]}",
                role=self.node_role.name,
                policy_arn=arn,
                opts=pulumi.ResourceOptions(parent=self.node_role),
            )
            for arn in NODE_MANAGED_POLICIES
        ]
        grant_after: list[pulumi.Resource] = []
        if args.create_autoscaling_service_linked_role:
            grant_after.append(
                aws.iam.ServiceLinkedRole(
                    f"{name}-autoscaling-service-linked-role",
                    aws_service_name=AUTOSCALING_SERVICE,
                    description="EC2 Auto Scaling (created by the stack: the node-volume key grant names it)",
                    tags=tags,
                    opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
                )
            )
        node_policies.append(
            aws.kms.Grant(
                f"{name}-autoscaling-volume-grant",
                key_id=args.kms_key_arn,
                grantee_principal=pulumi.Output.concat(
                    "arn:aws:iam::",
                    args.account_id,
                    ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
                ),
                operations=list(AUTOSCALING_GRANT_OPERATIONS),
                retire_on_delete=True,
                opts=pulumi.ResourceOptions(parent=self, depends_on=grant_after),
            )
        )

        # Add-ons ---------------------------------------------------------------------------------
        def addon_identity(key: str, namespace: str, service_account: str, policy: str, what: str) -> PodIdentityRole:
            """A Pod Identity role holding one AWS-managed policy, associated by the add-on itself."""
            return PodIdentityRole(
                f"{name}-{key}-identity",
                PodIdentityRoleArgs(
                    cluster_name=self.cluster.name,
                    cluster_arn=self.cluster.arn,
                    namespace=namespace,
                    service_account=service_account,
                    statements=[],
                    managed_policy_arns=[policy],
                    create_association=False,
                    description=f"{what} of {args.cluster_name}",
                    tags=tags,
                ),
                opts=child,
            )

        cni_identity = addon_identity("vpc-cni", "kube-system", "aws-node", CNI_POLICY, "VPC CNI (aws-node)")
        self.addons = {}

        def addon(
            addon_name: EksAddonName,
            depends_on: Sequence[pulumi.Resource],
            pod_identity_associations: Sequence[aws.eks.AddonPodIdentityAssociationArgsDict] | None = None,
            configuration_values: str | None = None,
        ) -> aws.eks.Addon:
            resource = aws.eks.Addon(
                f"{name}-{addon_name}",
                cluster_name=self.cluster.name,
                addon_name=addon_name,
                addon_version=args.addon_versions.get(addon_name),
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="PRESERVE",
                pod_identity_associations=pod_identity_associations,
                configuration_values=configuration_values,
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
            )
            self.addons[addon_name] = resource
            return resource

        pod_identity_agent = addon("eks-pod-identity-agent", [])
        vpc_cni = addon(
            "vpc-cni",
            [pod_identity_agent, cni_identity],
            pod_identity_associations=[{"role_arn": cni_identity.arn, "service_account": "aws-node"}],
            configuration_values=json.dumps({"enableNetworkPolicy": "true"}, sort_keys=True),
        )
        kube_proxy = addon("kube-proxy", [])
        self.node_ready = [*node_policies, pod_identity_agent, vpc_cni, kube_proxy]

        # System node group -------------------------------------------------------------------------
        system_lt = node_launch_template(
            f"{name}-system",
            ami_type="AL2023_x86_64_STANDARD",
            disk_size_gb=args.system_disk_size_gb,
            kms_key_arn=args.kms_key_arn,
            tags=tags,
            parent=self,
        )
        self.system_node_group = aws.eks.NodeGroup(
            f"{name}-system-nodes",
            cluster_name=self.cluster.name,
            node_group_name="system",
            node_role_arn=self.node_role.arn,
            subnet_ids=args.subnet_ids,
            ami_type="AL2023_x86_64_STANDARD",
            capacity_type="ON_DEMAND",
            instance_types=list(args.system_instance_types),
            scaling_config={
                "min_size": args.system_min_size,
                "max_size": args.system_max_size,
                "desired_size": args.system_desired_size,
            },
            update_config={"max_unavailable": 1},
            launch_template={"id": system_lt.id, "version": system_lt.latest_version.apply(str)},
            labels={NODE_POOL_LABEL: "system"},
            tags={
                **tags,
                "k8s.io/cluster-autoscaler/enabled": "true",
                f"k8s.io/cluster-autoscaler/{args.cluster_name}": "owned",
            },
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=self.node_ready, ignore_changes=["scalingConfig.desiredSize"]
            ),
        )
        for addon_name in ADDONS_ON_SYSTEM_NODES:
            addon(addon_name, [self.system_node_group])
        # Observability: its operator runs on the system nodes; its agent and DCGM exporter DaemonSets on every node.
        agent_identity = addon_identity(
            "cloudwatch-agent",
            "amazon-cloudwatch",
            "cloudwatch-agent",
            CLOUDWATCH_AGENT_POLICY,
            f"CloudWatch agent ({CLOUDWATCH_OBSERVABILITY} add-on)",
        )
        addon(
            CLOUDWATCH_OBSERVABILITY,
            [self.system_node_group, agent_identity],
            pod_identity_associations=[{"role_arn": agent_identity.arn, "service_account": "cloudwatch-agent"}],
            configuration_values=json.dumps(CLOUDWATCH_AGENT_CONFIG, sort_keys=True),
        )

        # Kubernetes access -------------------------------------------------------------------------
        self.kubeconfig = kubeconfig(
            self.cluster.name, self.cluster.endpoint, self.cluster.certificate_authority.data, args.region
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            delete_unreachable=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*admin_access, *self.deployer_ingress]),
        )
        self.register_outputs(
            {
                "cluster_name": self.cluster.name,
                "cluster_arn": self.cluster.arn,
                "endpoint": self.cluster.endpoint,
                "node_role_arn": self.node_role.arn,
                "kubeconfig": self.kubeconfig,
            }
        )


def _cidr_key(cidr: str) -> str:
    """A stable child-name key for a CIDR: ``10.0.0.0/16`` → ``10-0-0-0-16``."""
    return re.sub(r"[^0-9a-f]+", "-", cidr.lower()).strip("-")


def _role_key(role_arn: str) -> str:
    """A stable child-name key for a role ARN: its name, lowercased (``platform-admins``)."""
    return re.sub(r"[^a-z0-9-]", "-", role_arn.rsplit("/", 1)[-1].lower())
