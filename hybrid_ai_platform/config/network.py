"""The ``network`` section: a new VPC or an existing one, NAT layout and peerings."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from hybrid_ai_platform.components.network import NetworkArgs

from .base import AWS_REGION_PATTERN, LogRetentionDays, Name, _check_cidr, _Model, args_default


class ExistingVpcConfig(_Model):
    """An existing VPC the platform team already runs (bring your own: nothing is created in it
    except, when route tables are given, the S3 gateway endpoint)."""

    vpc_id: str = Field(pattern=r"^vpc-[0-9a-f]{8,17}$")
    """The VPC id. Required."""
    private_subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = Field(min_length=2)
    """Private subnets in at least two AZs for nodes and endpoints, tagged
    ``kubernetes.io/role/internal-elb=1`` by their owner. Required."""
    private_route_table_ids: list[Annotated[str, Field(pattern=r"^rtb-[0-9a-f]{8,17}$")]] = Field(default_factory=list)
    """Route tables to attach the S3 gateway endpoint to. Defaults to none (no endpoint created)."""

    @field_validator("private_subnet_ids", "private_route_table_ids")
    @classmethod
    def _unique_ids(cls, value: list[str]) -> list[str]:
        repeated = sorted({v for v in value if value.count(v) > 1})
        if repeated:
            raise ValueError(f"ids must be unique; repeated: {repeated}")
        return value


class PeeringConfig(_Model):
    """A VPC peering connection from the stack's VPC to another network (a CI or bastion VPC), with
    routes from every private route table to it: how a deploy runner outside the stack's VPC reaches
    the private EKS endpoint on the very first ``pulumi up``, before any hand-made route could exist."""

    name: Name
    """Short name of the peering (children are named ``network-peer-<name>``). Required."""
    peer_vpc_id: str = Field(pattern=r"^vpc-[0-9a-f]{8,17}$")
    """The other VPC. Required."""
    peer_cidr: str
    """The other VPC's CIDR (or the part of it that needs the route), IPv4. Required."""
    peer_owner_id: str | None = Field(default=None, pattern=r"^\d{12}$")
    """Account of the other VPC. Defaults to the stack's account (the peering is then accepted by
    the stack itself when ``peer_region`` is also unset)."""
    peer_region: str | None = Field(default=None, pattern=AWS_REGION_PATTERN)
    """Region of the other VPC. Defaults to the stack's region."""

    @field_validator("peer_cidr")
    @classmethod
    def _peer_cidr(cls, value: str) -> str:
        _check_cidr(value)
        if ipaddress.ip_network(value).version != 4:
            raise ValueError("must be an IPv4 CIDR (VPC peering routes here are IPv4)")
        return value


class NetworkConfig(_Model):
    """The VPC: private subnets for nodes, public subnets only for NAT."""

    cidr: str = args_default(NetworkArgs, "cidr")
    """VPC CIDR. Defaults to ``10.40.0.0/16``. Private subnets are the first ``az_count`` eighths
    of it (a /19 each in a /16, room for VPC-CNI pod IPs); public subnets are small blocks
    carved from the last eighth."""
    az_count: int | None = Field(default=None, ge=2, le=6)
    """Availability zones used. Defaults to 3 in prod and 2 elsewhere."""
    nat_gateways: Literal["single", "one_per_az"] | None = None
    """NAT layout. Defaults to ``one_per_az`` in prod (no single point of failure) and
    ``single`` elsewhere (cheaper)."""
    flow_log_retention_days: LogRetentionDays = args_default(NetworkArgs, "flow_log_retention_days")
    """Retention of the KMS-encrypted VPC flow-log group. Defaults to 90 days."""
    existing: ExistingVpcConfig | None = args_default(NetworkArgs, "existing")
    """Bring your own VPC instead of creating one. Defaults to none (a VPC is created)."""
    peerings: list[PeeringConfig] = Field(default_factory=lambda: list(args_default(NetworkArgs, "peerings")))
    """VPC peering connections to other networks, with routes from the private route tables (a
    brought VPC's ``private_route_table_ids``). Defaults to none. The other side needs a route back
    to this VPC's CIDR (``network.cidr``, stack output ``vpc_cidr``) and, across accounts or regions,
    must accept the peering (stack output ``vpc_peering_connection_ids``)."""

    @model_validator(mode="after")
    def _peerings(self) -> NetworkConfig:
        names = [p.name for p in self.peerings]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"peerings: names must be unique; repeated: {repeated}")
        if self.existing is None:
            own = ipaddress.ip_network(self.cidr)
            for index, peering in enumerate(self.peerings):
                if ipaddress.ip_network(peering.peer_cidr).overlaps(own):
                    raise ValueError(
                        f"peerings[{index}].peer_cidr: {peering.peer_cidr} overlaps the VPC CIDR {self.cidr}; "
                        "peered VPCs need disjoint CIDRs"
                    )
        return self

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        _check_cidr(value, ipv4_only=True)
        prefix = ipaddress.ip_network(value).prefixlen
        if not 16 <= prefix <= 20:
            raise ValueError(f"/{prefix} is outside the supported VPC sizes /16 to /20")
        return value
