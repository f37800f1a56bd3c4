"""Facts shared by the components, the stack config, the policy pack and the workload code: one source.

This module is standard-library only and imports nothing else of the library, so the policy pack (which never
imports the components) and any consumer can read it cheaply. The workload code (``lambda_src/``,
``container_src/``) is deployed without the library and keeps its own constants; tests in
``tests/lambda_src`` and ``tests/container_src`` assert those equal the values here.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any, Literal

# Tags ------------------------------------------------------------------------------------------------------

MANAGED_BY = "pulumi/hybrid-ai-platform-blueprints"
"""Value of the ``managed-by`` tag on every taggable resource."""

REQUIRED_TAG_KEYS = ("environment", "owner", "cost-center", "data-classification", "managed-by")
"""Tag keys every taggable resource carries (exact case, AWS tag-policy semantics): the library sets them,
the stack config refuses them as extra tags and the ``tags-required`` policy checks them by default."""

PURPOSE_TAG = "purpose"
"""Tag key naming what a bucket holds (a :class:`BucketPurpose` value)."""


class BucketPurpose(StrEnum):
    """The ``purpose`` tag of each bucket the stack creates: the cost model maps it to a key of
    ``usage.s3_storage_gb`` and the ``s3-model-object-lock`` policy finds the model registry by it."""

    LANDING = "landing"
    FEATURES = "features"
    MODELS = "models"
    ACCESS_LOGS = "access-logs"


# Usage (the cost model's assumptions) ----------------------------------------------------------------------

USAGE_STORAGE_KEYS = ("landing", "features", "models", "logs")
"""Keys of ``usage.s3_storage_gb``."""

STORAGE_KEY_BY_PURPOSE: dict[str, str] = {
    BucketPurpose.LANDING: "landing",
    BucketPurpose.FEATURES: "features",
    BucketPurpose.MODELS: "models",
    BucketPurpose.ACCESS_LOGS: "logs",
    "logs": "logs",
}
"""Bucket ``purpose`` tag → key of ``usage.s3_storage_gb`` (``logs`` also accepted for hand-tagged log buckets)."""

USAGE_DEFAULT_FUNCTION_REQUESTS = 100_000
"""Invocations per month of a preprocessing function with no usage entry."""
USAGE_DEFAULT_FUNCTION_DURATION_MS = 2_000
"""Average billed duration of a preprocessing function with no usage entry."""
USAGE_DEFAULT_PLACEMENT_THRESHOLD_PERCENT = 20.0
"""``usage.placement_threshold_percent`` when unset: a placement more than this much costlier than the cheapest
is reported (plan, diff, pr-check and the ``placement-cost`` policy)."""
USAGE_DEFAULT_SQS_REQUESTS = 1_000_000
"""SQS API requests across the stack per month when none are given."""
USAGE_DEFAULT_S3_GB = 100
"""Stored GB of a bucket with no usage entry."""
USAGE_DEFAULT_NAT_GB = 100
"""GB through the NAT gateways per month when none are given."""
USAGE_MAX_NODE_HOURS = 744 * 100
"""Largest ``gpu_node_hours_per_month`` entry accepted (100 nodes for a 31-day month)."""

USAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Usage assumptions, same shape as the stack config's `usage` block. Defaults to none "
    "(the cost model's defaults).",
    "properties": {
        "functions": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "requests_per_month": {"type": "number", "minimum": 0},
                    "average_duration_ms": {"type": "number", "minimum": 1},
                    "peak_to_mean": {"type": "number", "minimum": 1},
                    "hourly_profile": {
                        "type": "array",
                        "items": {"type": "number", "minimum": 0},
                        "minItems": 24,
                        "maxItems": 24,
                    },
                },
                "additionalProperties": False,
            },
        },
        "sqs_requests_per_month": {"type": "number", "minimum": 0},
        "s3_storage_gb": {
            "type": "object",
            "properties": {k: {"type": "number", "minimum": 0} for k in USAGE_STORAGE_KEYS},
            "additionalProperties": False,
        },
        "gpu_node_hours_per_month": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}},
        "nat_data_processed_gb": {"type": "number", "minimum": 0},
        "cluster": {"type": "object", "description": "Placement advisor's cluster assumptions (docs/placement.md)."},
        "placement_threshold_percent": {"type": "number", "minimum": 0},
    },
    "additionalProperties": False,
}
"""JSON schema of the ``usage`` block as the policy pack takes it (the stack config's ``UsageConfig`` is the
typed form of the same shape; a test checks both accept the same keys)."""

# GPU catalogue ---------------------------------------------------------------------------------------------

GPU_FAMILIES = ("g4dn", "g5", "g6", "g6e", "p4d", "p5")
"""Instance families with NVIDIA GPUs the EKS NVIDIA AMIs support: the families a GPU node group may use."""

GPUS_PER_INSTANCE: dict[str, int] = {
    "g4dn.xlarge": 1, "g4dn.2xlarge": 1, "g4dn.4xlarge": 1, "g4dn.8xlarge": 1, "g4dn.16xlarge": 1,
    "g4dn.12xlarge": 4, "g4dn.metal": 8,
    "g5.xlarge": 1, "g5.2xlarge": 1, "g5.4xlarge": 1, "g5.8xlarge": 1, "g5.16xlarge": 1,
    "g5.12xlarge": 4, "g5.24xlarge": 4, "g5.48xlarge": 8,
    "g6.xlarge": 1, "g6.2xlarge": 1, "g6.4xlarge": 1, "g6.8xlarge": 1, "g6.16xlarge": 1,
    "g6.12xlarge": 4, "g6.24xlarge": 4, "g6.48xlarge": 8,
    "g6e.xlarge": 1, "g6e.2xlarge": 1, "g6e.4xlarge": 1, "g6e.8xlarge": 1, "g6e.16xlarge": 1,
    "g6e.12xlarge": 4, "g6e.24xlarge": 4, "g6e.48xlarge": 8,
    "p4d.24xlarge": 8,
    "p5.48xlarge": 8,
}  # fmt: skip
"""NVIDIA GPUs per instance type (https://aws.amazon.com/ec2/instance-types/#Accelerated_Computing): the
cluster autoscaler's scale-from-zero node template
(``k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu``), the capacity check and the cost
model's GPU totals all read it. Exactly the types of :data:`GPU_FAMILIES` (each also needs its vCPUs and
memory in ``components/data/instance_types.json``)."""

GPU_TYPE_BY_FAMILY: dict[str, str] = {
    "g4dn": "nvidia-tesla-t4",
    "g5": "nvidia-a10g",
    "g6": "nvidia-l4",
    "g6e": "nvidia-l40s",
    "p4d": "nvidia-tesla-a100",
    "p5": "nvidia-h100",
}
"""GPU type of each instance family, the value of the ``k8s.amazonaws.com/accelerator`` node
label. cluster-autoscaler's AWS provider treats a node carrying that label as a GPU node and
waits for the device plugin to advertise its GPUs instead of scaling out again
(https://github.com/kubernetes/autoscaler/blob/master/cluster-autoscaler/cloudprovider/aws/README.md,
"Special note on GPU instances"). The names follow the provider's list of GPU types
(``cloudprovider/aws/aws_cloud_provider.go``: T4, A10G, L4, L40S, A100); H100 is not in that
list, which only matters for ``--gpu-total`` limits."""


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


def gpu_instance_types_problem(instance_types: Sequence[str]) -> str | None:
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


# GPU scheduling --------------------------------------------------------------------------------------------

GPU_RESOURCE = "nvidia.com/gpu"
"""The extended resource the NVIDIA device plugin advertises (and pods request)."""
GPU_TAINT_KEY = "nvidia.com/gpu"
"""Taint key on every GPU node: only pods tolerating it (inference, batch, device plugin) land there."""
GPU_TAINT_VALUE = "true"
"""Value of the GPU taint."""
GPU_TAINT_EFFECT = "NoSchedule"
"""Effect of the GPU taint, as Kubernetes spells it (the EKS API's spelling is ``NO_SCHEDULE``)."""
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"
"""Label (value ``true``) on every GPU node; inference pods and the device plugin select on it."""
DEVICE_PLUGIN_LABEL = "hybrid-ai/gpu-device-plugin"
"""``helm`` on AL2023 GPU nodes (the Helm device plugin runs there), ``bottlerocket`` on
Bottlerocket nodes (the OS ships its own device plugin)."""
NODE_POOL_LABEL = "hybrid-ai/node-pool"
"""Name of the node group a node belongs to."""
ACCELERATOR_LABEL = "k8s.amazonaws.com/accelerator"
"""GPU type of the node (:data:`GPU_TYPE_BY_FAMILY`)."""

# Kubernetes quantities and nodes ---------------------------------------------------------------------------


def cpu_milli(quantity: str) -> int:
    """A Kubernetes CPU quantity (``2``, ``1.5``, ``500m``) in millicores.

    >>> cpu_milli("1.5"), cpu_milli("500m")
    (1500, 500)
    """
    if quantity.endswith("m"):
        return int(quantity[:-1])
    return math.ceil(float(quantity) * 1000)


MEMORY_QUANTITY = r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|[eE]\d+)?$"
"""A Kubernetes memory quantity: a number with a binary (``Ki``..``Ei``) or decimal (``k``..``E``)
suffix, an exponent (``4e9``) or none (bytes)
(https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/#meaning-of-memory)."""


def memory_mib(quantity: str) -> float:
    """A Kubernetes memory quantity (``512Mi``, ``8Gi``, ``4G``, ``4e9``, ``1073741824``) in MiB.

    >>> memory_mib("8Gi"), memory_mib("1048576")
    (8192.0, 1.0)
    """
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


NODE_RESERVED_MEMORY_MIB = 255 + 100
"""Memory a node never offers to pods, at the least: the EKS AMI's base ``kube-reserved`` memory
(255 MiB, plus 11 MiB per schedulable pod, not counted here) and the kubelet's hard eviction
threshold (``memory.available<100Mi``). A lower bound, so the fit checks only refuse what
can never fit; DaemonSets (VPC CNI, kube-proxy, Pod Identity agent, device plugin) need a little
more, so leave headroom."""


def node_reserved_cpu_milli(vcpus: int) -> int:
    """The EKS AMI's ``kube-reserved`` CPU: 6% of the first core, 1% of the second, 0.5% of the
    third and fourth, 0.25% of every further core (in millicores).

    >>> node_reserved_cpu_milli(2), node_reserved_cpu_milli(8)
    (70, 90)
    """
    tiers = ((1, 60), (1, 10), (2, 5))
    reserved, left = 0, vcpus
    for cores, per_core in tiers:
        used = min(left, cores)
        reserved += used * per_core
        left -= used
    return reserved + math.ceil(left * 2.5)


ROLLOUT_MAX_SURGE = 1
"""Extra pods a model's rolling update adds (``maxSurge`` of the Deployment's ``RollingUpdate``
strategy, with ``maxUnavailable: 0``): the Deployment in ``components/inference_service.py``
reads it from here, so the capacity check (``PlatformConfig.gpu_demand``) counts the same surge the rollout uses."""

# EKS and CloudWatch ----------------------------------------------------------------------------------------

EksAddonName = Literal[
    "vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "metrics-server", "amazon-cloudwatch-observability"
]
"""EKS managed add-ons the platform installs (the ``addon_name`` of ``aws.eks.Addon``)."""

LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
"""The retention periods CloudWatch Logs accepts."""

SLO_LATENCY_TARGETS_MS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
"""Latency SLO thresholds the model server counts slow requests for exactly: the whole-millisecond bounds
of its latency histogram (``container_src/inference_server/metrics.py`` ``LATENCY_BUCKETS``)."""

# Preprocessing placement -----------------------------------------------------------------------------------

LAMBDA_MB_PER_VCPU = 1769
"""Lambda allocates one vCPU per 1,769 MB of memory
(https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html)."""
PREPROCESSING_THROUGHPUT_BYTES_PER_VCPU_SECOND = 10_000_000
"""Default throughput of the preprocessing code: landing bytes processed per second on one vCPU (10 MB/s).
Measured by ``bench/bench_large_object.py`` (its "per CPU-second" line: object bytes over the user + system CPU
time of the processing process, the real ``process_object`` streaming a transactions CSV from S3 and writing
Parquet back): 12.3 MB per CPU-second for a 257 MiB CSV on 2026-11-28 (AMD EPYC, 2 vCPUs shared with other
jobs, Python 3.11, moto S3), rounded down to 10 MB/s; the threshold derivation then applies its own safety
factor (:data:`SIZE_THRESHOLD_SAFETY_FACTOR`). Measure yours with the same benchmark."""
SIZE_THRESHOLD_SAFETY_FACTOR = 4
"""``placement: auto`` sends an object to Lambda only if it would take at most a quarter of the timeout and a
quarter of the memory."""
EVENTBRIDGE_NUMERIC_MAX = 5_000_000_000
"""EventBridge documents numeric matching for values between -5.0e9 and +5.0e9 inclusive
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html#filtering-numeric-matching):
a size threshold must stay below it (objects above it are outside the documented range; docs/placement.md)."""


def derived_size_threshold_bytes(memory_mb: int, timeout_seconds: int, throughput_bytes_per_vcpu_second: int) -> int:
    """``placement: auto``'s default size threshold: ``min(throughput x vCPU x timeout, memory) / 4``, with
    vCPU = ``memory_mb`` / :data:`LAMBDA_MB_PER_VCPU` (Lambda's CPU share) and memory in bytes (MiB x 2^20),
    kept below :data:`EVENTBRIDGE_NUMERIC_MAX`.

    >>> derived_size_threshold_bytes(1024, 120, 20_000_000) == 2**30 // 4
    True
    """
    by_time = throughput_bytes_per_vcpu_second * memory_mb / LAMBDA_MB_PER_VCPU * timeout_seconds
    by_memory = memory_mb * 2**20
    return max(1, min(int(min(by_time, by_memory) / SIZE_THRESHOLD_SAFETY_FACTOR), EVENTBRIDGE_NUMERIC_MAX - 1))


# Secrets ---------------------------------------------------------------------------------------------------

SECRET_NAME = re.compile(r"(?i)(secret|password|passwd|token|api[_-]?key|private[_-]?key|credential)")
"""Names that look like they hold a secret (refused for plain environment variables and tags)."""
SECRET_VALUE = re.compile(r"(AKIA|ASIA)[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----|ghp_[A-Za-z0-9]{36}|xox[abp]-")
"""Values that look like credentials: AWS access key ids, PEM private keys, GitHub and Slack tokens."""

# Ports -----------------------------------------------------------------------------------------------------

SERVING_PORT = 8080
"""The inference server's one HTTP port: the V2 REST API, the health probes and ``/metrics``."""
METRICS_PATH = "/metrics"
"""Path of the server's Prometheus metrics, on :data:`SERVING_PORT`."""
LIVENESS_PATH = "/v2/health/live"
READINESS_PATH = "/v2/health/ready"
EMF_AGENT_PORT = 25888
"""The CloudWatch agent's default EMF listener (tcp:25888:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Generation_CloudWatch_Agent.html)."""
POD_IDENTITY_AGENT_PORT = 80
"""Port of the EKS Pod Identity agent (169.254.170.23) that serves credentials."""

# Workload environment variables ----------------------------------------------------------------------------

PREPROCESSING_ENV_VARS = (
    "LANDING_BUCKET",
    "LANDING_PREFIX",
    "FEATURE_BUCKET",
    "FEATURE_SET",
    "FEATURE_PREFIX",
    "QUARANTINE_PREFIX",
    "MANIFEST_PREFIX",
    "CODE_VERSION",
)
"""Variables the preprocessing function's handler requires (``lambda_src/preprocessing/config.py``)."""
PREPROCESSING_SWEEP_QUEUE_VAR = "SWEEP_QUEUE_URL"
"""Set only on functions with a sweep schedule."""
POWERTOOLS_ENV_VARS = ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL")
"""Powertools settings the preprocessing function gets (service = function name, metrics namespace)."""

SERVER_ENV_VARS = (
    "MODEL_REPOSITORY",
    "MODEL_NAME",
    "MODEL_VERSION",
    "PORT",
    "MAX_BATCH_SIZE",
    "MAX_QUEUE_DELAY_MS",
    "MODEL_CACHE_DIR",
    "GRACEFUL_SHUTDOWN_TIMEOUT_S",
)
"""Server variables the Deployment and the batch CronJob set (``container_src/inference_server/config.py``)."""
METRICS_ENV_VARS = ("METRICS_CLUSTER_NAME", "AWS_EMF_AGENT_ENDPOINT")
"""Where the server and batch mode send EMF metrics (``container_src/inference_server/drift.py``)."""
SLO_LATENCY_VAR = "SLO_LATENCY_TARGET_MS"
"""The serving latency target the server counts slow requests against."""
BATCH_ENV_VARS = (
    "FEATURE_BUCKET",
    "FEATURE_SET",
    "INPUT_PREFIX",
    "OUTPUT_PREFIX",
    "LOOKBACK_DAYS",
    "BATCH_COMPLETIONS",
    "BATCH_JOB_NAME",
)
"""Batch-scoring variables the CronJob sets (``container_src/inference_server/batch/``; Kubernetes adds
``JOB_COMPLETION_INDEX`` to each pod of the Indexed Job)."""

# Model repository ------------------------------------------------------------------------------------------

MODEL_FILE = "model.onnx"
"""The model file of a version directory."""
SIGNATURE_FILE = "signature.json"
"""The model's input contract, beside :data:`MODEL_FILE`."""
DEFAULT_MODEL_PREFIX = "models"
"""Default key prefix of the model repository in the registry bucket."""


def model_key(prefix: str, model: str, version: str, filename: str = MODEL_FILE) -> str:
    """Object key of a model file: ``<prefix>/<model>/<version>/<filename>`` (Triton model-repository layout;
    an empty prefix is left out).

    >>> model_key("models", "fraud", "3")
    'models/fraud/3/model.onnx'
    """
    return "/".join(part for part in (prefix.strip("/"), model, version, filename) if part)


# The whole internet ----------------------------------------------------------------------------------------

NOT_INTERNET_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
)
"""IPv4 ranges that are not the public internet (IANA special-purpose registry, RFC 6890,
https://www.iana.org/assignments/iana-ipv4-special-registry/): a union that covers everything else covers the
internet."""

INTERNET_V6 = ipaddress.IPv6Network("2000::/3")
"""The IPv6 global unicast space (RFC 4291 section 2.4): the IPv6 internet."""

IPv4 = ipaddress.IPv4Network
IPv6 = ipaddress.IPv6Network


def parse_cidrs(cidrs: Iterable[str]) -> tuple[list[IPv4], list[IPv6], list[str]]:
    """Split CIDR strings into IPv4 and IPv6 networks (host bits ignored, surrounding blanks stripped);
    unparsable ones are returned apart."""
    v4: list[IPv4] = []
    v6: list[IPv6] = []
    bad: list[str] = []
    for text in cidrs:
        try:
            network = ipaddress.ip_network(str(text).strip(), strict=False)
        except ValueError:
            bad.append(str(text))
            continue
        if isinstance(network, IPv4):
            v4.append(network)
        else:
            v6.append(network)
    return v4, v6, bad


def _uncovered(target: IPv4 | IPv6, union: list[IPv4] | list[IPv6]) -> bool:
    remaining: list[Any] = [target]
    for network in union:
        next_remaining: list[Any] = []
        for piece in remaining:
            if piece.subnet_of(network):
                continue
            if network.subnet_of(piece):
                next_remaining.extend(piece.address_exclude(network))
            else:
                next_remaining.append(piece)
        remaining = next_remaining
        if not remaining:
            return False
    return bool(remaining)


def world_open(cidrs: Iterable[str]) -> list[str]:
    """Which internets (``IPv4``, ``IPv6``) the union of ``cidrs`` covers; empty when neither.

    The union counts, not each CIDR alone (``0.0.0.0/1`` + ``128.0.0.0/1`` is the whole IPv4 internet), and
    ranges that are not the internet need not be listed: a union covering every public IPv4 address
    (:data:`NOT_INTERNET_V4` aside) or the whole IPv6 global unicast space (:data:`INTERNET_V6`) is open.

    >>> world_open(["0.0.0.0/1", "128.0.0.0/1"])
    ['IPv4']
    >>> world_open(["10.0.0.0/8", "2001:db8::/32"])
    []
    """
    v4, v6, _ = parse_cidrs(cidrs)
    found = []
    if v4:
        union4 = list(ipaddress.collapse_addresses([*v4, *NOT_INTERNET_V4]))
        if not _uncovered(ipaddress.IPv4Network("0.0.0.0/0"), union4):
            found.append("IPv4")
    if v6 and not _uncovered(INTERNET_V6, list(ipaddress.collapse_addresses(v6))):
        found.append("IPv6")
    return found


KMS_KEY_ARN_PATTERN = r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/([0-9a-f-]{36}|mrk-[0-9a-f]{32})"
"""A KMS key ARN: a single-Region key id (a UUID) or a multi-Region one (``mrk-`` and 32 hex digits,
https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/kms/aws.sdk.kotlin.services.kms.model/-replicate-key-request/key-id.html).
Lambda's ``KMSKeyArn`` and CloudWatch Logs' ``kmsKeyId`` take the ARN, not an alias or a bare key id."""

VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT = 6
"""A preprocessing queue's visibility timeout is this many function timeouts: AWS's guidance for an SQS event
source (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html), kept for the cluster worker, which
derives its batch budget from it, and the KEDA cooldown."""
