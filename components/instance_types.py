"""vCPUs (and, for GPU types, memory) per EC2 instance type, from one dated data file
(``components/data/instance_types.json``).

EC2 On-Demand and Spot quotas are counted in vCPUs, so anything that sizes node groups against
the account (the plan's ``quotas`` section, ``blueprint preflight``) reads the vCPU count from
here; the file records its source and date. An instance type missing from the table is an
explicit unknown (:class:`UnknownInstanceTypeError`), never a guess.

Example::

    >>> vcpus("g6.2xlarge"), vcpus("m7i.large")
    (8, 2)
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from hybrid_ai_platform.contracts import GPUS_PER_INSTANCE, NODE_RESERVED_MEMORY_MIB, node_reserved_cpu_milli

DATA_FILE = Path(__file__).resolve().parent / "data" / "instance_types.json"
"""The table: ``{"source", "date", "notes", "vcpus": {type: default vCPUs}, "memory_gib": {type: GiB}}``."""


class UnknownInstanceTypeError(KeyError):
    """An instance type that is not in the vCPU table."""

    def __init__(self, instance_type: str) -> None:
        super().__init__(instance_type)
        self.instance_type = instance_type

    def __str__(self) -> str:
        return (
            f"instance type '{self.instance_type}' is not in {DATA_FILE.relative_to(DATA_FILE.parents[2])}; "
            "add its default vCPU count (aws ec2 describe-instance-types --instance-types "
            f"{self.instance_type} --query 'InstanceTypes[0].VCpuInfo.DefaultVCpus')"
        )


@cache
def table() -> dict[str, Any]:
    """The parsed data file (source, date, notes and the ``vcpus`` mapping)."""
    data: dict[str, Any] = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    return data


def vcpus(instance_type: str) -> int:
    """Default vCPUs of ``instance_type``; raises :class:`UnknownInstanceTypeError` when absent."""
    try:
        return int(table()["vcpus"][instance_type])
    except KeyError:
        raise UnknownInstanceTypeError(instance_type) from None


def memory_gib(instance_type: str) -> int:
    """Memory of ``instance_type`` in GiB; raises :class:`UnknownInstanceTypeError` when absent
    (the table lists memory for the GPU types, which the config's per-pod fit check needs)."""
    try:
        return int(table()["memory_gib"][instance_type])
    except KeyError:
        raise UnknownInstanceTypeError(instance_type) from None


def node_allocatable(instance_type: str) -> tuple[int, float, int]:
    """Upper bound of what one node of ``instance_type`` offers pods: millicores, MiB, GPUs (its vCPUs and
    memory from the table, less the EKS AMI's reserved share:
    :func:`~hybrid_ai_platform.contracts.node_reserved_cpu_milli`,
    :data:`~hybrid_ai_platform.contracts.NODE_RESERVED_MEMORY_MIB`).

    >>> node_allocatable("m7i.large")
    (1930, 7837, 0)
    """
    cores = vcpus(instance_type)
    return (
        cores * 1000 - node_reserved_cpu_milli(cores),
        memory_gib(instance_type) * 1024 - NODE_RESERVED_MEMORY_MIB,
        GPUS_PER_INSTANCE.get(instance_type, 0),
    )
