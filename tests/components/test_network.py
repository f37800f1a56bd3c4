"""Network: private subnets per AZ, NAT layout by environment, S3 endpoint, flow logs, bring your own VPC."""

from __future__ import annotations

import functools
import ipaddress

import pytest
from hybrid_ai_platform.components.network import subnet_layout

from hybrid_ai_platform.cli.synth import Plan, read_stack_files, synthesize
from hybrid_ai_platform.config import ConfigError
from tests.conftest import shipped_plan
from tests.plan_helpers import depends_via, named, of_type, statements

BYO_VPC = {
    "cidr": "10.40.0.0/16",
    "existing": {
        "vpc_id": "vpc-0123456789abcdef0",
        "private_subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
        "private_route_table_ids": ["rtb-0123456789abcdef0"],
    },
}


@functools.cache
def byo_plan() -> Plan:
    """The dev stack with a brought VPC."""
    return synthesize("dev", overrides={"hybrid-ai-platform:network": BYO_VPC})


def _subnets(plan: Plan, role: str) -> list[dict[str, object]]:
    return [r.inputs for r in of_type(plan, "aws:ec2/subnet:Subnet") if role in r.inputs["tags"]]


def test_prod_spreads_private_subnets_over_three_azs_with_one_nat_each(prod_plan: Plan) -> None:
    # GIVEN the prod stack (az_count 3, one NAT per AZ)
    # WHEN its network is planned
    private = _subnets(prod_plan, "kubernetes.io/role/internal-elb")
    public = _subnets(prod_plan, "kubernetes.io/role/elb")
    # THEN each of three AZs has a private and a public subnet and its own NAT gateway
    assert sorted(s["availabilityZone"] for s in private) == ["eu-central-1a", "eu-central-1b", "eu-central-1c"]
    assert len(public) == 3
    nats = of_type(prod_plan, "aws:ec2/natGateway:NatGateway")
    assert len(nats) == 3
    assert {n.inputs["subnetId"] for n in nats} == {
        r.id for r in of_type(prod_plan, "aws:ec2/subnet:Subnet") if "kubernetes.io/role/elb" in r.inputs["tags"]
    }


def test_each_private_route_table_routes_to_the_nat_in_its_own_az_in_prod(prod_plan: Plan) -> None:
    # GIVEN the prod network
    # WHEN the default routes of the private route tables are read
    routes = {r.name: r for r in of_type(prod_plan, "aws:ec2/route:Route") if r.name.startswith("network-private-")}
    # THEN az<N>'s private route goes to nat-az<N>, never the internet gateway
    for slot in ("az1", "az2", "az3"):
        route = routes[f"network-private-{slot}-default"]
        assert route.inputs["destinationCidrBlock"] == "0.0.0.0/0"
        assert depends_via(route, "natGatewayId", named(prod_plan, f"network-nat-{slot}"))
        assert "gatewayId" not in route.inputs


def test_dev_uses_a_single_nat_gateway_for_both_azs(dev_plan: Plan) -> None:
    # GIVEN the dev stack (nat_gateways single, two AZs)
    # WHEN its NAT gateways and private routes are planned
    nats = of_type(dev_plan, "aws:ec2/natGateway:NatGateway")
    private_routes = [
        r for r in of_type(dev_plan, "aws:ec2/route:Route") if r.name.endswith("-default") and "private" in r.name
    ]
    # THEN there is one NAT and both private route tables use it
    assert len(nats) == 1
    assert len(private_routes) == 2
    assert all(depends_via(r, "natGatewayId", nats[0]) for r in private_routes)


def test_subnets_are_tagged_for_eks_load_balancers_and_never_assign_public_ips(any_stack_plan: Plan) -> None:
    # GIVEN any shipped stack
    subnets = of_type(any_stack_plan, "aws:ec2/subnet:Subnet")
    # WHEN the subnets' tags and settings are read
    # THEN private subnets carry internal-elb, public ones elb, none maps public IPs on launch
    assert subnets
    for subnet in subnets:
        tags = subnet.inputs["tags"]
        assert ("kubernetes.io/role/internal-elb" in tags) != ("kubernetes.io/role/elb" in tags)
        assert tags.get("kubernetes.io/role/internal-elb", tags.get("kubernetes.io/role/elb")) == "1"
        assert subnet.inputs["mapPublicIpOnLaunch"] is False


def test_subnet_cidrs_are_derived_deterministically_and_do_not_overlap() -> None:
    # GIVEN a /16 and a /20 VPC with the most AZs supported
    for cidr in ("10.40.0.0/16", "10.42.16.0/20"):
        # WHEN the layout is computed twice
        layout = subnet_layout(cidr, 6)
        # THEN it is identical, inside the VPC and free of overlaps
        assert layout == subnet_layout(cidr, 6)
        networks = [ipaddress.ip_network(c) for c in (*layout.private, *layout.public)]
        vpc = ipaddress.ip_network(cidr)
        assert all(n.subnet_of(vpc) for n in networks)  # type: ignore[arg-type]
        assert not any(a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1 :])


def test_adding_an_az_keeps_existing_subnet_cidrs() -> None:
    # GIVEN the layout for two AZs
    two = subnet_layout("10.40.0.0/16", 2)
    # WHEN a third AZ is added
    three = subnet_layout("10.40.0.0/16", 3)
    # THEN the first two AZs keep their CIDRs (no subnet replacement)
    assert three.private[:2] == two.private
    assert three.public[:2] == two.public


def test_layout_rejects_more_azs_than_supported() -> None:
    with pytest.raises(ValueError, match="az_count 7"):
        subnet_layout("10.40.0.0/16", 7)


def test_s3_gateway_endpoint_is_attached_to_every_private_route_table(prod_plan: Plan) -> None:
    # GIVEN the prod network
    endpoint = named(prod_plan, "network-s3-endpoint")
    private_tables = [named(prod_plan, f"network-private-{slot}-rt") for slot in ("az1", "az2", "az3")]
    # THEN the endpoint is a gateway endpoint for the region's S3 on exactly those tables
    assert endpoint.inputs["vpcEndpointType"] == "Gateway"
    assert endpoint.inputs["serviceName"] == "com.amazonaws.eu-central-1.s3"
    assert sorted(endpoint.inputs["routeTableIds"]) == sorted(t.id for t in private_tables)


def test_default_security_group_is_locked_down(any_stack_plan: Plan) -> None:
    # GIVEN any shipped stack
    [default_sg] = of_type(any_stack_plan, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    # THEN it has no ingress and no egress rules
    assert default_sg.inputs.get("ingress", []) == []
    assert default_sg.inputs.get("egress", []) == []


def test_flow_logs_capture_all_traffic_to_an_encrypted_log_group_with_retention(prod_plan: Plan) -> None:
    # GIVEN the prod network
    flow_log = named(prod_plan, "network-flow-log")
    group = named(prod_plan, "network-flow-logs")
    key = named(prod_plan, "stack-key-key")
    # THEN all traffic goes to a KMS-encrypted group kept the configured time (365 days in prod)
    assert flow_log.inputs["trafficType"] == "ALL"
    assert depends_via(flow_log, "logDestination", group)
    assert depends_via(group, "kmsKeyId", key)
    assert group.inputs["retentionInDays"] == 365


def test_flow_log_role_writes_only_its_own_log_group(prod_plan: Plan) -> None:
    # GIVEN the flow-log role's inline policy
    policy = named(prod_plan, "network-flow-logs-policy")
    trust = statements(named(prod_plan, "network-flow-logs-role").inputs["assumeRolePolicy"])
    # THEN writes are on the flow-log group only and the trust is the flow-logs service of this account
    write = next(s for s in statements(policy.inputs["policy"]) if s["Sid"] == "WriteOwnFlowLogs")
    assert all("/aws/vpc/hybrid-ai-platform-prod/network/flow-logs" in r for r in write["Resource"])
    assert trust[0]["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust[0]["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"


def test_brought_vpc_creates_nothing_but_the_s3_endpoint() -> None:
    # GIVEN the dev stack with an existing VPC and one route table
    plan = byo_plan()
    # WHEN the network is planned
    created = {r.type for r in plan.resources if r.custom and "hybrid-ai:network:Network" in r.urn}
    # THEN no VPC, subnet, NAT or flow log is created; only the S3 endpoint on the given table
    assert created == {"aws:ec2/vpcEndpoint:VpcEndpoint"}
    endpoint = named(plan, "network-s3-endpoint")
    assert endpoint.inputs["vpcId"] == "vpc-0123456789abcdef0"
    assert endpoint.inputs["routeTableIds"] == ["rtb-0123456789abcdef0"]


def test_brought_vpc_subnets_carry_the_cluster_and_nodes() -> None:
    # GIVEN the dev stack with an existing VPC
    plan = byo_plan()
    # THEN the cluster and the node groups use the brought private subnets
    subnets = BYO_VPC["existing"]["private_subnet_ids"]  # type: ignore[index]
    assert named(plan, "cluster-eks").inputs["vpcConfig"]["subnetIds"] == subnets
    assert all(ng.inputs["subnetIds"] == subnets for ng in of_type(plan, "aws:eks/nodeGroup:NodeGroup"))


# --------------------------------------------------------------------------- peering for the deploy runner


def test_the_ci_peering_is_accepted_by_the_stack_and_routed_from_every_private_table(prod_plan: Plan) -> None:
    # GIVEN prod, whose deploy runner lives in a peered CI VPC (cluster.deployer.cidrs)
    [peering] = of_type(prod_plan, "aws:ec2/vpcPeeringConnection:VpcPeeringConnection")
    vpc = named(prod_plan, "network-vpc")
    # THEN the peering starts from the stack's VPC and, same account and region, is accepted by the stack
    assert depends_via(peering, "vpcId", vpc)
    assert peering.inputs["peerVpcId"] == "vpc-0c1d2e3f405162738"
    assert peering.inputs["autoAccept"] is True
    # AND each private route table (one per AZ) routes the runner CIDR through it, before any Kubernetes call
    tables = [t for t in of_type(prod_plan, "aws:ec2/routeTable:RouteTable") if "private" in t.name]
    routes = [r for r in of_type(prod_plan, "aws:ec2/route:Route") if r.inputs.get("vpcPeeringConnectionId")]
    assert len(tables) == 3
    assert sorted(r.inputs["routeTableId"] for r in routes) == sorted(t.id for t in tables)
    assert {r.inputs["destinationCidrBlock"] for r in routes} == {"10.100.0.0/24"}
    assert all(depends_via(r, "vpcPeeringConnectionId", peering) for r in routes)


def test_a_cross_account_peering_waits_for_the_other_side_to_accept() -> None:
    network = dict(read_stack_files("dev").config["hybrid-ai-platform:network"])
    network["peerings"] = [{**network["peerings"][0], "peer_owner_id": "210987654321"}]
    plan = synthesize("dev", overrides={"hybrid-ai-platform:network": network})
    [peering] = of_type(plan, "aws:ec2/vpcPeeringConnection:VpcPeeringConnection")
    assert peering.inputs["peerOwnerId"] == "210987654321"
    assert "autoAccept" not in peering.inputs


def test_a_peer_cidr_overlapping_the_vpc_is_refused_naming_the_field() -> None:
    network = dict(read_stack_files("dev").config["hybrid-ai-platform:network"])
    network["peerings"] = [{**network["peerings"][0], "peer_cidr": "10.40.128.0/24"}]
    with pytest.raises(ConfigError) as error:
        synthesize("dev", overrides={"hybrid-ai-platform:network": network})
    assert error.value.problems == [
        "network: peerings[0].peer_cidr: 10.40.128.0/24 overlaps the VPC CIDR 10.40.0.0/16; "
        "peered VPCs need disjoint CIDRs"
    ]


def test_a_deployer_cidr_without_a_route_into_a_created_vpc_is_warned() -> None:
    # GIVEN dev without its CI peering: the runner CIDR has no route into the VPC the update creates
    network = dict(read_stack_files("dev").config["hybrid-ai-platform:network"])
    network.pop("peerings")
    plan = synthesize("dev", overrides={"hybrid-ai-platform:network": network})
    # THEN the program warns, naming the CIDR and the fix; the shipped stack does not warn
    [warning] = [w for w in plan.warnings if "cluster.deployer.cidrs" in w]
    assert "['10.100.0.0/24']" in warning and "network.peerings" in warning
    assert not [w for w in shipped_plan("dev").warnings if "cluster.deployer.cidrs" in w]
