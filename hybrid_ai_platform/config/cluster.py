"""The ``cluster`` section: EKS version, endpoint, deployer, system and GPU node groups."""

from __future__ import annotations

import difflib
import functools
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator
from pydantic_core.core_schema import ValidationInfo

from hybrid_ai_platform.components.gpu_node_group import GpuNodeGroupArgs
from hybrid_ai_platform.components.inference_cluster import InferenceClusterArgs
from hybrid_ai_platform.contracts import (
    GPU_FAMILIES,
    EksAddonName,
    gpu_instance_types_problem,
    gpu_type,
    gpus_per_node,
)

from .base import (
    LogRetentionDays,
    Name,
    RoleArn,
    _check_cidr,
    _check_not_everywhere,
    _check_sizes,
    _Model,
    _unique_ci,
    args_default,
)


def _check_instance_type(value: str) -> str:
    known = _ec2_instance_types()
    if value not in known:
        close = difflib.get_close_matches(value, sorted(known), n=3)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"'{value}' is not an EC2 instance type (the list pulumi-aws ships, pulumi_aws.ec2.InstanceType){hint}"
        )
    return value


@functools.cache
def _ec2_instance_types() -> frozenset[str]:
    import pulumi_aws

    return frozenset(member.value for member in pulumi_aws.ec2.InstanceType)


InstanceType = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*\.[0-9a-z]+$"), AfterValidator(_check_instance_type)]


class SystemNodeGroupConfig(_Model):
    """On-demand CPU nodes for cluster add-ons."""

    instance_types: list[InstanceType] = Field(
        default_factory=lambda: list(args_default(InferenceClusterArgs, "system_instance_types")), min_length=1
    )
    """Instance types. Defaults to ``m7i.large``."""
    min_size: int = Field(default=args_default(InferenceClusterArgs, "system_min_size"), ge=1, le=100)
    """Minimum nodes. Defaults to 2 (add-ons survive a node loss)."""
    max_size: int = Field(default=args_default(InferenceClusterArgs, "system_max_size"), ge=1, le=100)
    """Maximum nodes. Defaults to 4."""
    desired_size: int = Field(default=args_default(InferenceClusterArgs, "system_desired_size"), ge=1, le=100)
    """Initial nodes. Defaults to 2; afterwards the autoscaler owns it."""
    disk_size_gb: int = Field(default=args_default(InferenceClusterArgs, "system_disk_size_gb"), ge=20, le=16384)
    """Encrypted gp3 root volume size. Defaults to 50 GB."""

    @field_validator("instance_types")
    @classmethod
    def _cpu_types(cls, value: list[str]) -> list[str]:
        bad = [t for t in value if t.split(".")[0] in GPU_FAMILIES]
        if bad:
            raise ValueError(f"{bad} are GPU instance types; system nodes run add-ons, use CPU types such as m7i.large")
        return value

    @model_validator(mode="after")
    def _sizes(self) -> SystemNodeGroupConfig:
        _check_sizes(self.min_size, self.desired_size, self.max_size)
        return self


class GpuNodeGroupConfig(_Model):
    """A managed node group of NVIDIA GPU instances, tainted for inference pods only."""

    name: Name
    """Short name of the group (also the EKS node-group name). Required."""
    instance_types: list[InstanceType] = Field(min_length=1)
    """GPU instance types, from the g4dn, g5, g6, g6e, p4d or p5 families, all with the same GPU
    count (the autoscaler's scale-from-zero template assumes one shape). Required."""
    ami_type: Literal["AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"] = args_default(GpuNodeGroupArgs, "ami_type")
    """EKS-optimised NVIDIA AMI. Defaults to ``AL2023_x86_64_NVIDIA``. Bottlerocket ships its own
    NVIDIA device plugin, so the Helm device plugin skips those nodes."""
    capacity_type: Literal["ON_DEMAND", "SPOT"] = args_default(GpuNodeGroupArgs, "capacity_type")
    """Purchase option. Defaults to ``ON_DEMAND``. With ``SPOT`` list several instance types
    so a capacity shortage of one type does not stop scaling."""
    min_size: int = Field(default=args_default(GpuNodeGroupArgs, "min_size"), ge=0, le=100)
    """Minimum nodes. Defaults to 0 (scale to zero when idle)."""
    max_size: int = Field(default=args_default(GpuNodeGroupArgs, "max_size"), ge=1, le=100)
    """Maximum nodes. Defaults to 2."""
    desired_size: int = Field(default=args_default(GpuNodeGroupArgs, "desired_size"), ge=0, le=100)
    """Initial nodes. Defaults to 0; afterwards the cluster autoscaler owns it (drift ignored)."""
    disk_size_gb: int = Field(default=args_default(GpuNodeGroupArgs, "disk_size_gb"), ge=50, le=16384)
    """Encrypted gp3 volume for images and model cache (AL2023: the root volume; Bottlerocket:
    the data volume). Defaults to 200 GB."""
    max_unavailable: int = Field(default=args_default(GpuNodeGroupArgs, "max_unavailable"), ge=1, le=100)
    """Nodes replaced at once during an update. Defaults to 1."""

    @field_validator("instance_types")
    @classmethod
    def _gpu_types(cls, value: list[str]) -> list[str]:
        problem = gpu_instance_types_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _sizes(self) -> GpuNodeGroupConfig:
        _check_sizes(self.min_size, self.desired_size, self.max_size)
        return self

    @property
    def gpus_per_node(self) -> int:
        """NVIDIA GPUs on each node of the group (from :data:`GPUS_PER_INSTANCE`)."""
        return gpus_per_node(self.instance_types[0])

    @property
    def gpu_type(self) -> str:
        """GPU type of the group's nodes (from :data:`GPU_TYPE_BY_FAMILY`), e.g. ``nvidia-l4``."""
        return gpu_type(self.instance_types[0])


SecurityGroupId = Annotated[str, Field(pattern=r"^sg-[0-9a-f]{8,17}$")]


class DeployerConfig(_Model):
    """Where ``pulumi up`` runs from, so its Kubernetes half can reach the cluster's API server.

    The API endpoint is private by default, the cluster creator gets no implicit admin rights,
    and the cluster security group admits nothing from outside the cluster. The deployer's role
    becomes a cluster-admin access entry, and each source security group or CIDR gets an
    ingress rule for TCP 443 on the cluster security group (the private endpoint's network
    interfaces use it: https://docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html).
    """

    role_arn: RoleArn
    """IAM role that runs ``pulumi up`` (the CI deploy role, e.g. the OIDC role of
    ``.github/workflows/deploy.yml``). It gets an access entry with
    ``AmazonEKSClusterAdminPolicy`` at cluster scope. Required."""
    source_security_group_ids: list[SecurityGroupId] = Field(default_factory=list)
    """Security groups of the machines that run ``pulumi up`` inside the VPC or a peered one
    (a self-hosted runner, a bastion). Each may reach the API server on 443. Defaults to none."""
    cidrs: list[str] = Field(default_factory=list)
    """CIDRs (IPv4 or IPv6) that may reach the private API server on 443: a peered or
    transit-gateway-attached runner VPC, a VPN client range. ``0.0.0.0/0`` and ``::/0`` are
    refused. Defaults to none."""

    @field_validator("source_security_group_ids", "cidrs")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        repeated = sorted({v for v in value if value.count(v) > 1})
        if repeated:
            raise ValueError(f"entries must be unique; repeated: {repeated}")
        return value

    @field_validator("cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            _check_cidr(cidr)
        _check_not_everywhere(value, "the API server")
        return value


class ClusterConfig(_Model):
    """The EKS cluster that runs core inference."""

    kubernetes_version: str = "1.36"
    """Kubernetes minor version, one of the versions in ``components/data/eks_versions.json``
    (the dated EKS version table). Defaults to ``1.36`` (standard support until 2027-08-02).
    The cluster autoscaler's image tag and chart version come from the same table."""
    public_endpoint: bool = args_default(InferenceClusterArgs, "public_endpoint")
    """Named opt-out: also expose the API server publicly. Defaults to false (private only:
    ``pulumi up`` must then run from inside the VPC or over a VPN/peering)."""
    public_access_cidrs: list[str] = Field(
        default_factory=lambda: list(args_default(InferenceClusterArgs, "public_access_cidrs"))
    )
    """CIDRs allowed to reach a public endpoint; required when ``public_endpoint`` is on, and
    ``0.0.0.0/0`` is refused. Defaults to none."""
    admin_role_arns: list[RoleArn] = Field(
        default_factory=lambda: list(args_default(InferenceClusterArgs, "admin_role_arns"))
    )
    """IAM roles given cluster-admin through EKS access entries. Defaults to none. The cluster
    creator gets no implicit admin: put the role that runs ``pulumi up`` in ``deployer``."""
    deployer: DeployerConfig | None = None
    """The role and network location ``pulumi up`` runs from (cluster-admin access entry, 443
    ingress on the cluster security group). Defaults to none; without it, the role running
    ``pulumi up`` must be in ``admin_role_arns`` and reach the API server some other way."""
    create_autoscaling_service_linked_role: bool = args_default(
        InferenceClusterArgs, "create_autoscaling_service_linked_role"
    )
    """Create the EC2 Auto Scaling service-linked role ``AWSServiceRoleForAutoScaling``, which
    the node-volume KMS grant names. Defaults to false: the role exists in any account that has
    used EC2 Auto Scaling, and creating it again fails, so it is a documented prerequisite
    (``blueprint preflight`` checks it). Turn it on for a fresh account that never used Auto
    Scaling."""
    log_retention_days: LogRetentionDays = args_default(InferenceClusterArgs, "log_retention_days")
    """Retention of the control-plane log group. Defaults to 90 days."""
    addon_versions: dict[EksAddonName, Annotated[str, Field(pattern=r"^v\d+\.\d+\.\d+-eksbuild\.\d+$")]] = Field(
        default_factory=lambda: dict(args_default(InferenceClusterArgs, "addon_versions"))
    )
    """Pinned managed add-on versions (``v1.19.2-eksbuild.1``). Defaults to none: EKS installs
    its default version for the cluster's Kubernetes version when the add-on is created and
    leaves it alone afterwards; pin versions to make upgrades an explicit, reviewed change."""
    system_node_group: SystemNodeGroupConfig = Field(default_factory=SystemNodeGroupConfig)
    """Add-on nodes. Defaults as documented on its fields."""
    gpu_node_groups: list[GpuNodeGroupConfig] = Field(default_factory=list)
    """GPU node groups. Defaults to none."""

    @field_validator("public_access_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        # EKS takes no IPv6 CIDRs here for an IPv4 cluster
        # (https://docs.aws.amazon.com/eks/latest/APIReference/API_VpcConfigRequest.html).
        repeated = sorted({v for v in value if value.count(v) > 1})
        if repeated:
            raise ValueError(f"entries must be unique; repeated: {repeated}")
        for cidr in value:
            _check_cidr(cidr, ipv4_only=True)
        _check_not_everywhere(value, "the API server")
        return value

    @field_validator("admin_role_arns")
    @classmethod
    def _unique_admins(cls, value: list[str]) -> list[str]:
        return _unique_ci(value)

    @field_validator("kubernetes_version")
    @classmethod
    def _offered_version(cls, value: str) -> str:
        from hybrid_ai_platform.components.eks_versions import EKS_VERSIONS

        if value not in EKS_VERSIONS:
            raise ValueError(
                f"is not an EKS version this library offers; use one of {', '.join(EKS_VERSIONS)} "
                "(components/data/eks_versions.json)"
            )
        return value

    @field_validator("deployer")
    @classmethod
    def _deployer_reaches_the_endpoint(
        cls, value: DeployerConfig | None, info: ValidationInfo
    ) -> DeployerConfig | None:
        public = bool(info.data.get("public_endpoint"))
        if value is not None and not public and not (value.source_security_group_ids or value.cidrs):
            raise ValueError(
                "the API endpoint is private but the deployer lists no source_security_group_ids or cidrs, so "
                "nothing admits pulumi up to it on 443; list the security groups or CIDRs the deploy runs from"
            )
        return value

    @model_validator(mode="after")
    def _endpoint(self) -> ClusterConfig:
        if self.public_endpoint and not self.public_access_cidrs:
            raise ValueError("public_endpoint is on but public_access_cidrs is empty; list the CIDRs allowed")
        if self.public_access_cidrs and not self.public_endpoint:
            raise ValueError("public_access_cidrs is set but public_endpoint is off; remove the CIDRs or turn it on")
        names = [g.name for g in self.gpu_node_groups]
        if len(names) != len(set(names)):
            raise ValueError(f"GPU node group names must be unique; got {names}")
        if "system" in names:
            raise ValueError("GPU node group name 'system' is reserved for the system node group")
        return self
