"""The ``inference`` section: models, their resources and SLOs, batch jobs, and the node-capacity
arithmetic the config and the capacity check share."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator
from pydantic_core.core_schema import ValidationInfo

from hybrid_ai_platform.components import aws_rules
from hybrid_ai_platform.components.batch_job import BatchScoringJobArgs
from hybrid_ai_platform.components.inference_service import InferenceServiceArgs
from hybrid_ai_platform.contracts import (
    MEMORY_QUANTITY,
    SLO_LATENCY_TARGETS_MS,
    cpu_milli,
    memory_mib,
)

from .base import FeatureSetName, Name, _Model, args_default


class ResourcesConfig(_Model):
    """Container requests and limits (requests equal limits: Guaranteed QoS)."""

    cpu: str = Field(default=args_default(InferenceServiceArgs, "cpu"), pattern=r"^\d+(\.\d+)?m?$")
    """CPU request and limit. Defaults to ``2``."""
    memory: str = Field(default=args_default(InferenceServiceArgs, "memory"), pattern=MEMORY_QUANTITY)
    """Memory request and limit, a Kubernetes quantity (``8Gi``, ``4G``, ``512Mi``). Defaults to ``8Gi``."""
    gpus: int = Field(default=args_default(InferenceServiceArgs, "gpus"), ge=1, le=8)
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


class SloConfig(_Model):
    """A model's service-level objectives, alerted on by error-budget burn rate (docs/observability.md).

    They are also the model's rollback criteria (docs/rollback.md): a burn-rate alarm after a rollout
    means the new version or image spends the error budget too fast."""

    availability_target: float = Field(
        default=args_default(InferenceServiceArgs, "availability_target"), ge=0.9, le=0.99999
    )
    """Share of inference requests answered without a server error (5xx). Defaults to 0.999."""
    latency_target_ms: int = args_default(InferenceServiceArgs, "latency_target_ms")
    """Latency threshold of the latency SLO, in milliseconds: one of :data:`SLO_LATENCY_TARGETS_MS`, the
    server's latency histogram bounds, so it counts slow requests exactly. Defaults to 250 ms."""
    latency_percentile: float = Field(
        default=args_default(InferenceServiceArgs, "latency_percentile"), ge=50.0, le=99.99
    )
    """Percentile of requests that must be answered within ``latency_target_ms``. Defaults to 99
    (p99 <= 250 ms)."""
    window_days: int = Field(default=args_default(InferenceServiceArgs, "slo_window_days"), ge=7, le=90)
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
        default=args_default(InferenceServiceArgs, "image"),
        pattern=r"^[a-z0-9.-]+(:\d+)?/[a-z0-9._/-]+(:[A-Za-z0-9_.-]+|@sha256:[0-9a-f]{64})$",
    )
    """Full image reference override (``registry/repo:tag`` or ``@sha256:``). Defaults to the
    created ECR repository at ``image_tag``."""
    min_replicas: int = Field(default=args_default(InferenceServiceArgs, "min_replicas"), ge=1, le=100)
    """Scaler minimum (KEDA ScaledObject). Defaults to 2 (with a PodDisruptionBudget of 1 unavailable)."""
    max_replicas: int = Field(default=args_default(InferenceServiceArgs, "max_replicas"), ge=1, le=100)
    """Scaler maximum (KEDA ScaledObject). Defaults to 4."""
    target_in_flight_per_pod: int = Field(
        default=args_default(InferenceServiceArgs, "target_in_flight_per_pod"), ge=1, le=1000
    )
    """Scaling target: in-flight requests per pod (KEDA scales between ``min_replicas`` and ``max_replicas``
    on the servers' ``InFlight`` metric; CPU is not the load signal of GPU inference). Defaults to 8."""
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    """Requests and limits. Defaults as documented on its fields."""
    allowed_namespaces: list[Name] = Field(
        default_factory=lambda: list(args_default(InferenceServiceArgs, "allowed_namespaces"))
    )
    """Namespaces allowed to call the model on its serving port (NetworkPolicy). Defaults to
    none: default deny (the metrics scraper's namespace, ``amazon-cloudwatch``, is always admitted),
    which ``blueprint plan`` blocks as a model nobody may call (BP-SYS-008): list at least one.
    dev and staging list ``inference-clients`` for testing the endpoints."""
    max_batch_size: int = Field(default=args_default(InferenceServiceArgs, "max_batch_size"), ge=1, le=1024)
    """Server-side dynamic batching: largest batch. Defaults to 32."""
    max_queue_delay_ms: int = Field(default=args_default(InferenceServiceArgs, "max_queue_delay_ms"), ge=0, le=1000)
    """Server-side dynamic batching: longest a partial batch waits to fill while the model is busy (a
    request never waits while it is idle; ``0`` turns batching off). Defaults to 5 ms."""
    model_load_timeout_seconds: int = Field(
        default=args_default(InferenceServiceArgs, "model_load_timeout_seconds"), ge=30, le=3600
    )
    """How long the startup probe waits for the model to download and load before the
    container is restarted. Defaults to 600 s (GPU nodes scaling from zero pull large images)."""
    signature_file: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.][A-Za-z0-9_./-]*\.json$")
    """Path, relative to the project root, of the ``signature.json`` this model version is published
    with (the same file that is uploaded beside ``model.onnx``), so ``blueprint plan`` can check the
    model's input and key columns against its batch jobs' feature-set output schema (BP-SYS-006).
    Defaults to none: the signature is only known once published, the batch job checks it at run time,
    and the plan reports the contract as not checked (advisory)."""
    images_to_keep: int = Field(default=args_default(InferenceServiceArgs, "images_to_keep"), ge=5, le=1000)
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
    schedule: str = Field(default=args_default(BatchScoringJobArgs, "schedule"))
    """Cron schedule (UTC). Defaults to 02:00 every night."""
    feature_set: FeatureSetName
    """Feature set the job reads and writes under. Required."""
    deadline_seconds: int = Field(default=args_default(BatchScoringJobArgs, "deadline_seconds"), ge=60, le=86400)
    """``activeDeadlineSeconds`` of each run. Defaults to 2 hours."""
    backoff_limit: int = Field(default=args_default(BatchScoringJobArgs, "backoff_limit"), ge=0, le=10)
    """Pod retries of a failed run before the Job fails, per index when ``completions`` > 1 (runtime
    failures only: configuration and contract errors, exit status 2 and 3, fail the Job at once).
    Defaults to 2."""
    external_input: bool = False
    """The job's input (``<feature_set>/`` in the feature store) is written by something outside this
    stack, not by a ``preprocessing.functions`` entry. Defaults to false: ``blueprint plan`` blocks a job
    whose input prefix no function of the stack writes (BP-SYS-006), since it would score nothing forever."""
    drift_psi_threshold: float | None = Field(
        default=args_default(BatchScoringJobArgs, "drift_psi_threshold"), gt=0, le=10
    )
    """Alarm when a scored day's population stability index, of any feature or of the scores, against the
    model version's training profile (``drift-profile.json``, docs/observability.md) exceeds this.
    Defaults to 0.25 (the usual "significant shift" line). ``null`` turns the alarms off, which the
    alarm-coverage system check reports as a blocking finding."""
    lookback_days: int = Field(default=args_default(BatchScoringJobArgs, "lookback_days"), ge=1, le=31)
    """Daily partitions each run scores, ending at yesterday (UTC): a file landing up to
    ``lookback_days - 1`` days late for its ``dt=`` partition is still scored, and files already scored are
    skipped without being read. Passed to the container as ``LOOKBACK_DAYS``. Defaults to 3."""
    completions: int = Field(default=args_default(BatchScoringJobArgs, "completions"), ge=1, le=100)
    """Shares each run's files are split into: the Job runs in Indexed completion mode with this many
    ``completions``, and the pod of index ``i`` scores the files whose key hashes to ``i``
    (docs/batch-scoring.md, "Scale-out"). Passed to the container as ``BATCH_COMPLETIONS``. Must be at
    least ``parallelism``. Defaults to 1: one pod scores every file."""
    parallelism: int = Field(default=args_default(BatchScoringJobArgs, "parallelism"), ge=1, le=100)
    """Pods of a run at once (the Job's ``parallelism``), each holding one pod's GPUs: the GPU demand of
    the job is ``parallelism`` x the model's ``resources.gpus``. At most ``completions``. Defaults to 1."""

    @field_validator("parallelism")
    @classmethod
    def _at_most_completions(cls, value: int, info: ValidationInfo) -> int:
        completions = info.data.get("completions")
        if isinstance(completions, int) and value > completions:
            raise ValueError(
                f"{value} must not exceed completions ({completions}): a run has only {completions} share(s) to "
                "score; raise completions or lower parallelism"
            )
        return value

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
