"""The AWS service quotas a stack needs, computed from its validated configuration.

A fresh account often cannot hold what a stack asks for: its G and VT vCPU quotas (On-Demand
and Spot) are 0, its Lambda concurrency is reduced, and it has room for a handful of VPCs and
Elastic IPs. :func:`quota_needs` lists, for one stack, every quota the stack provably uses with
the value it needs; the plan carries them as its ``quotas`` section and ``blueprint preflight``
compares them with the account.

What is counted (each fact from AWS's documentation):

- **EC2 vCPUs** per instance-family class and purchase option, for every node group at
  ``max_size`` (the cluster autoscaler may take it there). On-Demand and Spot quotas are
  counted in vCPUs, one quota per class; the codes are those of the Service Quotas console
  (https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-instance-quotas.html and
  https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-spot-limits.html). The system node
  group is On-Demand; a GPU group uses its ``capacity_type``. A group with several instance
  types counts its largest one in each class. vCPUs per type come from
  :mod:`hybrid_ai_platform.components.instance_types`.
- **Lambda concurrent executions** (``L-B99A9384``): the sum of the functions' reserved
  concurrency plus the 100 that must stay unreserved ("You can reserve up to the Unreserved
  account concurrency value minus 100",
  https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html; new accounts have
  reduced concurrency, https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
- **Network** (created VPC only, https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html):
  one VPC (``L-F678F1CE`` VPCs per Region), one Elastic IP per NAT gateway (``L-0263D0A3``
  EC2-VPC Elastic IPs) and one NAT gateway per Availability Zone (``L-FE5A380F``).

Needs are what *this stack* uses; resources other stacks already hold in the account count
against the same quotas (preflight subtracts them only where the API reports them: Lambda).

Example::

    >>> from hybrid_ai_platform.config import GpuNodeGroupConfig
    >>> group = GpuNodeGroupConfig(name="gpu", instance_types=["g6.2xlarge"], max_size=3)
    >>> [(n.quota_code, n.needed) for n in node_group_needs(f"GPU node group '{group.name}'",
    ...     group.instance_types, group.max_size, group.capacity_type)]
    [('L-DB2E81BA', 24)]
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hybrid_ai_platform.components.instance_types import UnknownInstanceTypeError, vcpus
from hybrid_ai_platform.config import PROJECT_NAMESPACE, PlatformConfig, parse_platform_config

from .plandoc import PlanDocument, QuotasSection
from .synth import PROJECT_ROOT, read_stack_files

UNRESERVED_LAMBDA_MINIMUM = 100
"""Concurrent executions Lambda keeps unreserved for functions without reserved concurrency
(https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html)."""

CapacityType = Literal["ON_DEMAND", "SPOT"]


@dataclass(frozen=True)
class Quota:
    """One Service Quotas quota: where it lives and what it counts."""

    service_code: str
    quota_code: str
    quota_name: str
    unit: str


def _ec2(code: str, name: str) -> Quota:
    return Quota("ec2", code, name, "vCPUs")


# https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-instance-quotas.html (codes in the console links).
STANDARD_ON_DEMAND = _ec2("L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances")
STANDARD_SPOT = _ec2("L-34B43A08", "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests")
G_VT_ON_DEMAND = _ec2("L-DB2E81BA", "Running On-Demand G and VT instances")
G_VT_SPOT = _ec2("L-3819A6DF", "All G and VT Spot Instance Requests")
P_ON_DEMAND = _ec2("L-417A185B", "Running On-Demand P instances")
P2_P3_P4_SPOT = _ec2("L-7212CCBC", "All P4, P3 and P2 Spot Instance Requests")
P5_SPOT = _ec2("L-C4BD4855", "All P5 Spot Instance Requests")
LAMBDA_CONCURRENCY = Quota("lambda", "L-B99A9384", "Concurrent executions", "concurrent executions")
ELASTIC_IPS = Quota("ec2", "L-0263D0A3", "EC2-VPC Elastic IPs", "addresses")
VPCS_PER_REGION = Quota("vpc", "L-F678F1CE", "VPCs per Region", "VPCs")
NAT_GATEWAYS_PER_AZ = Quota("vpc", "L-FE5A380F", "NAT gateways per Availability Zone", "NAT gateways")

_STANDARD_PREFIXES = frozenset({"a", "c", "d", "h", "i", "im", "is", "m", "r", "t", "z"})
_G_VT_PREFIXES = frozenset({"g", "gr", "vt"})


class QuotaClassError(ValueError):
    """An instance family whose EC2 vCPU quota this module does not know."""


def ec2_quota(instance_type: str, capacity_type: CapacityType) -> Quota:
    """The vCPU quota that instances of ``instance_type`` count against.

    >>> ec2_quota("g4dn.xlarge", "SPOT").quota_code, ec2_quota("m7i.large", "ON_DEMAND").quota_code
    ('L-3819A6DF', 'L-1216C47A')
    """
    family = instance_type.split(".", 1)[0]
    match = re.match(r"[a-z]+", family)
    prefix = match.group(0) if match else family
    spot = capacity_type == "SPOT"
    if prefix in _STANDARD_PREFIXES:
        return STANDARD_SPOT if spot else STANDARD_ON_DEMAND
    if prefix in _G_VT_PREFIXES:
        return G_VT_SPOT if spot else G_VT_ON_DEMAND
    if prefix == "p":
        if not spot:
            return P_ON_DEMAND
        if family in {"p2", "p3", "p3dn", "p4d", "p4de"}:
            return P2_P3_P4_SPOT
        if family in {"p5", "p5e", "p5en"}:
            return P5_SPOT
    raise QuotaClassError(
        f"instance type '{instance_type}' ({capacity_type}): its EC2 vCPU quota is not in blueprint's quota table; "
        "use a Standard, G/VT or P family, or add the family's quota codes"
    )


@dataclass(frozen=True)
class QuotaNeed:
    """A quota a stack needs and the value it needs, with one reason per contribution."""

    quota: Quota
    needed: int
    reasons: tuple[str, ...] = ()

    @property
    def quota_code(self) -> str:
        """The Service Quotas quota code."""
        return self.quota.quota_code

    def to_json(self) -> dict[str, Any]:
        """The need as it appears in the plan's ``quotas.required`` list."""
        return {
            "service_code": self.quota.service_code,
            "quota_code": self.quota.quota_code,
            "quota_name": self.quota.quota_name,
            "unit": self.quota.unit,
            "needed": self.needed,
            "reasons": list(self.reasons),
        }


def node_group_needs(
    label: str, instance_types: Sequence[str], max_size: int, capacity_type: CapacityType
) -> list[QuotaNeed]:
    """vCPU needs of one node group at ``max_size``: per quota class, the largest type of that class.

    Raises :class:`hybrid_ai_platform.components.instance_types.UnknownInstanceTypeError` or :class:`QuotaClassError`.
    """
    largest: dict[Quota, tuple[int, str]] = {}
    for instance_type in instance_types:
        quota = ec2_quota(instance_type, capacity_type)
        count = vcpus(instance_type)
        if quota not in largest or count > largest[quota][0]:
            largest[quota] = (count, instance_type)
    purchase = "Spot" if capacity_type == "SPOT" else "On-Demand"
    return [
        QuotaNeed(
            quota,
            max_size * count,
            (f"{label}: max_size {max_size} x {instance_type} ({count} vCPUs, {purchase})",),
        )
        for quota, (count, instance_type) in largest.items()
    ]


def _merge(needs: Iterable[QuotaNeed]) -> list[QuotaNeed]:
    """One need per quota (values added, reasons kept in order), sorted by service and quota code."""
    merged: dict[tuple[str, str], QuotaNeed] = {}
    for need in needs:
        key = (need.quota.service_code, need.quota.quota_code)
        if key in merged:
            previous = merged[key]
            merged[key] = QuotaNeed(need.quota, previous.needed + need.needed, previous.reasons + need.reasons)
        else:
            merged[key] = need
    return [merged[key] for key in sorted(merged)]


@dataclass
class QuotaReport:
    """Every quota a stack needs, and the problems that kept a need from being computed."""

    region: str
    needs: list[QuotaNeed] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The plan document's ``quotas`` section (deterministic, sorted)."""
        return {
            "region": self.region,
            "required": [n.to_json() for n in self.needs],
            "problems": sorted(self.problems),
        }


def quota_needs(config: PlatformConfig) -> QuotaReport:
    """The quotas ``config``'s stack needs in its region; see the module docstring for what counts."""
    needs: list[QuotaNeed] = []
    problems: list[str] = []

    def add_group(label: str, field_path: str, types: Sequence[str], max_size: int, capacity: CapacityType) -> None:
        try:
            needs.extend(node_group_needs(label, types, max_size, capacity))
        except (UnknownInstanceTypeError, QuotaClassError) as exc:
            problems.append(f"{field_path}: {exc}")

    system = config.cluster.system_node_group
    # The system node group is always On-Demand (components/inference_cluster.py).
    add_group(
        "system node group",
        "cluster.system_node_group.instance_types",
        system.instance_types,
        system.max_size,
        "ON_DEMAND",
    )
    for i, group in enumerate(config.cluster.gpu_node_groups):
        add_group(
            f"GPU node group '{group.name}'",
            f"cluster.gpu_node_groups[{i}].instance_types",
            group.instance_types,
            group.max_size,
            group.capacity_type,
        )

    functions = config.preprocessing.functions
    if functions:
        reasons = tuple(f"function '{f.name}': reserved_concurrency {f.reserved_concurrency}" for f in functions)
        reserved = sum(f.reserved_concurrency for f in functions)
        needs.append(
            QuotaNeed(
                LAMBDA_CONCURRENCY,
                reserved + UNRESERVED_LAMBDA_MINIMUM,
                (*reasons, f"{UNRESERVED_LAMBDA_MINIMUM} that Lambda keeps unreserved"),
            )
        )

    if config.network.existing is None:
        nat_count = config.az_count if config.nat_gateways == "one_per_az" else 1
        needs.append(QuotaNeed(VPCS_PER_REGION, 1, ("the stack's VPC",)))
        needs.append(
            QuotaNeed(
                ELASTIC_IPS,
                nat_count,
                (f"one per NAT gateway: {nat_count} ({config.nat_gateways}, {config.az_count} AZs)",),
            )
        )
        needs.append(QuotaNeed(NAT_GATEWAYS_PER_AZ, 1, ("at most one NAT gateway in each AZ",)))
    return QuotaReport(region=config.region, needs=_merge(needs), problems=problems)


def config_from_stack_config(stack: str, raw_config: dict[str, Any]) -> PlatformConfig:
    """Validate a stack's raw config (``namespace:key`` → value, as in the plan's ``config``).

    Raises :class:`hybrid_ai_platform.config.ConfigError` naming every bad field.
    """
    raw: dict[str, Any] = {}
    for key, value in raw_config.items():
        namespace, _, name = key.partition(":")
        if namespace == PROJECT_NAMESPACE:
            raw[name] = value
    if "aws:region" in raw_config:
        raw["region"] = raw_config["aws:region"]
    return parse_platform_config(raw, stack)


def stack_config(stack: str, root: Path = PROJECT_ROOT) -> PlatformConfig:
    """The validated configuration of ``stacks/Pulumi.<stack>.yaml`` (no synthesis).

    Raises :class:`hybrid_ai_platform.cli.synth.PlanError` for an unknown stack and ``ConfigError`` for bad config.
    """
    files = read_stack_files(stack, root)
    return config_from_stack_config(stack, files.config)


def add_quotas(document: PlanDocument) -> None:
    """Add the ``quotas`` section to a plan document in place (from the plan's own ``config``)."""
    config = config_from_stack_config(document.stack, dict(document.config or {}))
    document.quotas = QuotasSection.from_json(quota_needs(config).to_json())
