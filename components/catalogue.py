"""Facts the components share with the stack config and the CLI: the GPU catalogue, Kubernetes
quantities, the model server's SLO latency bounds, the rollout surge and the managed add-on names.

Dependency-free (standard library only), so the components validate their flat Args with the same
facts the stack config (:mod:`hybrid_ai_platform.config`) validates the stack files with,
without importing it. Issue 13 moves these to ``hybrid_ai_platform.contracts``; until then this
module is their one definition and ``config`` re-exports them under their old names.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from hybrid_ai_platform.contracts import GPU_FAMILIES, GPU_TYPE_BY_FAMILY, GPUS_PER_INSTANCE

EksAddonName = Literal[
    "vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "metrics-server", "amazon-cloudwatch-observability"
]
"""EKS managed add-ons the platform installs (the ``addon_name`` of ``aws.eks.Addon``)."""


LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
"""The retention periods CloudWatch Logs accepts."""

ROLLOUT_MAX_SURGE = 1
"""Extra pods a model's rolling update adds (``maxSurge`` of the Deployment's ``RollingUpdate``
strategy, with ``maxUnavailable: 0``): the Deployment in ``components/inference_service.py``
reads it from here, so the capacity check (``PlatformConfig.gpu_demand``) counts the same surge the rollout uses."""


def cpu_milli(quantity: str) -> int:
    """A Kubernetes CPU quantity (``2``, ``1.5``, ``500m``) in millicores."""
    if quantity.endswith("m"):
        return int(quantity[:-1])
    return math.ceil(float(quantity) * 1000)


MEMORY_QUANTITY = r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|[eE]\d+)?$"
"""A Kubernetes memory quantity: a number with a binary (``Ki``..``Ei``) or decimal (``k``..``E``)
suffix, an exponent (``4e9``) or none (bytes)
(https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/#meaning-of-memory)."""


def memory_mib(quantity: str) -> float:
    """A Kubernetes memory quantity (``512Mi``, ``8Gi``, ``4G``, ``4e9``, ``1073741824``) in MiB."""
    factors = {
        "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
        "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    }  # fmt: skip
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(.*)", quantity)
    if match is None:
        raise ValueError(f"'{quantity}' is not a memory quantity")
    number, suffix = float(match.group(1)), match.group(2)
    exponent = suffix[:1] in ("e", "E") and suffix[1:].isdigit()
    factor = 10 ** int(suffix[1:]) if exponent else factors.get(suffix, 1)
    return number * factor / 2**20


SLO_LATENCY_TARGETS_MS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
"""Latency SLO thresholds the model server counts slow requests for exactly: the whole-millisecond bounds
of its latency histogram (``container_src/inference_server/metrics.py`` ``LATENCY_BUCKETS``)."""


def gpus_per_node(instance_type: str) -> int:
    """NVIDIA GPUs on one node of ``instance_type`` (from :data:`GPUS_PER_INSTANCE`).

    >>> gpus_per_node("g6.12xlarge")
    4
    """
    return GPUS_PER_INSTANCE[instance_type]


def gpu_type(instance_type: str) -> str:
    """GPU type of ``instance_type``'s family (from :data:`GPU_TYPE_BY_FAMILY`), e.g. ``nvidia-l4``.

    >>> gpu_type("g6.xlarge")
    'nvidia-l4'
    """
    return GPU_TYPE_BY_FAMILY[instance_type.split(".")[0]]


def gpu_instance_types_problem(instance_types: list[str] | tuple[str, ...]) -> str | None:
    """Why ``instance_types`` cannot form one GPU node group, or ``None``: each must be a known GPU type of
    :data:`GPU_FAMILIES`, and all must have the same GPU count and GPU type (the autoscaler's scale-from-zero
    template and the ``k8s.amazonaws.com/accelerator`` label describe one shape)."""
    value = list(instance_types)
    if not value:
        return "lists no instance type; list at least one GPU instance type"
    bad = [t for t in value if t.split(".")[0] not in GPU_FAMILIES]
    if bad:
        return f"{bad} are not GPU instance types; use the families {', '.join(GPU_FAMILIES)}"
    unknown = [t for t in value if t not in GPUS_PER_INSTANCE]
    if unknown:
        return f"{unknown} have no GPU count in GPUS_PER_INSTANCE; use one of {sorted(GPUS_PER_INSTANCE)}"
    counts = {GPUS_PER_INSTANCE[t] for t in value}
    if len(counts) > 1:
        return f"{value} mix GPU counts {sorted(counts)}; put instance types with different counts in separate groups"
    gpu_types = sorted({gpu_type(t) for t in value})
    if len(gpu_types) > 1:
        return (
            f"{value} mix GPU types {gpu_types}; the group's k8s.amazonaws.com/accelerator label has one "
            "value, so put instance families with different GPUs in separate groups"
        )
    return None
