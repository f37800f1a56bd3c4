"""The ``preprocessing`` section: the functions, their triggers, queues and limits."""

from __future__ import annotations

import itertools
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from hybrid_ai_platform.components import aws_rules
from hybrid_ai_platform.components.preprocessing import (
    LANDING_PREFIX_PATTERN,
    PreprocessingPipelineArgs,
    environment_variable_problem,
)
from hybrid_ai_platform.components.preprocessing_worker import IMAGE_PATTERN, IMAGE_TAG_PATTERN, PreprocessingWorkerArgs
from hybrid_ai_platform.contracts import (
    EVENTBRIDGE_NUMERIC_MAX,
    VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT,
    derived_size_threshold_bytes,
)

from .base import FeatureSetName, LogRetentionDays, Name, _Model, args_default

_FUNCTION = PreprocessingPipelineArgs
"""The component Args a function's settings feed: the defaults below are read from it."""
_WORKER = PreprocessingWorkerArgs


class PreprocessingWorkerConfig(_Model):
    """The cluster path of a preprocessing function: the worker image and where its pods run."""

    image_tag: str = Field(pattern=IMAGE_TAG_PATTERN)
    """Pinned, immutable tag of the worker image (``lambda_src/Dockerfile.worker``) in the function's ECR
    repository ``<project>-<stack>/<name>-worker``. Required."""
    image: str | None = Field(default=args_default(_WORKER, "image"), pattern=IMAGE_PATTERN)
    """Full image reference override (``registry/repo:tag`` or ``@sha256:``). Defaults to the created ECR
    repository at ``image_tag``."""
    capacity: Literal["spot", "system"] = args_default(_WORKER, "capacity")
    """Where the worker pods run. Defaults to ``spot``: a small spot CPU node group created for the
    preprocessing workers (scaled from zero by the cluster autoscaler). ``system`` runs them on the system
    node group instead (no extra node group; they then compete with the add-ons for its capacity)."""


class PreprocessingFunctionConfig(_Model):
    """One preprocessing function: its trigger, queue, limits and feature set."""

    name: Name
    """Short name; children are named ``<stack>-<name>-...``. Required."""
    feature_set: FeatureSetName
    """Feature set the function computes; outputs go to ``s3://<feature-store>/<feature_set>/``. Required."""
    landing_prefix: str = Field(pattern=LANDING_PREFIX_PATTERN)
    """Landing-bucket key prefix that triggers the function; must end with ``/``. Required."""
    architecture: Literal["arm64", "x86_64"] = args_default(_FUNCTION, "architecture")
    """Lambda instruction set. Defaults to ``arm64`` (Graviton, about 20% cheaper per GB-second)."""
    runtime: Literal["python3.12", "python3.13"] = args_default(_FUNCTION, "runtime")
    """Lambda runtime. Defaults to ``python3.12``, which the packaged wheels target."""
    memory_mb: int = Field(default=args_default(_FUNCTION, "memory_mb"), ge=128, le=10240)
    """Memory in MB (also scales CPU). Defaults to 1024."""
    timeout_seconds: int = Field(default=args_default(_FUNCTION, "timeout_seconds"), ge=1)
    """Function timeout. Defaults to 120 s. The queue's visibility timeout is set to six times this."""
    reserved_concurrency: int = Field(default=args_default(_FUNCTION, "reserved_concurrency"), ge=1, le=1000)
    """Reserved concurrency: the most instances that can run at once, reserved out of the
    account's pool. Defaults to 10."""
    maximum_concurrency: int = Field(default=args_default(_FUNCTION, "maximum_concurrency"), ge=2, le=1000)
    """Event-source-mapping maximum concurrency, so a burst cannot starve other functions.
    Defaults to 5; must not exceed ``reserved_concurrency``."""
    batch_size: int = Field(default=args_default(_FUNCTION, "batch_size"), ge=1, le=10000)
    """SQS messages per invocation. Defaults to 10; above 10 needs a batching window."""
    batching_window_seconds: int = Field(default=args_default(_FUNCTION, "batching_window_seconds"), ge=0, le=300)
    """Maximum batching window. Defaults to 0 (invoke as soon as messages arrive)."""
    max_receive_count: int = Field(default=args_default(_FUNCTION, "max_receive_count"), ge=1, le=1000)
    """Receives before a message moves to the dead-letter queue. Defaults to 5."""
    message_retention_seconds: int = Field(
        default=args_default(_FUNCTION, "message_retention_seconds"), ge=60, le=1209600
    )
    """Queue retention. Defaults to 4 days; the dead-letter queue keeps messages 14 days."""
    log_retention_days: LogRetentionDays = args_default(_FUNCTION, "log_retention_days")
    """CloudWatch Logs retention of the function's log group. Defaults to 30 days."""
    schedule: str | None = args_default(_FUNCTION, "schedule")
    """Optional EventBridge schedule (``rate(...)`` or ``cron(...)``, UTC). Each time it fires, the
    function sweeps: it enqueues every landing object under ``landing_prefix`` last modified on the
    previous UTC day, and processes each like an S3 event (objects already processed are skipped).
    Defaults to none (only S3 events trigger the function)."""
    terminal: bool = False
    """The feature set is consumed outside this stack (Athena, a feature store, another account), so
    no batch job here needs to read it. Defaults to false: ``blueprint plan`` reports a feature set
    that no ``inference.batch_jobs`` entry reads as an advisory finding (BP-SYS-006); true silences it."""
    environment: dict[str, str] = Field(default_factory=lambda: dict(args_default(_FUNCTION, "environment")))
    """Extra, non-secret environment variables. Defaults to none. Secret-looking names or
    values are rejected: use Secrets Manager or SSM Parameter Store instead."""
    placement: Literal["lambda", "cluster", "auto"] = args_default(_FUNCTION, "placement")
    """Where the function's code runs. Defaults to ``lambda``. ``cluster`` runs the same code as a worker
    Deployment on the EKS cluster consuming the function's queue, scaled from zero on queue depth by KEDA (no Lambda
    function or event source mapping); ``auto`` keeps both paths and splits the landing events by object size:
    objects up to ``size_threshold_bytes`` go to Lambda, larger ones to the cluster (docs/placement.md).
    ``cluster`` and ``auto`` need ``worker``."""
    size_threshold_bytes: int | None = Field(
        default=args_default(_FUNCTION, "size_threshold_bytes"), ge=1, lt=EVENTBRIDGE_NUMERIC_MAX
    )
    """``placement: auto`` only: the largest object (in bytes, S3's ``detail.object.size``) sent to Lambda.
    Defaults to the derived threshold: the bytes the function processes in a quarter of its timeout at
    ``throughput_bytes_per_vcpu_second`` on its share of vCPU (``memory_mb`` / 1769), and at most a quarter
    of its memory (:meth:`effective_size_threshold_bytes`)."""
    throughput_bytes_per_vcpu_second: int = Field(
        default=args_default(_FUNCTION, "throughput_bytes_per_vcpu_second"), ge=1
    )
    """Measured throughput of the function's code, landing bytes per second on one vCPU, used to derive
    the default ``size_threshold_bytes``. Defaults to 10,000,000 (10 MB/s, measured for the shipped feature
    sets by ``bench/bench_large_object.py``, rounded down); measure yours with it (its "per CPU-second" line)."""
    max_replicas: int = Field(default=args_default(_WORKER, "max_replicas"), ge=1, le=100)
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
        return derived_size_threshold_bytes(self.memory_mb, self.timeout_seconds, self.throughput_bytes_per_vcpu_second)

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
            problem = environment_variable_problem(key, env_value)
            if problem:
                raise ValueError(problem)
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
        if self.timeout_seconds * VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT > 43200:
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
