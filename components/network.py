"""Network: a VPC with private subnets for nodes, public subnets only for NAT, or a VPC you bring.

Subnet CIDRs are derived from the VPC CIDR with :mod:`ipaddress`, so the layout is a pure
function of ``(cidr, az_count)`` (see :func:`subnet_layout`): the private subnets are the first
``az_count`` eighths of the VPC (a /19 each in a /16: room for VPC-CNI pod IPs), the public
subnets are small blocks of the last eighth (they hold NAT gateways only).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws

from hybrid_ai_platform.contracts import LOG_RETENTION_DAYS

from . import validation as check
from .encryption_key import KmsKey, check_kms_key, kms_key_arn
from .iam import policy_document, service_assume_role_policy

MAX_AZS = 6
"""Most availability zones the layout supports (six private eighths, one spare, one public)."""


@dataclass(frozen=True)
class SubnetLayout:
    """CIDRs of one VPC: ``private[i]`` and ``public[i]`` belong to the i-th availability zone."""

    private: tuple[str, ...]
    public: tuple[str, ...]


def subnet_layout(vpc_cidr: str, az_count: int) -> SubnetLayout:
    """Split ``vpc_cidr`` into ``az_count`` private and public subnets, deterministically.

    >>> subnet_layout("10.40.0.0/16", 2)
    SubnetLayout(private=('10.40.0.0/19', '10.40.32.0/19'), public=('10.40.224.0/22', '10.40.228.0/22'))
    """
    if not 1 <= az_count <= MAX_AZS:
        raise ValueError(f"az_count {az_count} is outside 1-{MAX_AZS}")
    vpc = ipaddress.IPv4Network(vpc_cidr, strict=True)
    eighths = list(vpc.subnets(prefixlen_diff=3))
    public_pool = list(eighths[-1].subnets(prefixlen_diff=3))
    return SubnetLayout(
        private=tuple(str(n) for n in eighths[:az_count]),
        public=tuple(str(n) for n in public_pool[:az_count]),
    )


@dataclass(frozen=True)
class ExistingVpc:
    """A VPC the platform team already runs."""

    vpc_id: str
    """The VPC id. Required."""
    private_subnet_ids: Sequence[str]
    """Private subnets in at least two AZs. Required."""
    private_route_table_ids: Sequence[str] = ()
    """Route tables for the S3 gateway endpoint. Defaults to none: no endpoint is created."""


@dataclass(frozen=True)
class VpcPeering:
    """A peering connection from the VPC to another network, routed from every private route table."""

    name: str
    """Short name; children are ``<network>-peer-<name>`` and ``<network>-private-<az>-to-<name>``. Required."""
    peer_vpc_id: str
    """The other VPC. Required."""
    peer_cidr: str
    """Destination of the routes (the other VPC's CIDR or part of it). Required."""
    peer_owner_id: str | None = None
    """The other VPC's account. Defaults to the stack's account."""
    peer_region: str | None = None
    """The other VPC's region. Defaults to the stack's region."""

    @property
    def auto_accept(self) -> bool:
        """Whether the stack can accept the peering itself: same account and region. Otherwise the
        other side accepts it (``aws ec2 accept-vpc-peering-connection``)."""
        return self.peer_owner_id is None and self.peer_region is None


NatGateways = Literal["single", "one_per_az"]
"""NAT layouts: one NAT gateway in the first AZ, or one per AZ."""


@dataclass(frozen=True)
class NetworkArgs:
    """Inputs of :class:`Network`. Checked at construction: a bad value raises naming the field."""

    tags: Mapping[str, str]
    """Required tags for every taggable child. Required."""
    region: str
    """The stack's region (S3 endpoint service name). Required."""
    account_id: pulumi.Input[str]
    """Stack account (flow-log role trust condition). Required."""
    kms_key: KmsKey
    """Stack key (an :class:`~.encryption_key.EncryptionKey` or ``aws.kms.Key``, or the ARN of a key you bring):
    encrypts the flow-log group. Required."""
    cidr: str = "10.40.0.0/16"
    """VPC CIDR, an IPv4 network of /16 to /20 (ignored with ``existing``). Defaults to ``10.40.0.0/16``."""
    az_count: int = 2
    """Availability zones, 1 to 6. Defaults to 2."""
    nat_gateways: NatGateways = "single"
    """``single`` (one NAT in the first AZ, cheaper) or ``one_per_az`` (each AZ egresses through
    its own NAT: no single point of failure). Defaults to ``single``."""
    flow_log_retention_days: int = 90
    """Flow-log group retention, one of the periods CloudWatch Logs accepts. Defaults to 90 days."""
    cluster_name: str | None = None
    """EKS cluster that will use the subnets; tags them ``kubernetes.io/cluster/<name>=shared``.
    Defaults to none."""
    existing: ExistingVpc | None = None
    """Bring your own VPC: create nothing but the S3 endpoint (when route tables are given).
    Defaults to none (a VPC is created)."""
    availability_zones: Sequence[str] | None = field(default=None)
    """AZ names to use. Defaults to the first ``az_count`` available AZs of the region."""
    peerings: Sequence[VpcPeering] = ()
    """Peering connections to other networks (a CI runner's VPC), each with a route from every
    private route table. Defaults to none."""

    def __post_init__(self) -> None:
        check_kms_key(self, "kms_key", self.kms_key)
        check.check_mapping(self, "tags", self.tags)
        check.check_type(self, "region", self.region, str)
        check.check_type(self, "cidr", self.cidr, str)
        try:
            network = ipaddress.IPv4Network(self.cidr, strict=True)
        except ValueError as exc:
            check.fail(self, "cidr", f"{self.cidr!r} is not an IPv4 network ({exc})")
        else:
            if not 16 <= network.prefixlen <= 20:
                check.fail(self, "cidr", f"/{network.prefixlen} is outside the supported VPC sizes /16 to /20")
        check.check_int(self, "az_count", self.az_count, 1, MAX_AZS)
        check.check_choice(self, "nat_gateways", self.nat_gateways, NatGateways)
        check.check_type(self, "flow_log_retention_days", self.flow_log_retention_days, int)
        check.check_choice(self, "flow_log_retention_days", self.flow_log_retention_days, LOG_RETENTION_DAYS)

    @property
    def kms_key_arn(self) -> pulumi.Input[str]:
        """The ARN of ``kms_key``."""
        return kms_key_arn(self.kms_key)


class Network(pulumi.ComponentResource):
    """A VPC across ``az_count`` AZs with NAT egress, an S3 gateway endpoint and flow logs.

    Children are named ``<name>-...``; per-AZ children are keyed by AZ slot (``az1``, ``az2``,
    ...: the first, second, ... available AZ), so raising ``az_count`` only adds children and
    never renames existing ones. Children:
    the VPC (DNS support and hostnames on), the default security group with every rule removed,
    per AZ a private subnet (``kubernetes.io/role/internal-elb=1``) and a public subnet
    (``kubernetes.io/role/elb=1``, no public IPs on launch), an internet gateway, NAT gateways
    with Elastic IPs (one, or one per AZ), a public route table, one private route table per
    AZ routing ``0.0.0.0/0`` to its NAT, an S3 gateway endpoint on the private route tables and
    VPC flow logs (all traffic) to a KMS-encrypted log group with retention.

    With ``existing`` set, nothing is created except the S3 endpoint when route tables are
    given, and the outputs are the given ids.

    Example::

        net = Network("network", NetworkArgs(tags=tags, region="eu-west-1", account_id=acct,
                      kms_key=key, cidr="10.40.0.0/16", az_count=3, nat_gateways="one_per_az"))
    """

    vpc_id: pulumi.Output[str]
    """The VPC id."""
    private_subnet_ids: pulumi.Output[list[str]]
    """Private subnet ids, one per AZ in AZ order."""
    public_subnet_ids: pulumi.Output[list[str]]
    """Public subnet ids (empty for a brought VPC)."""
    private_route_table_ids: pulumi.Output[list[str]]
    """Private route table ids."""
    vpc: aws.ec2.Vpc | None
    """The created VPC, or None when a VPC was brought."""
    cidr_block: pulumi.Output[str]
    """The VPC's primary CIDR (a brought VPC's is looked up): where the nodes' addresses lie."""
    peering_connections: dict[str, aws.ec2.VpcPeeringConnection]
    """The peering connections by :attr:`VpcPeering.name` (empty without ``peerings``)."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-ai:network:Network", name, None, opts)
        self._name = name
        self._args = args
        tags = dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)
        if args.existing is not None:
            self.vpc = None
            self.vpc_id = pulumi.Output.from_input(args.existing.vpc_id)
            self.private_subnet_ids = pulumi.Output.from_input(list(args.existing.private_subnet_ids))
            self.public_subnet_ids = pulumi.Output.from_input([])
            self.cidr_block = aws.ec2.get_vpc_output(
                id=args.existing.vpc_id, opts=pulumi.InvokeOutputOptions(parent=self)
            ).cidr_block
            self.private_route_table_ids = pulumi.Output.from_input(list(args.existing.private_route_table_ids))
            if args.existing.private_route_table_ids:
                self._s3_endpoint(self.vpc_id, list(args.existing.private_route_table_ids), tags, child)
            existing_tables = list(enumerate(args.existing.private_route_table_ids, start=1))
            self._peerings(self.vpc_id, [(f"rt{i}", table) for i, table in existing_tables], tags, child)
            self.register_outputs({"vpc_id": self.vpc_id, "private_subnet_ids": self.private_subnet_ids})
            return

        layout = subnet_layout(args.cidr, args.az_count)
        if args.availability_zones is not None:
            zones: pulumi.Output[list[str]] = pulumi.Output.from_input(list(args.availability_zones[: args.az_count]))
        else:
            available = aws.get_availability_zones_output(
                state="available", opts=pulumi.InvokeOutputOptions(parent=self)
            )
            zones = available.names.apply(lambda names: _first_zones(names, args.az_count))

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={**tags, "Name": name},
            opts=child,
        )
        vpc_id = self.vpc.id
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=vpc_id,
            ingress=[],
            egress=[],
            tags={**tags, "Name": f"{name}-default-deny-all"},
            opts=child,
        )
        self._flow_logs(name, vpc_id, tags, child)

        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc_id, tags={**tags, "Name": name}, opts=child)
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=vpc_id, tags={**tags, "Name": f"{name}-public"}, opts=child
        )
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=public_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=child,
        )
        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"} if args.cluster_name else {}
        letters = [f"az{i + 1}" for i in range(args.az_count)]
        private_ids: list[pulumi.Output[str]] = []
        public_ids: list[pulumi.Output[str]] = []
        route_table_ids: list[pulumi.Output[str]] = []
        nats: dict[str, aws.ec2.NatGateway] = {}
        for i, letter in enumerate(letters):
            zone = zones.apply(_nth(i))
            public = aws.ec2.Subnet(
                f"{name}-public-{letter}",
                vpc_id=vpc_id,
                cidr_block=layout.public[i],
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={**tags, **cluster_tag, "Name": f"{name}-public-{letter}", "kubernetes.io/role/elb": "1"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{letter}-rta", subnet_id=public.id, route_table_id=public_rt.id, opts=child
            )
            public_ids.append(public.id)
            if args.nat_gateways == "one_per_az" or i == 0:
                eip = aws.ec2.Eip(
                    f"{name}-nat-{letter}-eip", domain="vpc", tags={**tags, "Name": f"{name}-nat-{letter}"}, opts=child
                )
                nats[letter] = aws.ec2.NatGateway(
                    f"{name}-nat-{letter}",
                    allocation_id=eip.id,
                    subnet_id=public.id,
                    connectivity_type="public",
                    tags={**tags, "Name": f"{name}-nat-{letter}"},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )
        for i, letter in enumerate(letters):
            zone = zones.apply(_nth(i))
            private = aws.ec2.Subnet(
                f"{name}-private-{letter}",
                vpc_id=vpc_id,
                cidr_block=layout.private[i],
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={
                    **tags,
                    **cluster_tag,
                    "Name": f"{name}-private-{letter}",
                    "kubernetes.io/role/internal-elb": "1",
                },
                opts=child,
            )
            rt = aws.ec2.RouteTable(
                f"{name}-private-{letter}-rt",
                vpc_id=vpc_id,
                tags={**tags, "Name": f"{name}-private-{letter}"},
                opts=child,
            )
            nat = nats.get(letter) or nats["az1"]
            aws.ec2.Route(
                f"{name}-private-{letter}-default",
                route_table_id=rt.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nat.id,
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{letter}-rta", subnet_id=private.id, route_table_id=rt.id, opts=child
            )
            private_ids.append(private.id)
            route_table_ids.append(rt.id)

        self._s3_endpoint(vpc_id, route_table_ids, tags, child)
        self._peerings(vpc_id, list(zip(letters, route_table_ids, strict=True)), tags, child)
        self.vpc_id = vpc_id
        self.cidr_block = self.vpc.cidr_block
        self.private_subnet_ids = pulumi.Output.all(*private_ids).apply(list)
        self.public_subnet_ids = pulumi.Output.all(*public_ids).apply(list)
        self.private_route_table_ids = pulumi.Output.all(*route_table_ids).apply(list)
        self.nat_gateway_count = len(nats)
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "public_subnet_ids": self.public_subnet_ids,
            }
        )

    def _peerings(
        self,
        vpc_id: pulumi.Input[str],
        route_tables: Sequence[tuple[str, pulumi.Input[str]]],
        tags: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> None:
        """One peering connection per :class:`VpcPeering`, and a route to it from each private table.

        A peering within one account and region is accepted by the stack (``auto_accept``); across
        accounts or regions the other side accepts it
        (https://docs.aws.amazon.com/vpc/latest/peering/create-vpc-peering-connection.html), and the
        routes become active once it does.
        """
        self.peering_connections: dict[str, aws.ec2.VpcPeeringConnection] = {}
        for peering in self._args.peerings:
            connection = aws.ec2.VpcPeeringConnection(
                f"{self._name}-peer-{peering.name}",
                vpc_id=vpc_id,
                peer_vpc_id=peering.peer_vpc_id,
                peer_owner_id=peering.peer_owner_id,
                peer_region=peering.peer_region,
                auto_accept=peering.auto_accept or None,
                tags={**tags, "Name": f"{self._name}-peer-{peering.name}"},
                opts=child,
            )
            self.peering_connections[peering.name] = connection
            for slot, table in route_tables:
                aws.ec2.Route(
                    f"{self._name}-private-{slot}-to-{peering.name}",
                    route_table_id=table,
                    destination_cidr_block=peering.peer_cidr,
                    vpc_peering_connection_id=connection.id,
                    opts=child,
                )

    def _s3_endpoint(
        self,
        vpc_id: pulumi.Input[str],
        route_table_ids: Sequence[pulumi.Input[str]],
        tags: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> aws.ec2.VpcEndpoint:
        return aws.ec2.VpcEndpoint(
            f"{self._name}-s3-endpoint",
            vpc_id=vpc_id,
            service_name=f"com.amazonaws.{self._args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=list(route_table_ids),
            tags={**tags, "Name": f"{self._name}-s3"},
            opts=child,
        )

    def _flow_logs(
        self, name: str, vpc_id: pulumi.Output[str], tags: dict[str, str], child: pulumi.ResourceOptions
    ) -> None:
        args = self._args
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=f"/aws/vpc/{pulumi.get_project()}-{pulumi.get_stack()}/{name}/flow-logs",
            retention_in_days=args.flow_log_retention_days,
            kms_key_id=args.kms_key_arn,
            tags=tags,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs-role",
            description=f"VPC flow logs of {name}: write to its own log group only",
            assume_role_policy=service_assume_role_policy("vpc-flow-logs.amazonaws.com", args.account_id),
            max_session_duration=3600,
            tags=tags,
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-flow-logs-policy",
            role=role.id,
            policy=policy_document(
                [
                    {
                        "Sid": "WriteOwnFlowLogs",
                        "Effect": "Allow",
                        "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                        "Resource": [log_group.arn, pulumi.Output.concat(log_group.arn, ":log-stream:*")],
                    },
                    {
                        "Sid": "DescribeOwnLogGroup",
                        "Effect": "Allow",
                        "Action": "logs:DescribeLogGroups",
                        "Resource": pulumi.Output.concat(
                            "arn:aws:logs:", args.region, ":", args.account_id, ":log-group:*"
                        ),
                    },
                ]
            ),
            opts=pulumi.ResourceOptions(parent=role),
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=vpc_id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )


def _nth(index: int) -> Callable[[list[str]], str]:
    def pick(values: list[str]) -> str:
        return values[index]

    return pick


def _first_zones(names: list[str], count: int) -> list[str]:
    if len(names) < count:
        raise ValueError(f"the region has {len(names)} available AZs, fewer than az_count {count}")
    return list(names[:count])
