"""A GPU node group joining an existing EKS cluster.

The cluster, its node IAM role, its private subnets and a KMS key already exist (created by another
program or team); this program adds one managed node group of NVIDIA L4 instances that only GPU
workloads are scheduled on (taint ``nvidia.com/gpu=true:NoSchedule``), with the library's hardened
launch template (IMDSv2 only, encrypted gp3 volume) and the cluster-autoscaler tags for scale from zero.
"""

import pulumi
import pulumi_aws as aws
from hybrid_ai_platform.components import GpuNodeGroup, GpuNodeGroupArgs

config = pulumi.Config()
cluster_name = config.require("clusterName")

# Read the existing cluster (no change to it): the node group joins it by name.
cluster = aws.eks.Cluster.get("existing-cluster", cluster_name, name=cluster_name)
# And its node role (an IAM role's ID is its name, the last part of its ARN).
node_role = aws.iam.Role.get("existing-node-role", config.require("nodeRoleArn").rsplit("/", 1)[-1])

gpu = GpuNodeGroup(
    "gpu-l4",
    GpuNodeGroupArgs(
        name="gpu-l4",
        instance_types=["g6.xlarge", "g6.2xlarge"],
        max_size=4,
        cluster=cluster,
        cluster_name=cluster_name,
        node_role=node_role,
        subnet_ids=config.require_object("subnetIds"),
        kms_key=config.require("kmsKeyArn"),
        tags={
            "environment": pulumi.get_stack(),
            "owner": "ml-platform",
            "cost-center": "cc-1234",
            "data-classification": "internal",
            "managed-by": "pulumi",
        },
    ),
)

pulumi.export("node_group_name", gpu.node_group.node_group_name)
