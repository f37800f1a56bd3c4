"""Security groups admit no port from the whole internet, whatever the rules' form or split."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, StackPolicy
from hybrid_ai_platform.policies.props import get, skip_unknown
from pulumi_policy import PolicyResource, Severity, StackValidationArgs

from ._cidr import world_open

SG = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"

PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "-1": "all", "all": "all"}

META = Meta(
    id="BP-NET-001",
    name="network-no-world-ingress",
    description="No security group admits a port from the internet: the union of the CIDRs of all its ingress "
    "rules (inline ingress blocks, SecurityGroupRule, vpc.SecurityGroupIngressRule) that cover a port never "
    "covers the IPv4 or IPv6 internet.",
    severity=Severity.CRITICAL,
    category="security",
    resource_types=(SG, DEFAULT_SG, SG_RULE, INGRESS_RULE),
    remediation="Admit your own CIDRs or a source security group / prefix list; put internet-facing services "
    "behind a load balancer whose port is listed in allowedWorldPorts.",
    equivalents=Equivalents(
        checkov=("CKV_AWS_24", "CKV_AWS_25", "CKV_AWS_260", "CKV_AWS_277"),
        trivy=("AVD-AWS-0107",),
    ),
    config={
        "allowedWorldPorts": {
            "type": "array",
            "items": {"type": "integer", "minimum": 0, "maximum": 65535},
            "default": [],
            "description": "TCP/UDP ports that may be open to the internet (e.g. 443 on a public load balancer). "
            "Defaults to none.",
        }
    },
)


@dataclass(frozen=True)
class Rule:
    """One ingress permission: who declared it, protocol, port range and CIDRs."""

    urn: str
    protocol: str
    ports: tuple[int, int]
    cidrs: tuple[str, ...]


def _protocol(value: Any) -> str:
    text = str(value if value is not None else "-1").strip().lower()
    return PROTOCOLS.get(text, text)


def _ports(protocol: str, low: Any, high: Any) -> tuple[int, int]:
    if protocol not in ("tcp", "udp") or low is None:
        return (0, 65535)
    low_i, high_i = int(low), int(high if high is not None else low)
    if low_i < 0 or high_i < 0:
        return (0, 65535)
    return (low_i, high_i)


def _sg_key(resource: PolicyResource, value: Any) -> str:
    for source in resource.property_dependencies.get("securityGroupId") or []:
        if source.resource_type in (SG, DEFAULT_SG):
            return source.urn
    return f"id:{value}"


def collect(resources: list[PolicyResource]) -> dict[str, list[Rule]]:
    """Ingress rules per security group (keyed by the group's URN, or its id when not in the stack)."""
    groups: dict[str, list[Rule]] = defaultdict(list)
    for resource in resources:
        with skip_unknown():
            props = resource.props
            if resource.resource_type in (SG, DEFAULT_SG):
                for block in get(props, "ingress") or []:
                    protocol = _protocol(block.get("protocol"))
                    cidrs = (*(block.get("cidrBlocks") or []), *(block.get("ipv6CidrBlocks") or []))
                    ports = _ports(protocol, block.get("fromPort"), block.get("toPort"))
                    groups[resource.urn].append(Rule(resource.urn, protocol, ports, tuple(map(str, cidrs))))
            elif resource.resource_type == SG_RULE and str(get(props, "type") or "") == "ingress":
                protocol = _protocol(get(props, "protocol"))
                cidrs = (*(get(props, "cidrBlocks") or []), *(get(props, "ipv6CidrBlocks") or []))
                ports = _ports(protocol, get(props, "fromPort"), get(props, "toPort"))
                key = _sg_key(resource, get(props, "securityGroupId"))
                groups[key].append(Rule(resource.urn, protocol, ports, tuple(map(str, cidrs))))
            elif resource.resource_type == INGRESS_RULE:
                protocol = _protocol(get(props, "ipProtocol"))
                cidrs = tuple(c for c in (get(props, "cidrIpv4"), get(props, "cidrIpv6")) if c)
                ports = _ports(protocol, get(props, "fromPort"), get(props, "toPort"))
                key = _sg_key(resource, get(props, "securityGroupId"))
                groups[key].append(Rule(resource.urn, protocol, ports, tuple(map(str, cidrs))))
    return groups


def _covers(rule: Rule, protocol: str, port: int) -> bool:
    if rule.protocol == "all":
        return True
    return rule.protocol == protocol and rule.ports[0] <= port <= rule.ports[1]


def open_ports(rules: list[Rule]) -> list[tuple[str, tuple[int, int], list[str], list[str]]]:
    """``(protocol, port range, internets, urns)`` where the union of the covering rules' CIDRs is the internet.

    ``protocol`` is ``all`` when the all-traffic rules alone open everything; otherwise each protocol's port
    ranges are cut where any rule starts or ends, and adjacent open ranges with the same rules are merged.
    """
    everything = [r for r in rules if r.protocol == "all"]
    internets = world_open([c for r in everything for c in r.cidrs])
    if internets:
        return [("all", (0, 65535), internets, sorted({r.urn for r in everything if r.cidrs}))]
    found: list[tuple[str, tuple[int, int], list[str], list[str]]] = []
    for protocol in sorted({r.protocol for r in rules if r.protocol != "all"}):
        if protocol in ("tcp", "udp"):
            bounds = sorted({0, 65536} | {r.ports[0] for r in rules} | {r.ports[1] + 1 for r in rules})
            ranges = [(low, high - 1) for low, high in itertools.pairwise(bounds) if low < high]
        else:
            ranges = [(0, 65535)]
        for low, high in ranges:
            covering = [r for r in rules if _covers(r, protocol, low)]
            internets = world_open([c for r in covering for c in r.cidrs])
            if not internets:
                continue
            urns = sorted({r.urn for r in covering if r.cidrs})
            last = found[-1] if found else None
            if last and last[0] == protocol and last[1][1] + 1 == low and last[2] == internets and last[3] == urns:
                found[-1] = (protocol, (last[1][0], high), internets, urns)
            else:
                found.append((protocol, (low, high), internets, urns))
    return found


def check(args: StackValidationArgs, config: Mapping[str, Any], report: Callable[..., None]) -> None:
    """Report each security group port range the union of its rules opens to the internet."""
    allowed = {int(p) for p in config.get("allowedWorldPorts") or []}
    for key, rules in sorted(collect(list(args.resources)).items()):
        for protocol, (low, high), internets, urns in open_ports(rules):
            if protocol in ("tcp", "udp") and low == high and low in allowed:
                continue
            shown = f"{protocol} {low}" if low == high else f"{protocol} {low}-{high}"
            if protocol not in ("tcp", "udp"):
                shown = "all traffic" if protocol == "all" else protocol
            group = key.removeprefix("id:") if key.startswith("id:") else key.rsplit("::", 1)[-1]
            report(
                f"security group '{group}' admits {shown} from the {' and '.join(internets)} internet "
                f"(union of {len(urns)} rule(s))",
                urns[0],
            )


POLICY = StackPolicy(META, check)
