"""The ``preprocessing`` section: the functions, their triggers, queues and limits."""

from __future__ import annotations

import itertools
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from hybrid_ai_platform.components import aws_rules

from .base import _SECRET_NAME, _SECRET_VALUE, FeatureSetName, LogRetentionDays, Name, _Model

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
LAMBDA_MB_PER_VCPU = 1769
"""Lambda allocates one vCPU per 1,769 MB of memory
(https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html)."""
EVENTBRIDGE_NUMERIC_MAX = 5_000_000_000
"""EventBridge documents numeric matching for values between -5.0e9 and +5.0e9 inclusive
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html#filtering-numeric-matching):
a size threshold must stay below it (objects above it are outside the documented range; docs/placement.md)."""


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
    the default ``size_threshold_bytes``. Defaults to 10,000,000 (10 MB/s, measured for the shipped feature
    sets by ``bench/bench_large_object.py``, rounded down); measure yours with it (its "per CPU-second" line)."""
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
