"""GpuNodeGroup: an EKS managed node group of NVIDIA GPU instances, tainted for inference pods.

Also home of :func:`node_launch_template`, the hardened launch template every managed node
group of the platform uses (the system group too): IMDSv2 only with a hop limit of 1 (pods
cannot reach the node's credentials), KMS-encrypted gp3 volumes, no SSH key, and tag
specifications so instances, volumes and network interfaces carry the stack's tags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from hybrid_ai_platform.config import GpuNodeGroupConfig
from hybrid_ai_platform.contracts import (
    ACCELERATOR_LABEL,
    DEVICE_PLUGIN_LABEL,
    GPU_PRESENT_LABEL,
    GPU_RESOURCE,
    GPU_TAINT_EFFECT,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    NODE_POOL_LABEL,
)

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


def autoscaler_tags(cluster_name: str, group: GpuNodeGroupConfig) -> dict[str, str]:
    """Cluster-autoscaler auto-discovery and scale-from-zero node-template tags of a GPU group.

    >>> from hybrid_ai_platform.config import GpuNodeGroupConfig
    >>> autoscaler_tags("c", GpuNodeGroupConfig(name="gpu", instance_types=["g5.12xlarge"]))[
    ...     "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"]
    '4'
    """
    prefix = "k8s.io/cluster-autoscaler"
    return {
        f"{prefix}/enabled": "true",
        f"{prefix}/{cluster_name}": "owned",
        f"{prefix}/node-template/label/{GPU_PRESENT_LABEL}": "true",
        f"{prefix}/node-template/label/{ACCELERATOR_LABEL}": group.gpu_type,
        f"{prefix}/node-template/label/{NODE_POOL_LABEL}": group.name,
        f"{prefix}/node-template/taint/{GPU_TAINT_KEY}": f"{GPU_TAINT_VALUE}:{GPU_TAINT_EFFECT}",
        f"{prefix}/node-template/resources/{GPU_RESOURCE}": str(group.gpus_per_node),
    }


@dataclass(frozen=True)
class GpuNodeGroupArgs:
    """Inputs of :class:`GpuNodeGroup`."""

    group: GpuNodeGroupConfig
    """Instance types, AMI, capacity type, sizes, disk. Required."""
    cluster: aws.eks.Cluster
    """The cluster the group joins. Required."""
    cluster_name: str
    """Its (static) name, for the autoscaler tags. Required."""
    node_role_arn: pulumi.Input[str]
    """Node IAM role. Required."""
    subnet_ids: pulumi.Input[Sequence[str]]
    """Private subnets, one per AZ. Required."""
    kms_key_arn: pulumi.Input[str]
    """Stack key for the volumes. Required."""
    tags: Mapping[str, str]
    """Required tags. Required."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources the node group waits for (node-role policy attachments, the CNI add-on).
    Defaults to none."""


class GpuNodeGroup(pulumi.ComponentResource):
    """A managed node group of GPU instances that only GPU workloads are scheduled on.

    - ``ami_type`` from config (AL2023 NVIDIA by default), instance types, capacity type, sizes.
    - Taint ``nvidia.com/gpu=true:NoSchedule``; labels ``nvidia.com/gpu.present=true``,
      ``k8s.amazonaws.com/accelerator=<gpu type>`` (so the cluster autoscaler waits for the
      GPUs of a new node instead of adding more), ``hybrid-ai/node-pool=<name>`` and
      ``hybrid-ai/gpu-device-plugin``.
    - ``update_config.max_unavailable`` from config; ``scalingConfig.desiredSize`` drift is
      ignored because the cluster autoscaler owns it after creation.
    - The hardened launch template of :func:`node_launch_template`; no ``remote_access``.
    - Tags for cluster-autoscaler auto-discovery and scale-from-zero (:func:`autoscaler_tags`).
      EKS copies only the two discovery tags to the Auto Scaling group; the autoscaler reads
      the group's labels and taints with ``eks:DescribeNodegroup`` when it has zero nodes and
      the GPU count from its instance-type table, so the template tags document the same facts.

    Example::

        GpuNodeGroup("gpu-l4", GpuNodeGroupArgs(group=cfg, cluster=cluster.cluster,
            cluster_name="hybrid-ai-platform-prod", node_role_arn=role.arn,
            subnet_ids=net.private_subnet_ids, kms_key_arn=key.arn, tags=tags))
    """

    node_group: aws.eks.NodeGroup
    launch_template: aws.ec2.LaunchTemplate

    def __init__(self, name: str, args: GpuNodeGroupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-ai:compute:GpuNodeGroup", name, None, opts)
        group = args.group
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
            node_role_arn=args.node_role_arn,
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
            tags={**tags, **autoscaler_tags(args.cluster_name, group)},
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(args.depends_on),
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )
        self.register_outputs(
            {"node_group_name": self.node_group.node_group_name, "launch_template_id": self.launch_template.id}
        )
