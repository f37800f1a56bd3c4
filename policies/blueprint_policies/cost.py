"""Monthly cost estimate of a stack, shared by the ``budget-monthly-cost`` policy and the CLI.

:func:`estimate` prices the resources of a plan document (``resources`` entries as in
``docs/plan-format.md``: ``urn``, ``type``, ``name``, ``inputs``, ``property_dependencies``)
with the price table ``data/prices.json`` and usage assumptions shaped like the stack config's
``usage`` block (an Infracost-style usage file)::

    {"functions": {"transactions": {"requests_per_month": 2000000, "average_duration_ms": 2500}},
     "sqs_requests_per_month": 8000000,
     "s3_storage_gb": {"landing": 2000, "features": 800, "models": 200, "logs": 300},
     "gpu_node_hours_per_month": {"gpu-l4": 2920},
     "nat_data_processed_gb": 1000}

Defaults when a usage value is missing match the stack config's documented defaults: a function
100,000 requests of 2,000 ms; 1,000,000 SQS requests; 100 GB per bucket; node groups run
``desired_size`` nodes all month; 100 GB through NAT.

Example::

    >>> result = estimate([{"urn": "urn:pulumi:dev::p::aws:kms/key:Key::k", "type": "aws:kms/key:Key",
    ...                     "name": "k", "inputs": {}}], "eu-west-1", {})
    >>> result["total_monthly"]
    1.0
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources as importlib_resources
from typing import Any

from hybrid_ai_platform.contracts import (
    GPUS_PER_INSTANCE,
    STORAGE_KEY_BY_PURPOSE,
    USAGE_DEFAULT_FUNCTION_DURATION_MS,
    USAGE_DEFAULT_FUNCTION_REQUESTS,
    USAGE_DEFAULT_NAT_GB,
    USAGE_DEFAULT_S3_GB,
    USAGE_DEFAULT_SQS_REQUESTS,
)

FUNCTION_DEFAULT_REQUESTS = USAGE_DEFAULT_FUNCTION_REQUESTS
FUNCTION_DEFAULT_DURATION_MS = USAGE_DEFAULT_FUNCTION_DURATION_MS
SQS_DEFAULT_REQUESTS = USAGE_DEFAULT_SQS_REQUESTS
S3_DEFAULT_GB = float(USAGE_DEFAULT_S3_GB)
NAT_DEFAULT_GB = float(USAGE_DEFAULT_NAT_GB)
NODE_DEFAULT_VOLUME_GB = 20
"""The EKS managed node group's default root volume size."""

BUCKET_PURPOSES = STORAGE_KEY_BY_PURPOSE
"""Bucket ``purpose`` tag → key of ``usage.s3_storage_gb``
(:data:`hybrid_ai_platform.contracts.STORAGE_KEY_BY_PURPOSE`)."""


@cache
def price_table() -> dict[str, Any]:
    """The parsed ``data/prices.json``."""
    text = importlib_resources.files("hybrid_ai_platform.policies").joinpath("data/prices.json").read_text()
    table: dict[str, Any] = json.loads(text)
    return table


def gpus_per_instance(instance_type: str) -> int:
    """NVIDIA GPUs in an instance type (0 for CPU types and types not in the table)."""
    return GPUS_PER_INSTANCE.get(instance_type, 0)


def is_gpu_instance(instance_type: str) -> bool:
    """Whether the type has GPUs (a family listed in the table)."""
    return gpus_per_instance(instance_type) > 0


@dataclass
class _Item:
    description: str
    quantity: float
    unit: str
    unit_price: float

    def to_json(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "quantity": round(self.quantity, 6),
            "unit": self.unit,
            "unit_price": self.unit_price,
            "monthly": round(self.quantity * self.unit_price, 2),
        }


def _inputs(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    inputs = resource.get("inputs")
    return inputs if isinstance(inputs, Mapping) else {}


def _num(value: Any, default: float) -> float:
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def _key_matches(key: str, *names: Any) -> bool:
    """Whether a usage key (a config name such as ``gpu-l4``) names this resource."""
    for name in names:
        if not isinstance(name, str) or not name:
            continue
        if name == key or name.startswith(f"{key}-") or name.endswith(f"-{key}"):
            return True
    return False


def _lookup(usage_map: Mapping[str, Any], *names: Any) -> Any:
    """The usage entry whose key names the resource; the longest key wins (``a-b`` over ``a``)."""
    for key in sorted(usage_map, key=len, reverse=True):
        if any(isinstance(n, str) and n == key for n in names):
            return usage_map[key]
    for key in sorted(usage_map, key=len, reverse=True):
        if _key_matches(key, *names):
            return usage_map[key]
    return None


def estimate(resources: Sequence[Mapping[str, Any]], region: str, usage: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``cost`` section of the plan document for ``resources`` priced in ``region``.

    Unknown regions are priced as ``us-east-1`` and unknown instance types at zero; both are
    listed in ``notes``. Resources without a cost are left out. ``total_monthly`` is the sum
    of the per-resource amounts, rounded to cents.
    """
    table = price_table()
    usage = usage or {}
    notes: list[str] = []
    prices = table["regions"].get(region)
    if prices is None:
        notes.append(f"region {region} is not in the price table; us-east-1 prices used")
        prices = table["regions"]["us-east-1"]
    hours = float(table["hours_per_month"])
    by_urn = {str(r.get("urn")): r for r in resources}
    items: dict[str, list[_Item]] = {}

    def add(resource: Mapping[str, Any], item: _Item) -> None:
        items.setdefault(str(resource.get("urn")), []).append(item)

    def ec2_price(instance_type: str) -> float:
        price = prices["ec2_hour"].get(instance_type)
        if price is None:
            notes.append(f"no price for instance type {instance_type}; counted as 0")
            return 0.0
        return float(price)

    nat_gateways = [r for r in resources if r.get("type") == "aws:ec2/natGateway:NatGateway"]
    queues = [r for r in resources if r.get("type") == "aws:sqs/queue:Queue"]
    functions_usage = usage.get("functions") or {}
    gpu_hours = usage.get("gpu_node_hours_per_month") or {}
    storage = usage.get("s3_storage_gb") or {}

    for resource in resources:
        type_ = resource.get("type")
        inputs = _inputs(resource)
        if type_ == "aws:eks/cluster:Cluster":
            add(resource, _Item("EKS control plane", hours, "hours", prices["eks_cluster_hour"]))
        elif type_ == "aws:eks/nodeGroup:NodeGroup":
            _node_group(resource, inputs, by_urn, gpu_hours, hours, prices, ec2_price, add)
        elif type_ == "aws:ec2/instance:Instance":
            instance_type = str(inputs.get("instanceType") or "")
            add(resource, _Item(f"EC2 {instance_type}", hours, "hours", ec2_price(instance_type)))
        elif type_ == "aws:ec2/natGateway:NatGateway":
            add(resource, _Item("NAT gateway hours", hours, "hours", prices["nat_gateway_hour"]))
            total_gb = _num(usage.get("nat_data_processed_gb"), NAT_DEFAULT_GB)
            add(
                resource,
                _Item("NAT gateway data processed", total_gb / len(nat_gateways), "GB", prices["nat_gateway_gb"]),
            )
        elif type_ == "aws:ec2/eip:Eip":
            add(resource, _Item("Public IPv4 address", hours, "hours", prices["public_ipv4_hour"]))
        elif type_ == "aws:lambda/function:Function":
            entry = _lookup(functions_usage, resource.get("name"), inputs.get("name")) or {}
            requests = _num(entry.get("requests_per_month"), FUNCTION_DEFAULT_REQUESTS)
            duration_ms = _num(entry.get("average_duration_ms"), FUNCTION_DEFAULT_DURATION_MS)
            memory_gb = _num(inputs.get("memorySize"), 128) / 1024
            architectures = inputs.get("architectures") or ["x86_64"]
            arch = "arm64" if "arm64" in architectures else "x86_64"
            add(
                resource,
                _Item("Lambda requests", requests / 1_000_000, "million requests", prices["lambda_requests_million"]),
            )
            add(
                resource,
                _Item(
                    f"Lambda compute ({arch})",
                    requests * duration_ms / 1000 * memory_gb,
                    "GB-seconds",
                    prices[f"lambda_gb_second_{arch}"],
                ),
            )
        elif type_ == "aws:sqs/queue:Queue":
            total = _num(usage.get("sqs_requests_per_month"), SQS_DEFAULT_REQUESTS)
            add(
                resource,
                _Item(
                    "SQS requests", total / len(queues) / 1_000_000, "million requests", prices["sqs_requests_million"]
                ),
            )
        elif type_ in ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"):
            tags = inputs.get("tags") or {}
            key = BUCKET_PURPOSES.get(str(tags.get("purpose", "")))
            gb = _num(storage.get(key) if key else None, S3_DEFAULT_GB)
            add(resource, _Item("S3 Standard storage", gb, "GB-months", prices["s3_standard_gb_month"]))
        elif type_ in ("aws:kms/key:Key", "aws:kms/replicaKey:ReplicaKey", "aws:kms/externalKey:ExternalKey"):
            add(resource, _Item("KMS key", 1, "keys", prices["kms_key_month"]))
        elif type_ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            metrics = len(inputs.get("metricQueries") or []) or 1
            add(resource, _Item("CloudWatch alarm metrics", metrics, "alarm metrics", prices["cloudwatch_alarm_month"]))

    result_resources = []
    for urn in sorted(items):
        resource = by_urn[urn]
        rendered = [i.to_json() for i in items[urn]]
        result_resources.append(
            {
                "urn": urn,
                "name": resource.get("name"),
                "type": resource.get("type"),
                "monthly": round(sum(i["monthly"] for i in rendered), 2),
                "items": rendered,
            }
        )
    result: dict[str, Any] = {
        "currency": table["currency"],
        "region": region,
        "price_table": {"source": table["source"], "date": table["date"]},
        "total_monthly": round(sum(r["monthly"] for r in result_resources), 2),
        "resources": result_resources,
    }
    if notes:
        result["notes"] = sorted(set(notes))
    return result


def _node_group(
    resource: Mapping[str, Any],
    inputs: Mapping[str, Any],
    by_urn: Mapping[str, Mapping[str, Any]],
    gpu_hours: Mapping[str, Any],
    hours: float,
    prices: Mapping[str, Any],
    ec2_price: Any,
    add: Any,
) -> None:
    template = _launch_template(resource, by_urn)
    template_inputs = _inputs(template) if template else {}
    instance_types = list(inputs.get("instanceTypes") or [])
    if not instance_types and template_inputs.get("instanceType"):
        instance_types = [template_inputs["instanceType"]]
    instance_type = str(instance_types[0]) if instance_types else "t3.medium"
    scaling = inputs.get("scalingConfig") or {}
    desired = _num(scaling.get("desiredSize"), 1)
    entry = _lookup(gpu_hours, resource.get("name"), inputs.get("nodeGroupName"))
    node_hours = _num(entry, desired * hours) if entry is not None else desired * hours
    basis = "usage" if entry is not None else f"desired_size {int(desired)}"
    add(resource, _Item(f"EC2 {instance_type} node hours ({basis})", node_hours, "hours", ec2_price(instance_type)))
    volume_gb = _volume_size(template_inputs) or _num(inputs.get("diskSize"), NODE_DEFAULT_VOLUME_GB)
    add(
        resource, _Item("EBS gp3 root volumes", volume_gb * node_hours / hours, "GB-months", prices["ebs_gp3_gb_month"])
    )


def _launch_template(resource: Mapping[str, Any], by_urn: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any] | None:
    deps = (resource.get("property_dependencies") or {}).get("launchTemplate") or []
    for urn in deps:
        candidate = by_urn.get(urn)
        if candidate and candidate.get("type") == "aws:ec2/launchTemplate:LaunchTemplate":
            return candidate
    return None


def _volume_size(template_inputs: Mapping[str, Any]) -> float:
    for mapping in template_inputs.get("blockDeviceMappings") or []:
        ebs = mapping.get("ebs") if isinstance(mapping, Mapping) else None
        if isinstance(ebs, Mapping) and ebs.get("volumeSize"):
            return _num(ebs["volumeSize"], 0)
    return 0.0
