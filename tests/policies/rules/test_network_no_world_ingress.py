"""network-no-world-ingress: security-group ingress judged by the union of all its rules, per port."""

from __future__ import annotations

from hybrid_ai_platform.policies.testing import UNKNOWN, policy_resource, stack_args

from tests.policies.rules.support import assert_waived, check

NAME = "network-no-world-ingress"
SG = "aws:ec2/securityGroup:SecurityGroup"


def _group(ingress: list[dict] | None = None, name: str = "web"):
    return policy_resource(SG, {"vpcId": "vpc-1", "ingress": ingress or []}, name)


def _ingress_rule(
    group,
    cidr4: str | None = None,
    cidr6: str | None = None,
    port: int | None = 443,
    name: str = "r",
    protocol: str = "tcp",
):
    props: dict = {"securityGroupId": "sg-1", "ipProtocol": protocol}
    if port is not None:
        props.update(fromPort=port, toPort=port)
    if cidr4:
        props["cidrIpv4"] = cidr4
    if cidr6:
        props["cidrIpv6"] = cidr6
    deps = {"securityGroupId": [group]} if group is not None else {}
    return policy_resource("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", props, name, deps)


def _sg_rule(group, cidrs: list[str], low: int = 22, high: int = 22, name: str = "legacy", type_: str = "ingress"):
    props = {
        "type": type_,
        "securityGroupId": "sg-1",
        "protocol": "tcp",
        "fromPort": low,
        "toPort": high,
        "cidrBlocks": cidrs,
    }
    return policy_resource("aws:ec2/securityGroupRule:SecurityGroupRule", props, name, {"securityGroupId": [group]})


def test_private_and_partial_ranges_pass() -> None:
    group = _group([{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.0.0.0/8"]}])
    rules = [_ingress_rule(group, "0.0.0.0/1", name="a"), _ingress_rule(group, "128.0.0.0/1", port=22, name="b")]
    assert check(NAME, stack_args([group, *rules])).passed


def test_two_separate_rules_whose_union_is_the_internet_fail() -> None:
    group = _group()
    rules = [_ingress_rule(group, "0.0.0.0/1", name="a"), _ingress_rule(group, "128.0.0.0/1", name="b")]
    outcome = check(NAME, stack_args([group, *rules]))
    assert outcome.messages == ["security group 'web' admits tcp 443 from the IPv4 internet (union of 2 rule(s))"]


def test_inline_block_plus_rule_resource_union_fails() -> None:
    group = _group([{"protocol": "tcp", "fromPort": 0, "toPort": 65535, "cidrBlocks": ["0.0.0.0/1"]}])
    rule = _sg_rule(group, ["128.0.0.0/1"], 22, 22)
    (message,) = check(NAME, stack_args([group, rule])).messages
    assert "tcp 22 from the IPv4 internet" in message


def test_ipv6_and_all_traffic_forms_fail() -> None:
    group = _group([{"protocol": "-1", "fromPort": 0, "toPort": 0, "ipv6CidrBlocks": ["2000::/4"]}])
    rule = _ingress_rule(group, cidr6="3000::/4", port=None, protocol="-1")
    assert check(NAME, stack_args([group, rule])).messages == [
        "security group 'web' admits all traffic from the IPv6 internet (union of 2 rule(s))"
    ]


def test_single_world_cidr_on_default_group_fails() -> None:
    group = policy_resource(
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        {"ingress": [{"protocol": "tcp", "fromPort": 3389, "toPort": 3389, "cidrBlocks": ["0.0.0.0/0"]}]},
        "default",
    )
    assert "tcp 3389" in check(NAME, stack_args([group])).messages[0]


def test_egress_rules_are_not_ingress() -> None:
    group = _group()
    assert check(NAME, stack_args([group, _sg_rule(group, ["0.0.0.0/0"], 0, 65535, type_="egress")])).passed


def test_allowed_world_port_passes() -> None:
    group = _group([{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}])
    assert check(NAME, stack_args([group], {"allowedWorldPorts": [443]})).passed
    assert check(NAME, stack_args([group], {"allowedWorldPorts": [80]})).messages


def test_rules_of_groups_outside_the_stack_are_grouped_by_id() -> None:
    rules = [_ingress_rule(None, "0.0.0.0/1", name="a"), _ingress_rule(None, "128.0.0.0/1", name="b")]
    assert "security group 'sg-1'" in check(NAME, stack_args(rules)).messages[0]


def test_unknown_cidrs_skip_that_rule_only_and_no_group_is_applicable_nothing() -> None:
    group = _group()
    rules = [_ingress_rule(group, UNKNOWN, name="a"), _ingress_rule(group, "128.0.0.0/1", name="b")]
    assert check(NAME, stack_args([group, *rules])).passed
    assert check(NAME, stack_args([policy_resource("aws:s3/bucket:Bucket", {}, "b")])).passed


def test_exception_waives(exceptions_file) -> None:
    group = _group([{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}])
    assert_waived(NAME, lambda config: stack_args([group], config), exceptions_file)
