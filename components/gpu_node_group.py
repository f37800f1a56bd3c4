"""GpuNodeGroup: an EKS managed node group of NVIDIA GPU instances, tainted for inference pods.

Also home of :func:`node_launch_template`, the hardened launch template every managed node
group of the platform uses (the system group too): IMDSv2 only with a hop limit of 1 (pods
cannot reach the node's credentials), KMS-encrypted gp3 volumes, no SSH key, and tag
specifications so instances, volumes and network interfaces carry the stack's tags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from hybrid_ai_platform.contracts import (
    ACCELERATOR_LABEL,
    DEVICE_PLUGIN_LABEL,
    GPU_PRESENT_LABEL,
    GPU_RESOURCE,
    GPU_TAINT_EFFECT,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    NODE_POOL_LABEL,
    gpu_instance_types_problem,
    gpu_type,
    gpus_per_node,
)

from . import validation as check
from .encryption_key import KmsKey, check_kms_key, kms_key_arn

EKS_TAINT_EFFECT = "NO_SCHEDULE"
"""The EKS API's spelling of :data:`~hybrid_ai_platform.contracts.GPU_TAINT_EFFECT`
(https://docs.aws.amazon.com/eks/latest/userguide/node-taints-managed-node-groups.html)."""

BOTTLEROCKET_OS_VOLUME_GB = 4
"""Bottlerocket's root (OS) volume; images and the model cache go to the data volume ``/dev/xvdb``."""


def node_launch_template(
    name: str,
    *,
    ami_type: str,
    disk_size_gb: int,
    kms_key_arn: pulumi.Input[str],
    tags: Mapping[str, str],
    parent: pulumi.Resource,
) -> aws.ec2.LaunchTemplate:
    """A hardened launch template for an EKS managed node group (no AMI: EKS picks the ``ami_type``'s).

    - IMDSv2 required, hop limit 1, endpoint enabled.
    - Encrypted gp3 volumes with ``kms_key_arn``: AL2023 gets a ``/dev/xvda`` root volume of
      ``disk_size_gb``; Bottlerocket gets its ``/dev/xvda`` OS volume (4 GB) and a ``/dev/xvdb``
      data volume of ``disk_size_gb``, where container images live.
    - No ``key_name`` (no SSH; use SSM Session Manager), no security groups (EKS attaches the
      cluster security group), detailed monitoring on.
    - Tag specifications for instances, volumes and network interfaces.
    """

    def volume(device: str, size: int) -> aws.ec2.LaunchTemplateBlockDeviceMappingArgsDict:
        return {
            "device_name": device,
            "ebs": {
                "volume_size": size,
                "volume_type": "gp3",
                "encrypted": "true",
                "kms_key_id": kms_key_arn,
                "delete_on_termination": "true",
            },
        }

    if ami_type.startswith("BOTTLEROCKET"):
        mappings = [volume("/dev/xvda", BOTTLEROCKET_OS_VOLUME_GB), volume("/dev/xvdb", disk_size_gb)]
    else:
        mappings = [volume("/dev/xvda", disk_size_gb)]
    resource_tags = {**tags, "Name": name}
    return aws.ec2.LaunchTemplate(
        f"{name}-lt",
        description=f"Hardened launch template of node group {name}",
        metadata_options={
            "http_endpoint": "enabled",
            "http_tokens": "required",
            "http_put_response_hop_limit": 1,
            "instance_metadata_tags": "disabled",
        },
        block_device_mappings=mappings,
        monitoring={"enabled": True},
        tag_specifications=[
            {"resource_type": kind, "tags": resource_tags} for kind in ("instance", "volume", "network-interface")
        ],
        update_default_version=True,
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def autoscaler_tags(cluster_name: str, name: str, instance_types: Sequence[str]) -> dict[str, str]:
    """Cluster-autoscaler auto-discovery and scale-from-zero node-template tags of GPU group ``name``.

    >>> autoscaler_tags("c", "gpu", ["g5.12xlarge"])[
    ...     "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"]
    '4'
    """
    prefix = "k8s.io/cluster-autoscaler"
    return {
        f"{prefix}/enabled": "true",
        f"{prefix}/{cluster_name}": "owned",
        f"{prefix}/node-template/label/{GPU_PRESENT_LABEL}": "true",
        f"{prefix}/node-template/label/{ACCELERATOR_LABEL}": gpu_type(instance_types[0]),
        f"{prefix}/node-template/label/{NODE_POOL_LABEL}": name,
        f"{prefix}/node-template/taint/{GPU_TAINT_KEY}": f"{GPU_TAINT_VALUE}:{GPU_TAINT_EFFECT}",
        f"{prefix}/node-template/resources/{GPU_RESOURCE}": str(gpus_per_node(instance_types[0])),
    }


GpuAmiType = Literal["AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"]
"""EKS-optimised NVIDIA AMI types the group supports."""
CapacityType = Literal["ON_DEMAND", "SPOT"]
"""EC2 purchase options of a managed node group."""


@dataclass(frozen=True)
class GpuNodeGroupArgs:
    """Inputs of :class:`GpuNodeGroup`. Checked at construction: a bad value raises naming the field."""

    name: str
    """Short name of the group: the EKS node-group name and the ``hybrid-ai/node-pool`` label
    (3 to 32 lower-case letters, digits and dashes). Required."""
    instance_types: Sequence[str]
    """GPU instance types, from the g4dn, g5, g6, g6e, p4d or p5 families, all with the same GPU
    count and GPU type (the autoscaler's scale-from-zero template assumes one shape). Required."""
    cluster: aws.eks.Cluster
    """The cluster the group joins. Required."""
    cluster_name: str
    """Its (static) name, for the autoscaler tags. Required."""
    node_role: aws.iam.Role
    """Node IAM role (``InferenceCluster.node_role``). Required."""
    subnet_ids: pulumi.Input[Sequence[str]]
    """Private subnets, one per AZ. Required."""
    kms_key: KmsKey
    """Stack key (an :class:`~.encryption_key.EncryptionKey` or ``aws.kms.Key``, or the ARN of a key you bring) for
    the volumes. Required."""
    tags: Mapping[str, str]
    """Required tags. Required."""
    ami_type: GpuAmiType = "AL2023_x86_64_NVIDIA"
    """EKS-optimised NVIDIA AMI. Defaults to ``AL2023_x86_64_NVIDIA``. Bottlerocket ships its own
    NVIDIA device plugin, so the Helm device plugin skips those nodes."""
    capacity_type: CapacityType = "ON_DEMAND"
    """Purchase option. Defaults to ``ON_DEMAND``. With ``SPOT`` list several instance types
    so a capacity shortage of one type does not stop scaling."""
    min_size: int = 0
    """Minimum nodes, 0 to 100. Defaults to 0 (scale to zero when idle)."""
    max_size: int = 2
    """Maximum nodes, 1 to 100. Defaults to 2."""
    desired_size: int = 0
    """Initial nodes, between ``min_size`` and ``max_size``. Defaults to 0; afterwards the cluster
    autoscaler owns it (drift ignored)."""
    disk_size_gb: int = 200
    """Encrypted gp3 volume for images and model cache (AL2023: the root volume; Bottlerocket:
    the data volume), 50 to 16384 GB. Defaults to 200 GB."""
    max_unavailable: int = 1
    """Nodes replaced at once during an update, 1 to 100. Defaults to 1."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources the node group waits for (node-role policy attachments, the CNI add-on).
    Defaults to none."""

    def __post_init__(self) -> None:
        check_kms_key(self, "kms_key", self.kms_key)
        check.check_name(self, "name", self.name)
        check.check_strings(self, "instance_types", self.instance_types, non_empty=True)
        problem = gpu_instance_types_problem(tuple(self.instance_types))
        if problem:
            check.fail(self, "instance_types", problem)
        check.check_type(self, "cluster_name", self.cluster_name, str)
        check.check_mapping(self, "tags", self.tags)
        check.check_choice(self, "ami_type", self.ami_type, GpuAmiType)
        check.check_choice(self, "capacity_type", self.capacity_type, CapacityType)
        check.check_int(self, "min_size", self.min_size, 0, 100)
        check.check_int(self, "max_size", self.max_size, 1, 100)
        check.check_int(self, "desired_size", self.desired_size, 0, 100)
        check.check_sizes(self, self.min_size, self.desired_size, self.max_size)
        check.check_int(self, "disk_size_gb", self.disk_size_gb, 50, 16384)
        check.check_int(self, "max_unavailable", self.max_unavailable, 1, 100)

    @property
    def gpus_per_node(self) -> int:
        """NVIDIA GPUs on each node of the group (from the GPU catalogue)."""
        return gpus_per_node(self.instance_types[0])

    @property
    def gpu_type(self) -> str:
        """GPU type of the group's nodes, e.g. ``nvidia-l4``."""
        return gpu_type(self.instance_types[0])

    @property
    def kms_key_arn(self) -> pulumi.Input[str]:
        """The ARN of ``kms_key``."""
        return kms_key_arn(self.kms_key)


class GpuNodeGroup(pulumi.ComponentResource):
    """A managed node group of GPU instances that only GPU workloads are scheduled on.

    - ``ami_type`` (AL2023 NVIDIA by default), instance types, capacity type, sizes.
    - Taint ``nvidia.com/gpu=true:NoSchedule``; labels ``nvidia.com/gpu.present=true``,
      ``k8s.amazonaws.com/accelerator=<gpu type>`` (so the cluster autoscaler waits for the
      GPUs of a new node instead of adding more), ``hybrid-ai/node-pool=<name>`` and
      ``hybrid-ai/gpu-device-plugin``.
    - ``update_config.max_unavailable`` from the Args; ``scalingConfig.desiredSize`` drift is
      ignored because the cluster autoscaler owns it after creation.
    - The hardened launch template of :func:`node_launch_template`; no ``remote_access``.
    - Tags for cluster-autoscaler auto-discovery and scale-from-zero (:func:`autoscaler_tags`).
      EKS tags the Auto Scaling group for discovery itself and does not propagate the node group's tags to
      it (https://docs.aws.amazon.com/eks/latest/eksctl/autoscaling.html); the autoscaler reads
      the group's labels and taints with ``eks:DescribeNodegroup`` when it has zero nodes and
      the GPU count from its instance-type table, so the template tags document the same facts.

    Example::

        GpuNodeGroup("gpu-l4", GpuNodeGroupArgs(name="gpu-l4", instance_types=["g6.xlarge"],
            cluster=cluster.cluster, cluster_name="hybrid-ai-platform-prod", node_role=cluster.node_role,
            subnet_ids=net.private_subnet_ids, kms_key=key, tags=tags))
    """

    node_group: aws.eks.NodeGroup
    launch_template: aws.ec2.LaunchTemplate

    def __init__(self, name: str, args: GpuNodeGroupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-ai:compute:GpuNodeGroup", name, None, opts)
        group = args
        tags = dict(args.tags)
        self.launch_template = node_launch_template(
            name,
            ami_type=group.ami_type,
            disk_size_gb=group.disk_size_gb,
            kms_key_arn=args.kms_key_arn,
            tags=tags,
            parent=self,
        )
        plugin = "bottlerocket" if group.ami_type.startswith("BOTTLEROCKET") else "helm"
        self.node_group = aws.eks.NodeGroup(
            f"{name}-nodes",
            cluster_name=args.cluster.name,
            node_group_name=group.name,
            node_role_arn=args.node_role.arn,
            subnet_ids=args.subnet_ids,
            ami_type=group.ami_type,
            capacity_type=group.capacity_type,
            instance_types=list(group.instance_types),
            scaling_config={"min_size": group.min_size, "max_size": group.max_size, "desired_size": group.desired_size},
            update_config={"max_unavailable": group.max_unavailable},
            launch_template={
                "id": self.launch_template.id,
                "version": self.launch_template.latest_version.apply(str),
            },
            labels={
                GPU_PRESENT_LABEL: "true",
                ACCELERATOR_LABEL: group.gpu_type,
                NODE_POOL_LABEL: group.name,
                DEVICE_PLUGIN_LABEL: plugin,
            },
            taints=[{"key": GPU_TAINT_KEY, "value": GPU_TAINT_VALUE, "effect": EKS_TAINT_EFFECT}],
            tags={**tags, **autoscaler_tags(args.cluster_name, group.name, group.instance_types)},
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(args.depends_on),
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )
        self.register_outputs(
            {"node_group_name": self.node_group.node_group_name, "launch_template_id": self.launch_template.id}
        )
