"""Typed platform configuration, validated once before any resource is registered.

The stack files (``stacks/Pulumi.<env>.yaml``) hold one key per section under the project's
namespace (``hybrid-ai-platform:environment``, ``hybrid-ai-platform:tags``, ...), plus the AWS
provider's ``aws:region``. :func:`load_platform_config` reads them through ``pulumi.Config`` and
validates them against :class:`PlatformConfig`. Every problem is collected into one
:class:`ConfigError` that names each bad field as a dotted path, with the value given and what
is allowed, for example::

    preprocessing.functions[0].timeout_seconds: 1200 is above the Lambda maximum of 900

Unknown keys are rejected (typos are caught), and every default is the secure one.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import itertools
import json
import math
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

import pulumi
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core.core_schema import ValidationInfo

from . import aws_rules, instance_types

PROJECT_NAMESPACE = "hybrid-ai-platform"
"""The Pulumi project name, and so the namespace of the stack config keys."""

MANAGED_BY = "pulumi/hybrid-ai-platform-blueprints"
"""Value of the ``managed-by`` tag on every taggable resource."""

AWS_REGION_PATTERN = (
    r"^(us|eu|ap|sa|ca|me|af|il|mx)(-gov)?-(north|south|east|west|central|northeast|southeast|northwest|southwest)-\d$"
)
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

_SECRET_NAME = re.compile(r"(?i)(secret|password|passwd|token|api[_-]?key|private[_-]?key|credential)")
_SECRET_VALUE = re.compile(r"(AKIA|ASIA)[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----|ghp_[A-Za-z0-9]{36}|xox[abp]-")


class Environment(StrEnum):
    """The environments this library ships stacks for (``environment`` accepts other names too)."""

    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


class ConfigError(pulumi.RunError):
    """Stack configuration that does not validate.

    Subclasses :class:`pulumi.RunError`, so ``pulumi up`` prints the message without a traceback.
    ``problems`` holds one line per bad field: ``<dotted.path>: <value> <what is allowed>``.
    """

    def __init__(self, stack: str, problems: list[str]) -> None:
        self.stack = stack
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"stack '{stack}' has {len(problems)} invalid configuration value(s):\n{lines}\n"
            f"Fix them in stacks/Pulumi.{stack}.yaml (keys under '{PROJECT_NAMESPACE}:')."
        )


class _Model(BaseModel):
    """Base: unknown keys are errors, values are immutable after validation, and a boolean is
    never taken for a number (``true`` is not ``1``) nor a number for a boolean."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is not None:
            _check_bool_kind(field.annotation, value)
        return value


def _check_bool_kind(annotation: Any, value: Any) -> None:
    """Raise when ``value`` is a boolean where ``annotation`` wants a number (or the reverse),
    looking into ``list[...]``/``dict[..., ...]`` items and ``X | None``."""
    import types
    import typing

    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is Annotated:
        _check_bool_kind(args[0], value)
    elif origin in (typing.Union, types.UnionType):
        if len(args) == 1:
            _check_bool_kind(args[0], value)
    elif origin is list and isinstance(value, list) and args:
        for item in value:
            _check_bool_kind(args[0], item)
    elif origin is dict and isinstance(value, dict) and len(args) == 2:
        for item in value.values():
            _check_bool_kind(args[1], item)
    elif annotation in (int, float) and isinstance(value, bool):
        raise ValueError(f"{json.dumps(value)} is a boolean; give a number")
    elif annotation is bool and not isinstance(value, bool) and value is not None:
        raise ValueError(f"{json.dumps(value)} is not a boolean; write true or false")


Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")]
"""A short lowercase DNS-label name, 3-32 characters."""
FeatureSetName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,62}$")]


def _check_role_arn(value: str) -> str:
    path, _, role_name = value.partition(":role/")[2].rpartition("/")
    if not 1 <= len(role_name) <= 64:
        raise ValueError(
            f"role name '{role_name}' has {len(role_name)} characters; IAM allows 1-64 "
            "(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html)"
        )
    if path and (len(path) + 2 > 512 or "//" in f"/{path}/"):
        raise ValueError("the role path must be 1-512 characters of '/'-separated names")
    return value


RoleArn = Annotated[
    str, Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$"), AfterValidator(_check_role_arn)
]
KmsKeyArn = Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]{36}$")]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$", max_length=254)]


def _unique_ci(value: list[str]) -> list[str]:
    """Entries unique regardless of case (an e-mail address or ARN listed twice is one subscriber)."""
    seen: set[str] = set()
    repeated = sorted({v for v in value if v.lower() in seen or seen.add(v.lower())})  # type: ignore[func-returns-value]
    if repeated:
        raise ValueError(f"entries must be unique; repeated: {repeated}")
    return value


def _check_retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        raise ValueError(f"{value} is not a CloudWatch Logs retention period; use one of {LOG_RETENTION_DAYS}")
    return value


LogRetentionDays = Annotated[int, AfterValidator(_check_retention)]
"""Days a CloudWatch log group keeps events: one of :data:`LOG_RETENTION_DAYS`."""


def _check_sizes(min_size: int, desired_size: int, max_size: int) -> None:
    if not min_size <= desired_size <= max_size:
        raise ValueError(
            f"sizes must satisfy min_size <= desired_size <= max_size; got {min_size}, {desired_size}, {max_size}"
        )


def _check_cidr(value: str, ipv4_only: bool = False) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"is not a valid CIDR block ({exc})") from None
    if ipv4_only and network.version != 4:
        raise ValueError(f"'{value}' is an IPv6 CIDR; this field takes IPv4 CIDRs only")
    return value


def _check_not_everywhere(value: list[str], what: str) -> None:
    """Refuse CIDR lists that together admit every address (``0.0.0.0/1`` + ``128.0.0.0/1`` is ``0.0.0.0/0``)."""
    for version in (4, 6):
        networks = [n for n in (ipaddress.ip_network(c) for c in value) if n.version == version]
        merged = list(ipaddress.collapse_addresses(networks))  # type: ignore[type-var]
        if any(n.prefixlen == 0 for n in merged):
            everything = "0.0.0.0/0" if version == 4 else "::/0"
            raise ValueError(
                f"{[str(n) for n in networks]} together cover {everything}, which opens {what} to every address; "
                "list your own CIDRs"
            )


class TagsConfig(_Model):
    """The stack's required cost-allocation and governance tags."""

    owner: str = Field(min_length=1, max_length=256)
    """Team or person accountable for the stack (tag ``owner``). Required."""
    cost_center: str = Field(min_length=1, max_length=256)
    """Cost centre billed for the stack (tag ``cost-center``). Required."""
    data_classification: Literal["public", "internal", "confidential", "restricted"] = "confidential"
    """Highest classification of data the stack holds (tag ``data-classification``).
    Defaults to ``confidential``, the safe assumption for training and feature data."""
    extra: dict[str, str] = Field(default_factory=dict)
    """Additional tags added to every taggable resource. Defaults to none. Keys may not start
    with ``aws:`` nor replace a required tag."""

    @field_validator("owner", "cost_center")
    @classmethod
    def _tag_value(cls, value: str) -> str:
        problem = aws_rules.tag_problem("tag", value)
        if problem:
            raise ValueError(problem.replace("tag 'tag'", "the tag value"))
        return value

    @field_validator("extra")
    @classmethod
    def _extra_tags(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = {"environment", "owner", "cost-center", "data-classification", "managed-by"}
        problems = []
        for key, tag_value in value.items():
            problem = aws_rules.tag_problem(key, tag_value)
            if problem:
                problems.append(problem)
            elif key in reserved:
                problems.append(f"tag key '{key}' is set by the library; set it through its own field")
        limit = aws_rules.MAX_TAGS_PER_RESOURCE - aws_rules.LIBRARY_TAGS_PER_RESOURCE
        if len(value) > limit:
            problems.append(
                f"{len(value)} extra tags; AWS allows {aws_rules.MAX_TAGS_PER_RESOURCE} tags per resource and the "
                f"library adds up to {aws_rules.LIBRARY_TAGS_PER_RESOURCE}, so at most {limit} extra tags fit"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return value


class EncryptionConfig(_Model):
    """The stack's customer-managed KMS key."""

    key_arn: KmsKeyArn | None = None
    """Bring your own key: the ARN of an existing symmetric KMS key in the stack's region.
    Defaults to none, which creates a key for the stack with rotation on."""
    deletion_window_days: int = Field(default=30, ge=7, le=30)
    """Waiting period before a created key is deleted. Defaults to 30 days (the maximum)."""
    rotation_period_days: int = Field(default=365, ge=90, le=2560)
    """Automatic rotation period of a created key. Defaults to 365 days."""


class ModelRegistryConfig(_Model):
    """Object Lock and layout of the model-registry bucket."""

    prefix: str = Field(default="models", pattern=r"^[a-z0-9][a-z0-9-_/]*[a-z0-9]$")
    """Key prefix of the Triton-style model repository
    (``<prefix>/<model>/<version>/model.onnx``). Defaults to ``models``."""
    object_lock_mode: Literal["GOVERNANCE", "COMPLIANCE"] | None = None
    """Default Object Lock retention mode. Defaults to ``COMPLIANCE`` in prod (nobody, root
    included, can delete a published model version before retention ends) and ``GOVERNANCE``
    elsewhere (privileged users can override)."""
    retention_days: int = Field(default=30, ge=1, le=36500)
    """Default Object Lock retention of each published object version. Defaults to 30 days."""


class StorageConfig(_Model):
    """Controls shared by the landing, feature-store and model-registry buckets."""

    noncurrent_version_expiration_days: int = Field(default=90, ge=1, le=3650)
    """Days after which a noncurrent object version is expired. Defaults to 90."""
    abort_incomplete_multipart_upload_days: int = Field(default=7, ge=1, le=365)
    """Days after which an unfinished multipart upload is aborted. Defaults to 7."""
    access_log_retention_days: int = Field(default=365, ge=1, le=3650)
    """Days server-access-log objects are kept in the log bucket. Defaults to 365."""
    force_destroy: bool = False
    """Named opt-out: let ``pulumi destroy`` delete non-empty buckets. Defaults to false, so
    data is never deleted by an infrastructure change. Not allowed in prod."""
    model_registry: ModelRegistryConfig = Field(default_factory=ModelRegistryConfig)
    """Model-registry layout and Object Lock. Defaults as documented on its fields."""


PREPROCESSING_THROUGHPUT_BYTES_PER_VCPU_SECOND = 20_000_000
"""Default measured throughput of the preprocessing code: landing bytes processed per second on one vCPU.
Measure yours with ``bench/bench_lambda.py`` (rows per second times bytes per row)."""
SIZE_THRESHOLD_SAFETY_FACTOR = 4
"""``placement: auto`` sends an object to Lambda only if it would take at most a quarter of the timeout and a
quarter of the memory."""
LAMBDA_MB_PER_VCPU = 1769
"""Lambda allocates one vCPU per 1,769 MB of memory
(https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html)."""
EVENTBRIDGE_NUMERIC_MAX = 5_000_000_000
"""EventBridge numeric matching compares numbers up to 5.0e9; a size threshold must stay below it."""


class PreprocessingWorkerConfig(_Model):
    """The cluster path of a preprocessing function: the worker image and where its pods run."""

    image_tag: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    """Pinned, immutable tag of the worker image (``lambda_src/Dockerfile.worker``) in the function's ECR
    repository ``<project>-<stack>/<name>-worker``. Required."""
    image: str | None = Field(
        default=None, pattern=r"^[a-z0-9.-]+(:\d+)?/[a-z0-9._/-]+(:[A-Za-z0-9_.-]+|@sha256:[0-9a-f]{64})$"
    )
    """Full image reference override (``registry/repo:tag`` or ``@sha256:``). Defaults to the created ECR
    repository at ``image_tag``."""
    capacity: Literal["spot", "system"] = "spot"
    """Where the worker pods run. Defaults to ``spot``: a small spot CPU node group created for the
    preprocessing workers (scaled from zero by the cluster autoscaler). ``system`` runs them on the system
    node group instead (no extra node group; they then compete with the add-ons for its capacity)."""


class PreprocessingFunctionConfig(_Model):
    """One preprocessing function: its trigger, queue, limits and feature set."""

    name: Name
    """Short name; children are named ``<stack>-<name>-...``. Required."""
    feature_set: FeatureSetName
    """Feature set the function computes; outputs go to ``s3://<feature-store>/<feature_set>/``. Required."""
    landing_prefix: str = Field(pattern=r"^[A-Za-z0-9!_.*'()-][A-Za-z0-9!_.*'()/-]*/$")
    """Landing-bucket key prefix that triggers the function; must end with ``/``. Required."""
    architecture: Literal["arm64", "x86_64"] = "arm64"
    """Lambda instruction set. Defaults to ``arm64`` (Graviton, about 20% cheaper per GB-second)."""
    runtime: Literal["python3.12", "python3.13"] = "python3.12"
    """Lambda runtime. Defaults to ``python3.12``, which the packaged wheels target."""
    memory_mb: int = Field(default=1024, ge=128, le=10240)
    """Memory in MB (also scales CPU). Defaults to 1024."""
    timeout_seconds: int = Field(default=120, ge=1)
    """Function timeout. Defaults to 120 s. The queue's visibility timeout is set to six times this."""
    reserved_concurrency: int = Field(default=10, ge=1, le=1000)
    """Reserved concurrency: the most instances that can run at once, reserved out of the
    account's pool. Defaults to 10."""
    maximum_concurrency: int = Field(default=5, ge=2, le=1000)
    """Event-source-mapping maximum concurrency, so a burst cannot starve other functions.
    Defaults to 5; must not exceed ``reserved_concurrency``."""
    batch_size: int = Field(default=10, ge=1, le=10000)
    """SQS messages per invocation. Defaults to 10; above 10 needs a batching window."""
    batching_window_seconds: int = Field(default=0, ge=0, le=300)
    """Maximum batching window. Defaults to 0 (invoke as soon as messages arrive)."""
    max_receive_count: int = Field(default=5, ge=1, le=1000)
    """Receives before a message moves to the dead-letter queue. Defaults to 5."""
    message_retention_seconds: int = Field(default=345600, ge=60, le=1209600)
    """Queue retention. Defaults to 4 days; the dead-letter queue keeps messages 14 days."""
    log_retention_days: LogRetentionDays = 30
    """CloudWatch Logs retention of the function's log group. Defaults to 30 days."""
    schedule: str | None = None
    """Optional EventBridge schedule (``rate(...)`` or ``cron(...)``, UTC). Each time it fires, the
    function sweeps: it enqueues every landing object under ``landing_prefix`` last modified on the
    previous UTC day, and processes each like an S3 event (objects already processed are skipped).
    Defaults to none (only S3 events trigger the function)."""
    terminal: bool = False
    """The feature set is consumed outside this stack (Athena, a feature store, another account), so
    no batch job here needs to read it. Defaults to false: ``blueprint plan`` reports a feature set
    that no ``inference.batch_jobs`` entry reads as an advisory finding (BP-SYS-006); true silences it."""
    environment: dict[str, str] = Field(default_factory=dict)
    """Extra, non-secret environment variables. Defaults to none. Secret-looking names or
    values are rejected: use Secrets Manager or SSM Parameter Store instead."""
    placement: Literal["lambda", "cluster", "auto"] = "lambda"
    """Where the function's code runs. Defaults to ``lambda``. ``cluster`` runs the same code as a worker
    Deployment on the EKS cluster consuming the function's queue, scaled from zero on queue depth by KEDA (no Lambda
    function or event source mapping); ``auto`` keeps both paths and splits the landing events by object size:
    objects up to ``size_threshold_bytes`` go to Lambda, larger ones to the cluster (docs/placement.md).
    ``cluster`` and ``auto`` need ``worker``."""
    size_threshold_bytes: int | None = Field(default=None, ge=1, lt=EVENTBRIDGE_NUMERIC_MAX)
    """``placement: auto`` only: the largest object (in bytes, S3's ``detail.object.size``) sent to Lambda.
    Defaults to the derived threshold: the bytes the function processes in a quarter of its timeout at
    ``throughput_bytes_per_vcpu_second`` on its share of vCPU (``memory_mb`` / 1769), and at most a quarter
    of its memory (:meth:`effective_size_threshold_bytes`)."""
    throughput_bytes_per_vcpu_second: int = Field(default=PREPROCESSING_THROUGHPUT_BYTES_PER_VCPU_SECOND, ge=1)
    """Measured throughput of the function's code, landing bytes per second on one vCPU, used to derive
    the default ``size_threshold_bytes``. Defaults to 20,000,000 (20 MB/s); measure with
    ``bench/bench_lambda.py``."""
    max_replicas: int = Field(default=5, ge=1, le=100)
    """Cluster path: the most worker pods KEDA scales to (the counterpart of ``maximum_concurrency``).
    Defaults to 5."""
    worker: PreprocessingWorkerConfig | None = None
    """The cluster worker's image and capacity. Defaults to none; required with ``placement`` ``cluster``
    or ``auto``."""

    def effective_size_threshold_bytes(self) -> int:
        """``size_threshold_bytes``, or the derived default: ``min(throughput x vCPU x timeout, memory) / 4``,
        with vCPU = ``memory_mb`` / 1769 (Lambda's CPU share), memory in bytes (MiB x 2^20)."""
        if self.size_threshold_bytes is not None:
            return self.size_threshold_bytes
        by_time = self.throughput_bytes_per_vcpu_second * self.memory_mb / LAMBDA_MB_PER_VCPU * self.timeout_seconds
        by_memory = self.memory_mb * 2**20
        return max(1, min(int(min(by_time, by_memory) / SIZE_THRESHOLD_SAFETY_FACTOR), EVENTBRIDGE_NUMERIC_MAX - 1))

    @field_validator("timeout_seconds")
    @classmethod
    def _timeout(cls, value: int) -> int:
        if value > 900:
            raise ValueError(f"{value} is above the Lambda maximum of 900")
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        problem = aws_rules.eventbridge_schedule_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: dict[str, str]) -> dict[str, str]:
        for key, env_value in value.items():
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", key):
                raise ValueError(f"'{key}' is not a valid environment variable name")
            if key.startswith("AWS_") or _SECRET_NAME.search(key) or _SECRET_VALUE.search(env_value):
                raise ValueError(
                    f"'{key}' looks like a secret or a reserved AWS variable; keep secrets in Secrets Manager "
                    "and pass the secret's name instead"
                )
        return value

    @model_validator(mode="after")
    def _limits(self) -> PreprocessingFunctionConfig:
        if self.maximum_concurrency > self.reserved_concurrency:
            raise ValueError(
                f"maximum_concurrency {self.maximum_concurrency} is above reserved_concurrency "
                f"{self.reserved_concurrency}; the event source would be throttled"
            )
        if self.batch_size > 10 and self.batching_window_seconds < 1:
            raise ValueError(f"batch_size {self.batch_size} above 10 needs batching_window_seconds >= 1")
        if self.timeout_seconds * 6 > 43200:
            raise ValueError(
                f"timeout_seconds {self.timeout_seconds} gives a visibility timeout above the SQS maximum of 43200"
            )
        if self.placement != "lambda" and self.worker is None:
            raise ValueError(
                f"placement '{self.placement}' needs worker (at least worker.image_tag: the pinned tag of the "
                "lambda_src/Dockerfile.worker image); set it, or use placement: lambda"
            )
        if self.size_threshold_bytes is not None and self.placement != "auto":
            raise ValueError(
                f"size_threshold_bytes only applies to placement: auto (placement is '{self.placement}'); remove it"
            )
        if self.placement == "auto" and self.schedule is not None:
            raise ValueError(
                "schedule cannot be combined with placement: auto (the sweep enqueues on one queue, it cannot split "
                "by size); use placement: cluster or lambda, or remove schedule"
            )
        return self


DEFAULT_FRESHNESS_WINDOW_MINUTES = 1440
"""Freshness window of a feature set the config does not list: one day."""


def _check_freshness_window(value: int | None) -> int | None:
    if value is not None and (not 5 <= value <= 1440 or value % 5):
        raise ValueError(
            f"{value} is not a freshness window; use a multiple of 5 minutes from 5 to 1440 (CloudWatch evaluates "
            "alarms over at most one day)"
        )
    return value


FreshnessWindow = Annotated[int | None, AfterValidator(_check_freshness_window)]


class PreprocessingConfig(_Model):
    """The bursty, serverless preprocessing functions."""

    functions: list[PreprocessingFunctionConfig] = Field(default_factory=list)
    """One pipeline (rule, queue, DLQ, function) per entry. Defaults to none."""
    freshness_window_minutes: dict[FeatureSetName, FreshnessWindow] = Field(default_factory=dict)
    """Per feature set: alarm when none of its functions has written a new object for this many minutes
    (a multiple of 5, at most 1440). Defaults to 1440 (one day) for every feature set not listed. ``null``
    turns the alarm off, which the alarm-coverage system check reports as a blocking finding."""

    @model_validator(mode="after")
    def _unique(self) -> PreprocessingConfig:
        names = [f.name for f in self.functions]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"function names must be unique; repeated: {duplicates}")
        unknown = sorted(set(self.freshness_window_minutes) - {f.feature_set for f in self.functions})
        if unknown:
            raise ValueError(f"freshness_window_minutes names feature sets no function writes: {unknown}")
        prefixes = sorted(f.landing_prefix for f in self.functions)
        for first, second in itertools.pairwise(prefixes):
            if second.startswith(first):
                raise ValueError(
                    f"landing prefixes '{first}' and '{second}' overlap, so one object would trigger two functions"
                )
        return self


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

    cidr: str = "10.40.0.0/16"
    """VPC CIDR. Defaults to ``10.40.0.0/16``. Private subnets are the first ``az_count`` eighths
    of it (a /19 each in a /16, room for VPC-CNI pod IPs); public subnets are small blocks
    carved from the last eighth."""
    az_count: int | None = Field(default=None, ge=2, le=6)
    """Availability zones used. Defaults to 3 in prod and 2 elsewhere."""
    nat_gateways: Literal["single", "one_per_az"] | None = None
    """NAT layout. Defaults to ``one_per_az`` in prod (no single point of failure) and
    ``single`` elsewhere (cheaper)."""
    flow_log_retention_days: LogRetentionDays = 90
    """Retention of the KMS-encrypted VPC flow-log group. Defaults to 90 days."""
    existing: ExistingVpcConfig | None = None
    """Bring your own VPC instead of creating one. Defaults to none (a VPC is created)."""
    peerings: list[PeeringConfig] = Field(default_factory=list)
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


def _check_instance_type(value: str) -> str:
    known = _ec2_instance_types()
    if value not in known:
        close = difflib.get_close_matches(value, sorted(known), n=3)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"'{value}' is not an EC2 instance type (the list pulumi-aws ships, pulumi_aws.ec2.InstanceType){hint}"
        )
    return value


@functools.cache
def _ec2_instance_types() -> frozenset[str]:
    import pulumi_aws

    return frozenset(member.value for member in pulumi_aws.ec2.InstanceType)


InstanceType = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*\.[0-9a-z]+$"), AfterValidator(_check_instance_type)]
GPU_FAMILIES = ("g4dn", "g5", "g6", "g6e", "p4d", "p5")
"""Instance families with NVIDIA GPUs the EKS NVIDIA AMIs support."""
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
"""NVIDIA GPUs per instance type: the cluster autoscaler's scale-from-zero node template
(``k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu``) is built from it."""
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


class SystemNodeGroupConfig(_Model):
    """On-demand CPU nodes for cluster add-ons."""

    instance_types: list[InstanceType] = Field(default_factory=lambda: ["m7i.large"], min_length=1)
    """Instance types. Defaults to ``m7i.large``."""
    min_size: int = Field(default=2, ge=1, le=100)
    """Minimum nodes. Defaults to 2 (add-ons survive a node loss)."""
    max_size: int = Field(default=4, ge=1, le=100)
    """Maximum nodes. Defaults to 4."""
    desired_size: int = Field(default=2, ge=1, le=100)
    """Initial nodes. Defaults to 2; afterwards the autoscaler owns it."""
    disk_size_gb: int = Field(default=50, ge=20, le=16384)
    """Encrypted gp3 root volume size. Defaults to 50 GB."""

    @field_validator("instance_types")
    @classmethod
    def _cpu_types(cls, value: list[str]) -> list[str]:
        bad = [t for t in value if t.split(".")[0] in GPU_FAMILIES]
        if bad:
            raise ValueError(f"{bad} are GPU instance types; system nodes run add-ons, use CPU types such as m7i.large")
        return value

    @model_validator(mode="after")
    def _sizes(self) -> SystemNodeGroupConfig:
        _check_sizes(self.min_size, self.desired_size, self.max_size)
        return self


class GpuNodeGroupConfig(_Model):
    """A managed node group of NVIDIA GPU instances, tainted for inference pods only."""

    name: Name
    """Short name of the group (also the EKS node-group name). Required."""
    instance_types: list[InstanceType] = Field(min_length=1)
    """GPU instance types, from the g4dn, g5, g6, g6e, p4d or p5 families, all with the same GPU
    count (the autoscaler's scale-from-zero template assumes one shape). Required."""
    ami_type: Literal["AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"] = "AL2023_x86_64_NVIDIA"
    """EKS-optimised NVIDIA AMI. Defaults to ``AL2023_x86_64_NVIDIA``. Bottlerocket ships its own
    NVIDIA device plugin, so the Helm device plugin skips those nodes."""
    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"
    """Purchase option. Defaults to ``ON_DEMAND``. With ``SPOT`` list several instance types
    so a capacity shortage of one type does not stop scaling."""
    min_size: int = Field(default=0, ge=0, le=100)
    """Minimum nodes. Defaults to 0 (scale to zero when idle)."""
    max_size: int = Field(default=2, ge=1, le=100)
    """Maximum nodes. Defaults to 2."""
    desired_size: int = Field(default=0, ge=0, le=100)
    """Initial nodes. Defaults to 0; afterwards the cluster autoscaler owns it (drift ignored)."""
    disk_size_gb: int = Field(default=200, ge=50, le=16384)
    """Encrypted gp3 volume for images and model cache (AL2023: the root volume; Bottlerocket:
    the data volume). Defaults to 200 GB."""
    max_unavailable: int = Field(default=1, ge=1, le=100)
    """Nodes replaced at once during an update. Defaults to 1."""

    @field_validator("instance_types")
    @classmethod
    def _gpu_types(cls, value: list[str]) -> list[str]:
        bad = [t for t in value if t.split(".")[0] not in GPU_FAMILIES]
        if bad:
            raise ValueError(f"{bad} are not GPU instance types; use the families {', '.join(GPU_FAMILIES)}")
        unknown = [t for t in value if t not in GPUS_PER_INSTANCE]
        if unknown:
            raise ValueError(
                f"{unknown} have no GPU count in GPUS_PER_INSTANCE; use one of {sorted(GPUS_PER_INSTANCE)}"
            )
        counts = {GPUS_PER_INSTANCE[t] for t in value}
        if len(counts) > 1:
            raise ValueError(
                f"{value} mix GPU counts {sorted(counts)}; put instance types with different counts in separate groups"
            )
        gpu_types = sorted({GPU_TYPE_BY_FAMILY[t.split(".")[0]] for t in value})
        if len(gpu_types) > 1:
            raise ValueError(
                f"{value} mix GPU types {gpu_types}; the group's k8s.amazonaws.com/accelerator label has one "
                "value, so put instance families with different GPUs in separate groups"
            )
        return value

    @model_validator(mode="after")
    def _sizes(self) -> GpuNodeGroupConfig:
        _check_sizes(self.min_size, self.desired_size, self.max_size)
        return self

    @property
    def gpus_per_node(self) -> int:
        """NVIDIA GPUs on each node of the group (from :data:`GPUS_PER_INSTANCE`)."""
        return GPUS_PER_INSTANCE[self.instance_types[0]]

    @property
    def gpu_type(self) -> str:
        """GPU type of the group's nodes (from :data:`GPU_TYPE_BY_FAMILY`), e.g. ``nvidia-l4``."""
        return GPU_TYPE_BY_FAMILY[self.instance_types[0].split(".")[0]]


EksAddonName = Literal[
    "vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "metrics-server", "amazon-cloudwatch-observability"
]


SecurityGroupId = Annotated[str, Field(pattern=r"^sg-[0-9a-f]{8,17}$")]


class DeployerConfig(_Model):
    """Where ``pulumi up`` runs from, so its Kubernetes half can reach the cluster's API server.

    The API endpoint is private by default, the cluster creator gets no implicit admin rights,
    and the cluster security group admits nothing from outside the cluster. The deployer's role
    becomes a cluster-admin access entry, and each source security group or CIDR gets an
    ingress rule for TCP 443 on the cluster security group (the private endpoint's network
    interfaces use it: https://docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html).
    """

    role_arn: RoleArn
    """IAM role that runs ``pulumi up`` (the CI deploy role, e.g. the OIDC role of
    ``.github/workflows/deploy.yml``). It gets an access entry with
    ``AmazonEKSClusterAdminPolicy`` at cluster scope. Required."""
    source_security_group_ids: list[SecurityGroupId] = Field(default_factory=list)
    """Security groups of the machines that run ``pulumi up`` inside the VPC or a peered one
    (a self-hosted runner, a bastion). Each may reach the API server on 443. Defaults to none."""
    cidrs: list[str] = Field(default_factory=list)
    """CIDRs (IPv4 or IPv6) that may reach the private API server on 443: a peered or
    transit-gateway-attached runner VPC, a VPN client range. ``0.0.0.0/0`` and ``::/0`` are
    refused. Defaults to none."""

    @field_validator("source_security_group_ids", "cidrs")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        repeated = sorted({v for v in value if value.count(v) > 1})
        if repeated:
            raise ValueError(f"entries must be unique; repeated: {repeated}")
        return value

    @field_validator("cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            _check_cidr(cidr)
        _check_not_everywhere(value, "the API server")
        return value


class ClusterConfig(_Model):
    """The EKS cluster that runs core inference."""

    kubernetes_version: str = "1.36"
    """Kubernetes minor version, one of the versions in ``components/data/eks_versions.json``
    (the dated EKS version table). Defaults to ``1.36`` (standard support until 2027-08-02).
    The cluster autoscaler's image tag and chart version come from the same table."""
    public_endpoint: bool = False
    """Named opt-out: also expose the API server publicly. Defaults to false (private only:
    ``pulumi up`` must then run from inside the VPC or over a VPN/peering)."""
    public_access_cidrs: list[str] = Field(default_factory=list)
    """CIDRs allowed to reach a public endpoint; required when ``public_endpoint`` is on, and
    ``0.0.0.0/0`` is refused. Defaults to none."""
    admin_role_arns: list[RoleArn] = Field(default_factory=list)
    """IAM roles given cluster-admin through EKS access entries. Defaults to none. The cluster
    creator gets no implicit admin: put the role that runs ``pulumi up`` in ``deployer``."""
    deployer: DeployerConfig | None = None
    """The role and network location ``pulumi up`` runs from (cluster-admin access entry, 443
    ingress on the cluster security group). Defaults to none; without it, the role running
    ``pulumi up`` must be in ``admin_role_arns`` and reach the API server some other way."""
    create_autoscaling_service_linked_role: bool = False
    """Create the EC2 Auto Scaling service-linked role ``AWSServiceRoleForAutoScaling``, which
    the node-volume KMS grant names. Defaults to false: the role exists in any account that has
    used EC2 Auto Scaling, and creating it again fails, so it is a documented prerequisite
    (``blueprint preflight`` checks it). Turn it on for a fresh account that never used Auto
    Scaling."""
    log_retention_days: LogRetentionDays = 90
    """Retention of the control-plane log group. Defaults to 90 days."""
    addon_versions: dict[EksAddonName, Annotated[str, Field(pattern=r"^v\d+\.\d+\.\d+-eksbuild\.\d+$")]] = Field(
        default_factory=dict
    )
    """Pinned managed add-on versions (``v1.19.2-eksbuild.1``). Defaults to none: EKS installs
    its default version for the cluster's Kubernetes version when the add-on is created and
    leaves it alone afterwards; pin versions to make upgrades an explicit, reviewed change."""
    system_node_group: SystemNodeGroupConfig = Field(default_factory=SystemNodeGroupConfig)
    """Add-on nodes. Defaults as documented on its fields."""
    gpu_node_groups: list[GpuNodeGroupConfig] = Field(default_factory=list)
    """GPU node groups. Defaults to none."""

    @field_validator("public_access_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        # EKS takes no IPv6 CIDRs here for an IPv4 cluster
        # (https://docs.aws.amazon.com/eks/latest/APIReference/API_VpcConfigRequest.html).
        repeated = sorted({v for v in value if value.count(v) > 1})
        if repeated:
            raise ValueError(f"entries must be unique; repeated: {repeated}")
        for cidr in value:
            _check_cidr(cidr, ipv4_only=True)
        _check_not_everywhere(value, "the API server")
        return value

    @field_validator("admin_role_arns")
    @classmethod
    def _unique_admins(cls, value: list[str]) -> list[str]:
        return _unique_ci(value)

    @field_validator("kubernetes_version")
    @classmethod
    def _offered_version(cls, value: str) -> str:
        from .eks_versions import EKS_VERSIONS

        if value not in EKS_VERSIONS:
            raise ValueError(
                f"is not an EKS version this library offers; use one of {', '.join(EKS_VERSIONS)} "
                "(components/data/eks_versions.json)"
            )
        return value

    @field_validator("deployer")
    @classmethod
    def _deployer_reaches_the_endpoint(
        cls, value: DeployerConfig | None, info: ValidationInfo
    ) -> DeployerConfig | None:
        public = bool(info.data.get("public_endpoint"))
        if value is not None and not public and not (value.source_security_group_ids or value.cidrs):
            raise ValueError(
                "the API endpoint is private but the deployer lists no source_security_group_ids or cidrs, so "
                "nothing admits pulumi up to it on 443; list the security groups or CIDRs the deploy runs from"
            )
        return value

    @model_validator(mode="after")
    def _endpoint(self) -> ClusterConfig:
        if self.public_endpoint and not self.public_access_cidrs:
            raise ValueError("public_endpoint is on but public_access_cidrs is empty; list the CIDRs allowed")
        if self.public_access_cidrs and not self.public_endpoint:
            raise ValueError("public_access_cidrs is set but public_endpoint is off; remove the CIDRs or turn it on")
        names = [g.name for g in self.gpu_node_groups]
        if len(names) != len(set(names)):
            raise ValueError(f"GPU node group names must be unique; got {names}")
        if "system" in names:
            raise ValueError("GPU node group name 'system' is reserved for the system node group")
        return self


ROLLOUT_MAX_SURGE = 1
"""Extra pods a model's rolling update adds (``maxSurge`` of the Deployment's ``RollingUpdate``
strategy, with ``maxUnavailable: 0``): the Deployment in ``components/inference_service.py``
reads it from here, so the capacity check below counts the same surge the rollout uses."""

NODE_RESERVED_MEMORY_MIB = 255 + 100
"""Memory a node never offers to pods, at the least: the EKS AMI's base ``kube-reserved`` memory
(255 MiB, plus 11 MiB per schedulable pod, not counted here) and the kubelet's hard eviction
threshold (``memory.available<100Mi``). A lower bound, so the fit check below only refuses what
can never fit; DaemonSets (VPC CNI, kube-proxy, Pod Identity agent, device plugin) need a little
more, so leave headroom."""


def _node_reserved_cpu_milli(vcpus: int) -> int:
    """The EKS AMI's ``kube-reserved`` CPU: 6% of the first core, 1% of the second, 0.5% of the
    third and fourth, 0.25% of every further core (in millicores)."""
    tiers = ((1, 60), (1, 10), (2, 5))
    reserved, left = 0, vcpus
    for cores, per_core in tiers:
        used = min(left, cores)
        reserved += used * per_core
        left -= used
    return reserved + math.ceil(left * 2.5)


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


def node_allocatable(instance_type: str) -> tuple[int, float, int]:
    """Upper bound of what one node of ``instance_type`` offers pods: millicores, MiB, GPUs."""
    cores = instance_types.vcpus(instance_type)
    return (
        cores * 1000 - _node_reserved_cpu_milli(cores),
        instance_types.memory_gib(instance_type) * 1024 - NODE_RESERVED_MEMORY_MIB,
        GPUS_PER_INSTANCE.get(instance_type, 0),
    )


class ResourcesConfig(_Model):
    """Container requests and limits (requests equal limits: Guaranteed QoS)."""

    cpu: str = Field(default="2", pattern=r"^\d+(\.\d+)?m?$")
    """CPU request and limit. Defaults to ``2``."""
    memory: str = Field(default="8Gi", pattern=MEMORY_QUANTITY)
    """Memory request and limit, a Kubernetes quantity (``8Gi``, ``4G``, ``512Mi``). Defaults to ``8Gi``."""
    gpus: int = Field(default=1, ge=1, le=8)
    """``nvidia.com/gpu`` limit. Defaults to 1."""

    @field_validator("cpu")
    @classmethod
    def _some_cpu(cls, value: str) -> str:
        if cpu_milli(value) < 1:
            raise ValueError(f"'{value}' is no CPU; request at least 1m")
        return value

    @field_validator("memory")
    @classmethod
    def _some_memory(cls, value: str) -> str:
        if memory_mib(value) < 4:
            raise ValueError(f"'{value}' is under 4Mi, less than any container needs; use Mi or Gi (e.g. 512Mi)")
        return value


SLO_LATENCY_TARGETS_MS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
"""Latency SLO thresholds the model server counts slow requests for exactly: the whole-millisecond bounds
of its latency histogram (``container_src/inference_server/metrics.py`` ``LATENCY_BUCKETS``)."""


class SloConfig(_Model):
    """A model's service-level objectives, alerted on by error-budget burn rate (docs/observability.md).

    They are also the model's rollback criteria (docs/rollback.md): a burn-rate alarm after a rollout
    means the new version or image spends the error budget too fast."""

    availability_target: float = Field(default=0.999, ge=0.9, le=0.99999)
    """Share of inference requests answered without a server error (5xx). Defaults to 0.999."""
    latency_target_ms: int = 250
    """Latency threshold of the latency SLO, in milliseconds: one of :data:`SLO_LATENCY_TARGETS_MS`, the
    server's latency histogram bounds, so it counts slow requests exactly. Defaults to 250 ms."""
    latency_percentile: float = Field(default=99.0, ge=50.0, le=99.99)
    """Percentile of requests that must be answered within ``latency_target_ms``. Defaults to 99
    (p99 <= 250 ms)."""
    window_days: int = Field(default=30, ge=7, le=90)
    """The SLO's rolling window; burn-rate thresholds are computed from it (14.4 and 6 for 30 days).
    Defaults to 30 days."""

    @field_validator("latency_target_ms")
    @classmethod
    def _latency_bound(cls, value: int) -> int:
        if value not in SLO_LATENCY_TARGETS_MS:
            allowed = ", ".join(map(str, SLO_LATENCY_TARGETS_MS))
            raise ValueError(f"is not a latency bound of the server's histogram; use one of {allowed}")
        return value


class ModelServiceConfig(_Model):
    """One model served by an InferenceService."""

    name: Name
    """Model name (the registry's ``<model>`` path segment and the namespace). Required."""
    version: str = Field(pattern=r"^[0-9]+$")
    """Pinned model version (Triton layout: a number). Changing it rolls the Deployment. Required."""
    image_tag: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    """Pinned, immutable image tag in the model's ECR repository. Required."""
    image: str | None = Field(
        default=None, pattern=r"^[a-z0-9.-]+(:\d+)?/[a-z0-9._/-]+(:[A-Za-z0-9_.-]+|@sha256:[0-9a-f]{64})$"
    )
    """Full image reference override (``registry/repo:tag`` or ``@sha256:``). Defaults to the
    created ECR repository at ``image_tag``."""
    min_replicas: int = Field(default=2, ge=1, le=100)
    """Scaler minimum (KEDA ScaledObject). Defaults to 2 (with a PodDisruptionBudget of 1 unavailable)."""
    max_replicas: int = Field(default=4, ge=1, le=100)
    """Scaler maximum (KEDA ScaledObject). Defaults to 4."""
    target_in_flight_per_pod: int = Field(default=8, ge=1, le=1000)
    """Scaling target: in-flight requests per pod (KEDA scales between ``min_replicas`` and ``max_replicas``
    on the servers' ``InFlight`` metric; CPU is not the load signal of GPU inference). Defaults to 8."""
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    """Requests and limits. Defaults as documented on its fields."""
    allowed_namespaces: list[Name] = Field(default_factory=list)
    """Namespaces allowed to call the model on its serving port (NetworkPolicy). Defaults to
    none: default deny (the metrics scraper's namespace, ``amazon-cloudwatch``, is always admitted),
    which ``blueprint plan`` blocks as a model nobody may call (BP-SYS-008): list at least one.
    dev and staging list ``inference-clients`` for testing the endpoints."""
    max_batch_size: int = Field(default=32, ge=1, le=1024)
    """Server-side dynamic batching: largest batch. Defaults to 32."""
    max_queue_delay_ms: int = Field(default=5, ge=0, le=1000)
    """Server-side dynamic batching: longest wait to fill a batch. Defaults to 5 ms."""
    model_load_timeout_seconds: int = Field(default=600, ge=30, le=3600)
    """How long the startup probe waits for the model to download and load before the
    container is restarted. Defaults to 600 s (GPU nodes scaling from zero pull large images)."""
    signature_file: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.][A-Za-z0-9_./-]*\.json$")
    """Path, relative to the project root, of the ``signature.json`` this model version is published
    with (the same file that is uploaded beside ``model.onnx``), so ``blueprint plan`` can check the
    model's input and key columns against its batch jobs' feature-set output schema (BP-SYS-006).
    Defaults to none: the signature is only known once published, the batch job checks it at run time,
    and the plan reports the contract as not checked (advisory)."""
    images_to_keep: int = Field(default=30, ge=5, le=1000)
    """Tagged images the ECR lifecycle policy keeps (older ones expire; untagged images expire
    after a day). Defaults to 30, so recent releases stay available for rollback."""
    slo: SloConfig = Field(default_factory=SloConfig)
    """Availability and latency objectives with burn-rate alarms. Defaults as documented on its fields."""

    @model_validator(mode="after")
    def _replicas(self) -> ModelServiceConfig:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas {self.min_replicas} is above max_replicas {self.max_replicas}")
        return self


class BatchJobConfig(_Model):
    """A nightly batch-scoring CronJob that writes to the feature store.

    The columns the model reads and the key columns copied to its scores are not configured here: they
    come from the model version's ``signature.json``, published beside ``model.onnx`` (one source, owned
    by whoever publishes the model; see docs/batch-scoring.md)."""

    name: Name
    """Job name. Required."""
    model: Name
    """Name of a model in ``inference.models`` whose image and version the job uses. Required."""
    schedule: str = Field(default="0 2 * * *")
    """Cron schedule (UTC). Defaults to 02:00 every night."""
    feature_set: FeatureSetName
    """Feature set the job reads and writes under. Required."""
    deadline_seconds: int = Field(default=7200, ge=60, le=86400)
    """``activeDeadlineSeconds`` of each run. Defaults to 2 hours."""
    backoff_limit: int = Field(default=2, ge=0, le=10)
    """Pod retries of a failed run before the Job fails (runtime failures only: configuration and
    contract errors, exit status 2 and 3, fail the Job at once). Defaults to 2."""
    external_input: bool = False
    """The job's input (``<feature_set>/`` in the feature store) is written by something outside this
    stack, not by a ``preprocessing.functions`` entry. Defaults to false: ``blueprint plan`` blocks a job
    whose input prefix no function of the stack writes (BP-SYS-006), since it would score nothing forever."""
    drift_psi_threshold: float | None = Field(default=0.25, gt=0, le=10)
    """Alarm when a scored day's population stability index, of any feature or of the scores, against the
    model version's training profile (``drift-profile.json``, docs/observability.md) exceeds this.
    Defaults to 0.25 (the usual "significant shift" line). ``null`` turns the alarms off, which the
    alarm-coverage system check reports as a blocking finding."""
    lookback_days: int = Field(default=3, ge=1, le=31)
    """Daily partitions each run scores, ending at yesterday (UTC): a file landing up to
    ``lookback_days - 1`` days late for its ``dt=`` partition is still scored, and files already scored are
    skipped without being read. Passed to the container as ``LOOKBACK_DAYS``. Defaults to 3."""

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        problem = aws_rules.cron_schedule_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class InferenceConfig(_Model):
    """Models served on the GPU node groups, and batch scoring."""

    models: list[ModelServiceConfig] = Field(default_factory=list)
    """One InferenceService per model. Defaults to none."""
    batch_jobs: list[BatchJobConfig] = Field(default_factory=list)
    """Batch-scoring CronJobs. Defaults to none."""

    @model_validator(mode="after")
    def _refs(self) -> InferenceConfig:
        names = [m.name for m in self.models]
        if len(names) != len(set(names)):
            raise ValueError(f"model names must be unique; got {names}")
        jobs = [j.name for j in self.batch_jobs]
        if len(jobs) != len(set(jobs)):
            raise ValueError(f"batch job names must be unique; got {jobs}")
        for job in self.batch_jobs:
            if job.model not in names:
                raise ValueError(f"batch job '{job.name}' uses model '{job.model}', which is not in models {names}")
        return self


class AlarmsConfig(_Model):
    """CloudWatch alarms and their SNS topic."""

    emails: list[Email] = Field(default_factory=list)
    """Email subscriptions to the alerts topic. Defaults to none."""

    @field_validator("emails")
    @classmethod
    def _unique_emails(cls, value: list[str]) -> list[str]:
        return _unique_ci(value)

    oldest_message_age_seconds: int = Field(default=900, ge=60)
    """Alarm when a queue's oldest message is older than this. Defaults to 900 s."""
    lambda_errors_threshold: int = Field(default=1, ge=1)
    """Alarm when a function's errors in five minutes reach this. Defaults to 1."""
    lambda_throttles_threshold: int = Field(default=1, ge=1)
    """Alarm when a function's throttles in five minutes reach this. Defaults to 1."""
    records_failed_threshold: int = Field(default=1, ge=1)
    """Alarm when a function's failed records (its ``RecordsFailed`` metric) in five minutes reach
    this. Defaults to 1."""
    duration_timeout_ratio: float = Field(default=0.9, gt=0, le=1)
    """Alarm when a function's longest invocation in five minutes reaches this share of its timeout.
    Defaults to 0.9 (an invocation near the timeout is about to be cut off)."""
    gpu_temperature_celsius: int | None = Field(default=85, ge=40, le=110)
    """Alarm when the hottest GPU of a GPU node group reaches this temperature (Container Insights'
    ``node_gpu_temperature``) for 15 minutes: data-centre GPUs throttle their clocks near 90 °C. Defaults to
    85. ``null`` turns the alarms off, which the alarm-coverage system check reports as blocking."""
    dlq_oldest_message_age_seconds: int = Field(default=259_200, ge=60, le=1_209_600)
    """Alarm when a dead-letter queue's oldest message is older than this (the DLQ keeps messages 14
    days; redrive them before they expire). Defaults to 3 days."""


class BudgetConfig(_Model):
    """The stack's AWS Budgets monthly cost budget."""

    monthly_limit_usd: float = Field(gt=0, le=10_000_000)
    """Monthly cost budget in USD for resources tagged with this stack. Required."""
    actual_thresholds_percent: list[float] = Field(default_factory=lambda: [80.0, 100.0])
    """Alert when actual spend passes these percentages. Defaults to 80 and 100."""
    forecast_thresholds_percent: list[float] = Field(default_factory=lambda: [100.0])
    """Alert when forecast spend passes these percentages. Defaults to 100."""
    emails: list[Email] = Field(default_factory=list, max_length=10)
    """Email recipients besides the alerts topic, at most 10 (AWS Budgets allows 10 e-mail subscribers
    per notification: https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-limits.html).
    Defaults to none."""

    @field_validator("emails")
    @classmethod
    def _unique_emails(cls, value: list[str]) -> list[str]:
        return _unique_ci(value)

    @field_validator("actual_thresholds_percent", "forecast_thresholds_percent")
    @classmethod
    def _thresholds(cls, value: list[float]) -> list[float]:
        for threshold in value:
            if not 0 < threshold <= 1000:
                raise ValueError(f"{threshold} is outside 0-1000 percent")
        return value


class FunctionUsage(_Model):
    """Usage of one preprocessing function per month."""

    requests_per_month: int = Field(default=100_000, ge=0)
    """Invocations per month. Defaults to 100,000."""
    average_duration_ms: int = Field(default=2_000, ge=1)
    """Average billed duration. Defaults to 2,000 ms."""


class UsageConfig(_Model):
    """Usage assumptions for the monthly cost estimate (like an Infracost usage file)."""

    functions: dict[str, FunctionUsage] = Field(default_factory=dict)
    """Per preprocessing function name. Defaults to the ``FunctionUsage`` defaults."""
    sqs_requests_per_month: int = Field(default=1_000_000, ge=0)
    """SQS API requests across the stack per month. Defaults to 1,000,000."""
    s3_storage_gb: dict[Literal["landing", "features", "models", "logs"], Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict
    )
    """Stored GB per bucket. Defaults to 100 GB each."""
    gpu_node_hours_per_month: dict[str, Annotated[float, Field(ge=0, le=744 * 100)]] = Field(default_factory=dict)
    """Node-hours per GPU node group name. Defaults to ``desired_size`` nodes all month."""
    nat_data_processed_gb: float = Field(default=100, ge=0)
    """GB through the NAT gateways per month. Defaults to 100."""


class PlatformConfig(_Model):
    """The whole stack configuration."""

    environment: str = Field(pattern=r"^[a-z][a-z0-9-]{0,19}$")
    """Environment name, lowercase (``dev``, ``staging``, ``prod``, or any other such as ``qa``):
    the value of every resource's ``environment`` tag and of the budget's cost filter. Defaults
    depend on it in two places only: ``prod`` gets the production defaults (3 AZs, one NAT
    gateway per AZ, ``COMPLIANCE`` Object Lock, ``storage.force_destroy`` refused) and any other
    name the non-production ones; and the policy guardrails are
    ``policies/guardrails/<environment>.json``, or ``dev.json``'s for a name without its own file.
    Required."""
    region: str = Field(pattern=AWS_REGION_PATTERN)
    """AWS region, read from ``aws:region``. Required."""
    allowed_regions: list[Annotated[str, Field(pattern=AWS_REGION_PATTERN)]] = Field(min_length=1)
    """Regions data may reside in; ``region`` must be one of them. Required."""
    tags: TagsConfig
    """Required tags. Required."""
    encryption: EncryptionConfig = Field(default_factory=EncryptionConfig)
    """Stack KMS key. Defaults to a created key with rotation on."""
    storage: StorageConfig = Field(default_factory=StorageConfig)
    """Bucket controls. Defaults as documented on its fields."""
    preprocessing: PreprocessingConfig = Field(default_factory=PreprocessingConfig)
    """Preprocessing functions. Defaults to none."""
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    """VPC. Defaults to a created VPC sized by environment."""
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    """EKS cluster. Defaults as documented on its fields."""
    inference: InferenceConfig = Field(default_factory=InferenceConfig)
    """Served models and batch jobs. Defaults to none."""
    alarms: AlarmsConfig = Field(default_factory=AlarmsConfig)
    """Alarms. Defaults as documented on its fields."""
    budget: BudgetConfig
    """Monthly cost budget. Required: every stack has one."""
    usage: UsageConfig = Field(default_factory=UsageConfig)
    """Cost-estimate assumptions. Defaults as documented on its fields."""

    @model_validator(mode="after")
    def _cross_field(self) -> PlatformConfig:
        # Each line names its own field, so every cross-field problem is reported, not just the first.
        problems = []
        if self.region not in self.allowed_regions:
            problems.append(f"aws:region: '{self.region}' is not in allowed_regions {self.allowed_regions}")
        if self.environment == Environment.PROD and self.storage.force_destroy:
            problems.append("storage.force_destroy: true is not allowed in prod (it lets a destroy delete data)")
        if self.encryption.key_arn and f":kms:{self.region}:" not in self.encryption.key_arn:
            problems.append(f"encryption.key_arn: must be a key in the stack's region {self.region}")
        if self.network.existing is None:
            problem = aws_rules.az_count_problem(self.region, self.az_count)
            if problem:
                field = "network.az_count" if self.network.az_count else "network.az_count (default)"
                problems.append(f"{field}: {problem}")
        problems.extend(self._usage_reference_problems())
        problems.extend(self._gpu_capacity_problems())
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _usage_reference_problems(self) -> list[str]:
        """Usage figures for a function or GPU node group the stack does not have (a typo would
        silently price the default instead)."""
        problems = []
        for field, given, known in (
            ("usage.functions", self.usage.functions, [f.name for f in self.preprocessing.functions]),
            (
                "usage.gpu_node_hours_per_month",
                self.usage.gpu_node_hours_per_month,
                [g.name for g in self.cluster.gpu_node_groups],
            ),
        ):
            for name in given:
                if name not in known:
                    close = difflib.get_close_matches(name, known, n=1)
                    hint = f"did you mean '{close[0]}'? " if close else ""
                    problems.append(
                        f"{field}.{name}: no such {'function' if field == 'usage.functions' else 'GPU node group'} "
                        f"in this stack; {hint}known: {known or 'none'}"
                    )
        return problems

    def _gpu_capacity_problems(self) -> list[str]:
        """Models and batch jobs that can never be scheduled on the configured GPU node groups.

        Every inference and batch pod selects any GPU node (``nvidia.com/gpu.present``), so the
        groups are one pool whose ceiling is the sum of ``max_size`` x GPUs per node. It must hold
        :meth:`gpu_demand` at ``min_replicas``: the smallest service rolling out (one surge pod
        per model, :data:`ROLLOUT_MAX_SURGE`) while every batch job runs; otherwise a rollout or
        the nightly job waits forever. A pod must also fit one node of some group: its GPUs, CPU
        and memory within that instance type's allocatable share (:func:`node_allocatable`).
        The HPA peak (``max_replicas``) is reported by :meth:`gpu_peak_shortfall` instead.
        """
        models = self.inference.models
        if not models:
            return []
        groups = self.cluster.gpu_node_groups
        if not groups:
            return [
                f"cluster.gpu_node_groups: is empty, but inference.models {[m.name for m in models]} need GPU "
                "nodes; add a GPU node group"
            ]
        problems = []
        for index, model in enumerate(models):
            request = (cpu_milli(model.resources.cpu), memory_mib(model.resources.memory), model.resources.gpus)
            types = [t for g in groups for t in g.instance_types]
            if not any(all(need <= has for need, has in zip(request, node_allocatable(t), strict=True)) for t in types):
                shapes = ", ".join(
                    sorted(
                        f"{t}: {instance_types.vcpus(t)} vCPU, {instance_types.memory_gib(t)} GiB, "
                        f"{GPUS_PER_INSTANCE[t]} GPU"
                        for t in set(types)
                    )
                )
                problems.append(
                    f"inference.models[{index}].resources: {model.resources.cpu} CPU, {model.resources.memory} and "
                    f"{model.resources.gpus} GPU per pod fit no configured GPU instance type ({shapes}, less the "
                    "node's kube-reserved CPU and memory); lower the requests or add a larger instance type"
                )
        needed, detail = self.gpu_demand(peak=False)
        capacity = self.gpu_capacity()
        if needed > capacity:
            if len(groups) == 1:
                field = f"cluster.gpu_node_groups[0].max_size: {groups[0].max_size}"
                fix = f"raise max_size to {math.ceil(needed / groups[0].gpus_per_node)}"
            else:
                field = "cluster.gpu_node_groups: max_size " + " + ".join(
                    f"{g.max_size} x {g.gpus_per_node}" for g in groups
                )
                fix = "raise the groups' max_size"
            problems.append(
                f"{field} gives {capacity} GPU{'s' if capacity != 1 else ''}; models need {needed} ({detail}); "
                f"{fix} or lower inference.models[].min_replicas"
            )
        return problems

    def gpu_capacity(self) -> int:
        """GPUs the GPU node groups can reach: the sum of ``max_size`` x GPUs per node."""
        return sum(g.max_size * g.gpus_per_node for g in self.cluster.gpu_node_groups)

    def gpu_demand(self, peak: bool) -> tuple[int, str]:
        """GPUs the workloads need at once, and how: every model at ``min_replicas`` (or, with
        ``peak``, at the HPA's ``max_replicas``) plus its rollout surge pod, plus one pod per batch
        job (its CronJob forbids concurrent runs), each pod taking its model's ``resources.gpus``."""
        by_name = {m.name: m for m in self.inference.models}
        parts = []
        for m in self.inference.models:
            replicas = m.max_replicas if peak else m.min_replicas
            label = "max" if peak else "min"
            each = f" x {m.resources.gpus} GPUs" if m.resources.gpus > 1 else ""
            parts.append(
                (f"{m.name}: {replicas} {label} replicas + {ROLLOUT_MAX_SURGE} rollout surge{each}",
                 (replicas + ROLLOUT_MAX_SURGE) * m.resources.gpus)
            )  # fmt: skip
        for j in self.inference.batch_jobs:
            if j.model in by_name:
                gpus = by_name[j.model].resources.gpus
                parts.append((f"batch job {j.name}: {gpus}", gpus))
        return sum(g for _, g in parts), "; ".join(text for text, _ in parts)

    def gpu_peak_shortfall(self) -> str | None:
        """A sentence when the HPA peak (``max_replicas``, surge and jobs) exceeds the GPU pool, else None.

        Not an error: the peak is reached only under load, and pods above the pool stay pending
        until load drops. Defaults to none when everything fits.
        """
        needed, detail = self.gpu_demand(peak=True)
        capacity = self.gpu_capacity()
        if not self.inference.models or needed <= capacity:
            return None
        return (
            f"the GPU node groups reach {capacity} GPUs but the HPA peak needs {needed} ({detail}): "
            "pods above the pool stay pending; raise cluster.gpu_node_groups[].max_size to serve the peak"
        )

    def deployer_route_gaps(self) -> str | None:
        """A sentence when a deployer CIDR has no route into a created VPC, else None.

        The stack's VPC is created in the same update whose Kubernetes half needs the private API
        endpoint, so a runner outside it reaches the endpoint only through a route the stack itself
        creates (``network.peerings``). A transit gateway or VPN route made outside the stack is
        possible, so this is a warning, not an error; a brought VPC (``network.existing``) is not judged.
        """
        deployer = self.cluster.deployer
        if deployer is None or self.network.existing is not None or self.cluster.public_endpoint:
            return None
        routed = [ipaddress.IPv4Network(self.network.cidr)] + [
            ipaddress.IPv4Network(p.peer_cidr) for p in self.network.peerings
        ]
        gaps = []
        for cidr in deployer.cidrs:
            network = ipaddress.ip_network(cidr)
            if not isinstance(network, ipaddress.IPv4Network) or not any(network.subnet_of(n) for n in routed):
                gaps.append(cidr)
        if not gaps:
            return None
        return (
            f"cluster.deployer.cidrs {gaps} lie outside the VPC and every network.peerings[].peer_cidr: the "
            "created VPC has no route back to them, so a runner there cannot reach the private API endpoint "
            "unless a transit gateway or VPN route exists; add a network.peerings entry for the runner's VPC"
        )

    # Derived settings -------------------------------------------------------------------

    @property
    def is_prod(self) -> bool:
        """Whether this is the production environment."""
        return self.environment == Environment.PROD

    @property
    def az_count(self) -> int:
        """Availability zones to use: the configured count, else 3 in prod and 2 elsewhere."""
        return self.network.az_count or (3 if self.is_prod else 2)

    @property
    def nat_gateways(self) -> Literal["single", "one_per_az"]:
        """NAT layout: the configured one, else one per AZ in prod and a single one elsewhere."""
        return self.network.nat_gateways or ("one_per_az" if self.is_prod else "single")

    @property
    def object_lock_mode(self) -> Literal["GOVERNANCE", "COMPLIANCE"]:
        """Model-registry Object Lock mode: configured, else COMPLIANCE in prod, GOVERNANCE elsewhere."""
        return self.storage.model_registry.object_lock_mode or ("COMPLIANCE" if self.is_prod else "GOVERNANCE")

    def required_tags(self) -> dict[str, str]:
        """The tags every taggable resource carries: the required five plus ``tags.extra``."""
        return {
            **self.tags.extra,
            "environment": self.environment,
            "owner": self.tags.owner,
            "cost-center": self.tags.cost_center,
            "data-classification": self.tags.data_classification,
            "managed-by": MANAGED_BY,
        }


# Loading ------------------------------------------------------------------------------------

_SECTIONS = tuple(name for name in PlatformConfig.model_fields if name != "region")


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("function-after") or part.startswith("function-"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _value(raw: dict[str, Any], loc: tuple[int | str, ...]) -> Any:
    node: Any = raw
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def format_validation_error(exc: ValidationError, raw: dict[str, Any]) -> list[str]:
    """Turn a pydantic error into ``path: value problem`` lines, one per bad field."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        path = _path(loc)
        message = (
            str(error["msg"])
            .removeprefix("Value error, ")
            .replace("Input should", "should")
            .replace("String should", "should")
            .replace("List should", "should")
        )
        if not path:
            problems.extend(message.splitlines())
            continue
        if error["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            problems.append(f"{path}: unknown key; {hint}allowed keys: {', '.join(allowed)}")
            continue
        if error["type"] == "missing":
            problems.append(f"{path}: is required")
            continue
        value = _value(raw, loc)
        shown = json.dumps(value) if value is not None and not isinstance(value, dict) else None
        # the message already quotes the value
        quoted = (isinstance(value, str) and f"'{value}'" in message) or (
            isinstance(value, list) and str(value) in message
        )
        if shown is not None and not message.startswith(shown) and not quoted:
            problems.append(f"{path}: {shown} {_lower_first(message)}")
        else:
            problems.append(f"{path}: {message}")
    return problems


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The field names of the model at ``loc`` (list indexes and dict keys skipped)."""
    import typing

    model: Any = PlatformConfig
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        if field is None:
            continue
        model = None
        pending = [field.annotation]
        while pending:
            candidate = pending.pop()
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
                break
            pending.extend(typing.get_args(candidate))
    if model is None:
        return []
    return [name for name in model.model_fields if not (model is PlatformConfig and name == "region")]


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def parse_platform_config(raw: dict[str, Any], stack: str = "stack") -> PlatformConfig:
    """Validate a raw config mapping (section name → value, plus ``region``).

    Raises :class:`ConfigError` listing every bad field. Used by :func:`load_platform_config`
    and by tests that build configs directly.
    """
    try:
        return PlatformConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(stack, format_validation_error(exc, raw)) from None


def _all_config_keys() -> dict[str, Any]:
    from pulumi.runtime import config as runtime_config

    keys: dict[str, Any] = dict(runtime_config.get_config_env())
    keys.update(runtime_config.CONFIG.get())
    return keys


PROVIDER_NAMESPACES = ("aws", "kubernetes", "pulumi")
"""Config namespaces besides the project's that a stack file may use (the providers the program
uses, and Pulumi's own settings)."""


def config_key_problems(keys: list[str]) -> list[str]:
    """Keys that would be silently ignored: an unknown section under the project namespace, or a
    namespace that is neither the project's nor a provider's (a misspelt ``hybrid-ai-plaform:``)."""
    problems = []
    namespaces = [PROJECT_NAMESPACE, *PROVIDER_NAMESPACES]
    for key in keys:
        namespace, _, name = key.partition(":")
        if namespace == PROJECT_NAMESPACE:
            if name not in _SECTIONS:
                close = difflib.get_close_matches(name, _SECTIONS, n=1)
                hint = f"did you mean '{PROJECT_NAMESPACE}:{close[0]}'? " if close else ""
                problems.append(f"{name}: unknown key '{key}'; {hint}allowed: {', '.join(_SECTIONS)}")
        elif namespace not in PROVIDER_NAMESPACES:
            close = difflib.get_close_matches(namespace, namespaces, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}:{name}'? " if close else ""
            problems.append(
                f"{key}: unknown namespace '{namespace}'; {hint}keys go under '{PROJECT_NAMESPACE}:' or a provider "
                f"namespace ({', '.join(PROVIDER_NAMESPACES)})"
            )
    return problems


def load_platform_config() -> PlatformConfig:
    """Read the stack's config through ``pulumi.Config`` and validate it.

    Reads ``aws:region`` and every key under the project namespace; a key that is not a
    section of :class:`PlatformConfig` is reported as unknown. Raises :class:`ConfigError`
    (no resources are registered) when anything is wrong.
    """
    stack = pulumi.get_stack()
    cfg = pulumi.Config(PROJECT_NAMESPACE)
    raw: dict[str, Any] = {}
    problems: list[str] = []
    problems.extend(config_key_problems(list(_all_config_keys())))
    for section in _SECTIONS:
        value = cfg.get(section)
        if value is None:
            continue
        try:
            raw[section] = json.loads(value)
        except json.JSONDecodeError:
            raw[section] = value
    region = pulumi.Config("aws").get("region")
    if region is None:
        problems.append("aws:region: is required; set it with `pulumi config set aws:region <region>`")
    else:
        raw["region"] = region
    try:
        config = PlatformConfig.model_validate(raw)
    except ValidationError as exc:
        problems.extend(format_validation_error(exc, raw))
        raise ConfigError(stack, problems) from None
    problems.extend(
        aws_rules.derived_name_problems(pulumi.get_project(), stack, [m.name for m in config.inference.models])
    )
    if problems:
        raise ConfigError(stack, problems)
    return config
