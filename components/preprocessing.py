"""PreprocessingPipeline: S3 ``Object Created`` → EventBridge → SQS → Lambda → feature store.

One pipeline per configured preprocessing function. The chain is built so that a burst can
never take all of the account's concurrency (reserved concurrency plus the event source's
maximum concurrency), a failed record is retried and then parked in a dead-letter queue
(never lost), and the function's role can touch only its own prefixes, queue and key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pulumi
import pulumi_aws as aws

from hybrid_ai_platform.contracts import (
    EVENTBRIDGE_NUMERIC_MAX,
    LOG_RETENTION_DAYS,
    PREPROCESSING_SWEEP_QUEUE_VAR,
    PREPROCESSING_THROUGHPUT_BYTES_PER_VCPU_SECOND,
    SECRET_NAME,
    SECRET_VALUE,
    VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT,
    derived_size_threshold_bytes,
)

from . import validation as check
from .artifact_bucket import ArtifactBucket
from .aws_rules import eventbridge_schedule_problem
from .encryption_key import KmsKey, check_kms_key, kms_key_arn
from .iam import Statement, deny_insecure_transport, policy_document, service_assume_role_policy
from .observability import AlarmRule, DashboardRow, FailureMode, Metric, Widget
from .preprocessing_worker import size_split_patterns

HANDLER = "preprocessing.handler.lambda_handler"
"""Handler of the packaged ``lambda_src/`` code."""
DLQ_RETENTION_SECONDS = 1_209_600
"""Dead-letter queues keep messages the SQS maximum of 14 days."""
FAILED_RECORDS_METRIC = "RecordsFailed"
"""EMF metric the handler emits with the count of records it returned in ``batchItemFailures``."""
OBJECTS_PROCESSED_METRIC = "ObjectsProcessed"
"""EMF metric the handler emits once per landing object written to the feature store (freshness)."""
FEATURE_LAG_METRIC = "FeatureLagSeconds"
"""EMF metric: seconds from the landing object's event time to its features being written."""


class PackageError(Exception):
    """The Lambda package is missing or its manifest is unreadable."""


@dataclass(frozen=True)
class LambdaPackage:
    """A built deployment package (``build/lambda/<arch>/``, made by ``lambda_src/package.py``)."""

    function_zip: Path
    """The function code archive. Required."""
    function_base64sha256: str
    """Base64 SHA-256 of ``function_zip`` (Lambda's ``CodeSha256``). Required."""
    function_sha256: str
    """Hex SHA-256 of ``function_zip``; the function's ``CODE_VERSION``. Required."""
    layer_zip: Path | None = None
    """Dependencies layer archive. Defaults to none (dependencies inside the function zip)."""
    layer_base64sha256: str | None = None
    """Base64 SHA-256 of ``layer_zip``. Defaults to none."""
    feature_sets: tuple[str, ...] = ()
    """Feature sets the function code contains (``FEATURE_SET`` values it accepts). Defaults to none;
    :meth:`from_manifest` always fills it from the manifest."""

    @classmethod
    def from_manifest(cls, manifest: Path) -> LambdaPackage:
        """Read ``manifest.json`` written by the packaging script; raise :class:`PackageError` if absent."""
        if not manifest.is_file():
            raise PackageError(
                f"Lambda package not built: {manifest} is missing. Run `make package` (or "
                f"`python lambda_src/package.py --arch {manifest.parent.name} --out {manifest.parent.parent}`)."
            )
        try:
            data = json.loads(manifest.read_text())
            base = manifest.parent
            layer = data.get("layer_zip")
            feature_sets = data["feature_sets"]
            if not isinstance(feature_sets, list) or not all(isinstance(f, str) for f in feature_sets):
                raise ValueError("feature_sets must be a list of names")
            return cls(
                function_zip=base / data["function_zip"],
                function_base64sha256=data["function_base64sha256"],
                function_sha256=data["function_sha256"],
                layer_zip=base / layer if layer else None,
                layer_base64sha256=data.get("layer_base64sha256"),
                feature_sets=tuple(feature_sets),
            )
        except (KeyError, ValueError) as exc:
            raise PackageError(
                f"{manifest} is not a valid package manifest (missing or invalid {exc}); rebuild with `make package`"
            ) from None


DEFAULT_METRICS_NAMESPACE = "HybridAiPlatform/Preprocessing"
"""CloudWatch namespace of the handler's Powertools metrics unless the Args name another."""
DEFAULT_FRESHNESS_WINDOW_MINUTES = 1440
"""Freshness window of a feature set given no window of its own: one day."""
LANDING_PREFIX_PATTERN = r"^[A-Za-z0-9!_.*'()-][A-Za-z0-9!_.*'()/-]*/$"
"""A landing key prefix: S3's safe key characters, ending with ``/``."""
ENVIRONMENT_NAME_PATTERN = r"[A-Za-z][A-Za-z0-9_]*"
"""An environment variable name Lambda accepts."""

Architecture = Literal["arm64", "x86_64"]
"""Lambda instruction sets."""
Runtime = Literal["python3.12", "python3.13"]
"""Lambda runtimes the packaged wheels support."""
Placement = Literal["lambda", "cluster", "auto"]
"""Where a function's code runs (docs/placement.md)."""


def function_environment(
    *,
    name: str,
    feature_set: str,
    landing_prefix: str,
    environment: Mapping[str, str],
    scheduled: bool,
    landing_bucket: pulumi.Input[str],
    feature_bucket: pulumi.Input[str],
    code_version: str,
    metrics_namespace: str,
    sweep_queue_url: pulumi.Input[str],
) -> dict[str, pulumi.Input[str]]:
    """The function's environment: ``environment`` plus the variables the handler reads
    (``SWEEP_QUEUE_URL`` only when ``scheduled``). :func:`environment_size_problem` sizes the same dict."""
    feature_prefix = f"{feature_set}/"
    result: dict[str, pulumi.Input[str]] = {
        **environment,
        "LANDING_BUCKET": landing_bucket,
        "LANDING_PREFIX": landing_prefix,
        "FEATURE_BUCKET": feature_bucket,
        "FEATURE_SET": feature_set,
        "FEATURE_PREFIX": feature_prefix,
        "QUARANTINE_PREFIX": f"{feature_prefix}_quarantine/",
        "MANIFEST_PREFIX": f"{feature_prefix}_manifests/",
        "CODE_VERSION": code_version,
        "POWERTOOLS_SERVICE_NAME": name,
        "POWERTOOLS_METRICS_NAMESPACE": metrics_namespace,
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    if scheduled:
        result[PREPROCESSING_SWEEP_QUEUE_VAR] = sweep_queue_url
    return result


LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4096
"""Lambda's limit on a function's environment variables: 4 KB, keys and values together
(https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)."""


def environment_size_problem(
    *,
    name: str,
    feature_set: str,
    landing_prefix: str,
    environment: Mapping[str, str],
    scheduled: bool,
    region: str,
    metrics_namespace: str = DEFAULT_METRICS_NAMESPACE,
) -> str | None:
    """Why the function's environment, with the variables :func:`function_environment` adds at their longest
    (bucket names of 63 characters, a queue URL with an 80-character queue name, a SHA-256 code version),
    would exceed :data:`LAMBDA_ENVIRONMENT_LIMIT_BYTES`; ``None`` when it fits."""
    full = function_environment(
        name=name,
        feature_set=feature_set,
        landing_prefix=landing_prefix,
        environment=environment,
        scheduled=scheduled,
        landing_bucket="b" * 63,
        feature_bucket="b" * 63,
        code_version="0" * 64,
        metrics_namespace=metrics_namespace,
        sweep_queue_url=f"https://sqs.{region}.amazonaws.com/123456789012/{'q' * 80}",
    )
    size = sum(len(k.encode()) + len(str(v).encode()) for k, v in full.items())
    if size <= LAMBDA_ENVIRONMENT_LIMIT_BYTES:
        return None
    added = size - sum(len(k.encode()) + len(v.encode()) for k, v in environment.items())
    return (
        f"the function's environment would take up to {size} bytes ({added} of them the variables the library "
        f"adds); Lambda allows {LAMBDA_ENVIRONMENT_LIMIT_BYTES} "
        "(https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)"
    )


def environment_variable_problem(key: str, value: str) -> str | None:
    """Why ``key=value`` may not be one of a function's own environment variables, or ``None``: the name must
    be valid, not reserved (``AWS_...``) and neither name nor value may look like a secret."""
    if not re.fullmatch(ENVIRONMENT_NAME_PATTERN, key):
        return f"'{key}' is not a valid environment variable name"
    if key.startswith("AWS_") or SECRET_NAME.search(key) or SECRET_VALUE.search(value):
        return (
            f"'{key}' looks like a secret or a reserved AWS variable; keep secrets in Secrets Manager "
            "and pass the secret's name instead"
        )
    return None


@dataclass(frozen=True)
class PipelineAlarmsArgs:
    """Thresholds of a pipeline's alarms (:func:`pipeline_failure_modes`). Checked at construction."""

    records_failed_threshold: int = 1
    """Alarm when the function's failed records (its ``RecordsFailed`` metric) in five minutes reach this, at
    least 1. Defaults to 1: every failed record alerts."""
    lambda_errors_threshold: int = 1
    """Alarm when the function's errors in five minutes reach this, at least 1. Defaults to 1."""
    lambda_throttles_threshold: int = 1
    """Alarm when the function's throttles in five minutes reach this, at least 1. Defaults to 1."""
    duration_timeout_ratio: float = 0.9
    """Alarm when the function's longest invocation in five minutes reaches this share of its timeout (above 0,
    at most 1). Defaults to 0.9: an invocation near the timeout is about to be cut off."""
    oldest_message_age_seconds: int = 900
    """Alarm when a queue's oldest message is older than this, at least 60 s. Defaults to 900 s."""
    dlq_oldest_message_age_seconds: int = 259_200
    """Alarm when a dead-letter queue's oldest message is older than this, 60 s to 14 days (the DLQ keeps
    messages 14 days; redrive them before they expire). Defaults to 3 days."""

    def __post_init__(self) -> None:
        top = 2**31 - 1
        check.check_int(self, "records_failed_threshold", self.records_failed_threshold, 1, top)
        check.check_int(self, "lambda_errors_threshold", self.lambda_errors_threshold, 1, top)
        check.check_int(self, "lambda_throttles_threshold", self.lambda_throttles_threshold, 1, top)
        check.check_number(self, "duration_timeout_ratio", self.duration_timeout_ratio, 0.0, 1.0)
        if self.duration_timeout_ratio <= 0:
            check.fail(self, "duration_timeout_ratio", f"{self.duration_timeout_ratio} must be above 0")
        check.check_int(self, "oldest_message_age_seconds", self.oldest_message_age_seconds, 60, top)
        check.check_int(
            self, "dlq_oldest_message_age_seconds", self.dlq_oldest_message_age_seconds, 60, DLQ_RETENTION_SECONDS
        )


@dataclass(frozen=True)
class PreprocessingPipelineArgs:
    """Inputs of :class:`PreprocessingPipeline`. Checked at construction: a bad value raises naming the field."""

    name: str
    """Short name of the function (3 to 32 lower-case letters, digits and dashes): Powertools' ``service``
    (a dimension of every handler metric) and the name in descriptions. Required."""
    feature_set: str
    """Feature set the function computes (lower-case letters, digits and ``_``; the package must contain it);
    outputs go to ``s3://<feature-store>/<feature_set>/``. Required."""
    landing_prefix: str
    """Landing-bucket key prefix whose new objects trigger the function; ends with ``/``. Required."""
    landing: ArtifactBucket
    """Landing bucket whose ``Object Created`` events trigger the function (its EventBridge notifications on).
    Required."""
    feature_store: ArtifactBucket
    """Feature-store bucket the function writes to. Required."""
    kms_key: KmsKey
    """Stack key (an :class:`~.encryption_key.EncryptionKey` or ``aws.kms.Key``, or the ARN of a key you bring):
    queues, logs and environment are encrypted with it. Required."""
    package: LambdaPackage
    """Built deployment package. Required."""
    account_id: pulumi.Input[str]
    """Stack account (trust-policy and queue-policy conditions). Required."""
    region: str
    """Stack region. Required."""
    tags: Mapping[str, str]
    """Required tags for every taggable child. Required."""
    function_name: str
    """Physical function name, 1 to 64 letters, digits, ``-`` and ``_`` (the log group is
    ``/aws/lambda/<function_name>``). Required."""
    architecture: Architecture = "arm64"
    """Lambda instruction set (the package's). Defaults to ``arm64``: Graviton, about 20% cheaper per
    GB-second."""
    runtime: Runtime = "python3.12"
    """Lambda runtime. Defaults to ``python3.12``, which the packaged wheels target."""
    memory_mb: int = 1024
    """Memory in MB, 128 to 10240 (Lambda also scales CPU with it). Defaults to 1024."""
    timeout_seconds: int = 120
    """Function timeout, 1 to 900 s. Defaults to 120 s. The queue's visibility timeout is six times this."""
    reserved_concurrency: int = 10
    """Reserved concurrency, 1 to 1000: the most instances that run at once, reserved out of the account's
    pool. Defaults to 10."""
    maximum_concurrency: int = 5
    """The event source mapping's maximum concurrency, 2 to ``reserved_concurrency``, so a burst cannot
    starve other functions. Defaults to 5."""
    batch_size: int = 10
    """SQS messages per invocation, 1 to 10000 (above 10 needs ``batching_window_seconds``). Defaults to 10."""
    batching_window_seconds: int = 0
    """Maximum batching window, 0 to 300 s. Defaults to 0: invoke as soon as messages arrive."""
    max_receive_count: int = 5
    """Receives before a message moves to the dead-letter queue, 1 to 1000. Defaults to 5."""
    message_retention_seconds: int = 345_600
    """Queue retention, 60 s to 14 days. Defaults to 4 days; the dead-letter queue keeps messages 14 days."""
    log_retention_days: int = 30
    """CloudWatch Logs retention of the function's log group (a period CloudWatch accepts). Defaults to 30
    days."""
    schedule: str | None = None
    """EventBridge schedule (``rate(...)`` or ``cron(...)``, UTC): each time it fires, the function sweeps the
    previous UTC day's landing objects under ``landing_prefix`` onto its queue (objects already processed are
    skipped). Defaults to none: only S3 events trigger the function."""
    environment: Mapping[str, str] = field(default_factory=dict)
    """Extra, non-secret environment variables (secret-looking names or values and ``AWS_...`` names are
    refused). Defaults to none."""
    placement: Placement = "lambda"
    """Where the function's code runs (docs/placement.md). Defaults to ``lambda``. ``cluster`` creates no
    function: its queue is for a :class:`~.preprocessing_worker.PreprocessingWorker`; ``auto`` keeps both paths
    and splits the landing events by object size (up to :meth:`effective_size_threshold_bytes` to Lambda,
    larger ones to a second queue for the worker)."""
    size_threshold_bytes: int | None = None
    """``placement: auto`` only: the largest object (bytes, S3's ``detail.object.size``) sent to Lambda, below
    5e9 (EventBridge's numeric range). Defaults to none: derived from ``throughput_bytes_per_vcpu_second``
    (:meth:`effective_size_threshold_bytes`)."""
    throughput_bytes_per_vcpu_second: int = PREPROCESSING_THROUGHPUT_BYTES_PER_VCPU_SECOND
    """Measured throughput of the function's code, landing bytes per second on one vCPU, for the derived
    size threshold. Defaults to 10,000,000 (10 MB/s, measured by ``bench/bench_large_object.py``, rounded down)."""
    alarms: PipelineAlarmsArgs = PipelineAlarmsArgs()
    """Thresholds of the pipeline's alarms. Defaults to :class:`PipelineAlarmsArgs`' defaults."""
    metrics_namespace: str = DEFAULT_METRICS_NAMESPACE
    """CloudWatch namespace of the function's Powertools metrics. Defaults to
    ``HybridAiPlatform/Preprocessing``."""

    def __post_init__(self) -> None:
        check_kms_key(self, "kms_key", self.kms_key)
        check.check_name(self, "name", self.name)
        check.check_pattern(
            self,
            "feature_set",
            self.feature_set,
            check.FEATURE_SET_PATTERN,
            "a feature-set name (lower-case, digits, _)",
        )
        check.check_pattern(
            self, "landing_prefix", self.landing_prefix, LANDING_PREFIX_PATTERN, "a key prefix ending with '/'"
        )
        check.check_type(self, "package", self.package, LambdaPackage)
        check.check_type(self, "region", self.region, str)
        check.check_mapping(self, "tags", self.tags)
        check.check_pattern(
            self,
            "function_name",
            self.function_name,
            r"[A-Za-z0-9_-]{1,64}",
            "a Lambda function name (1-64 characters)",
        )
        check.check_choice(self, "architecture", self.architecture, Architecture)
        check.check_choice(self, "runtime", self.runtime, Runtime)
        check.check_int(self, "memory_mb", self.memory_mb, 128, 10240)
        check.check_int(self, "timeout_seconds", self.timeout_seconds, 1, 900)
        check.check_int(self, "reserved_concurrency", self.reserved_concurrency, 1, 1000)
        check.check_int(self, "maximum_concurrency", self.maximum_concurrency, 2, 1000)
        if self.maximum_concurrency > self.reserved_concurrency:
            check.fail(
                self,
                "maximum_concurrency",
                f"{self.maximum_concurrency} is above reserved_concurrency {self.reserved_concurrency}; the event "
                "source would be throttled",
            )
        check.check_int(self, "batch_size", self.batch_size, 1, 10000)
        check.check_int(self, "batching_window_seconds", self.batching_window_seconds, 0, 300)
        if self.batch_size > 10 and self.batching_window_seconds < 1:
            check.fail(self, "batching_window_seconds", f"batch_size {self.batch_size} above 10 needs at least 1")
        check.check_int(self, "max_receive_count", self.max_receive_count, 1, 1000)
        check.check_int(self, "message_retention_seconds", self.message_retention_seconds, 60, DLQ_RETENTION_SECONDS)
        check.check_choice(self, "log_retention_days", self.log_retention_days, LOG_RETENTION_DAYS)
        if self.schedule is not None:
            check.check_type(self, "schedule", self.schedule, str)
            problem = eventbridge_schedule_problem(self.schedule)
            if problem:
                check.fail(self, "schedule", problem)
        check.check_mapping(self, "environment", self.environment)
        for key, value in self.environment.items():
            problem = environment_variable_problem(key, value)
            if problem:
                check.fail(self, "environment", problem)
        check.check_type(self, "metrics_namespace", self.metrics_namespace, str)
        problem = environment_size_problem(
            name=self.name,
            feature_set=self.feature_set,
            landing_prefix=self.landing_prefix,
            environment=self.environment,
            scheduled=self.schedule is not None,
            region=self.region,
            metrics_namespace=self.metrics_namespace,
        )
        if problem:
            check.fail(self, "environment", problem)
        check.check_choice(self, "placement", self.placement, Placement)
        if self.size_threshold_bytes is not None:
            check.check_int(self, "size_threshold_bytes", self.size_threshold_bytes, 1, EVENTBRIDGE_NUMERIC_MAX - 1)
            if self.placement != "auto":
                check.fail(
                    self,
                    "size_threshold_bytes",
                    f"only applies to placement 'auto' (placement is '{self.placement}'); leave it None",
                )
        if self.placement == "auto" and self.schedule is not None:
            check.fail(
                self,
                "schedule",
                "cannot be combined with placement 'auto' (the sweep enqueues on one queue, it cannot split by "
                "size); use placement 'cluster' or 'lambda', or no schedule",
            )
        check.check_int(self, "throughput_bytes_per_vcpu_second", self.throughput_bytes_per_vcpu_second, 1, 10**15)
        check.check_type(self, "alarms", self.alarms, PipelineAlarmsArgs)

    def effective_size_threshold_bytes(self) -> int:
        """``size_threshold_bytes``, or the derived default: the bytes the function processes in a quarter of
        its timeout at ``throughput_bytes_per_vcpu_second`` on its vCPU share (``memory_mb`` / 1769), and at
        most a quarter of its memory (:func:`~hybrid_ai_platform.contracts.derived_size_threshold_bytes`)."""
        if self.size_threshold_bytes is not None:
            return self.size_threshold_bytes
        return derived_size_threshold_bytes(self.memory_mb, self.timeout_seconds, self.throughput_bytes_per_vcpu_second)

    @property
    def kms_key_arn(self) -> pulumi.Input[str]:
        """The ARN of ``kms_key``."""
        return kms_key_arn(self.kms_key)


class PreprocessingPipeline(pulumi.ComponentResource):
    """Rule → queue (with DLQ) → event source mapping → function, with a least-privilege role.

    - **Rule**: matches ``aws.s3`` ``Object Created`` for the landing bucket and the function's prefix.
    - **Schedule** (optional): a rule that sends its ``Scheduled Event`` to the same queue; the handler
      answers it with a sweep that enqueues the previous UTC day's landing objects (idempotent).
    - **Queue**: KMS-encrypted, TLS-only policy allowing only those rules to send; visibility
      timeout six times the function timeout; redrive to a DLQ after ``max_receive_count``.
    - **Event source mapping**: ``ReportBatchItemFailures`` and ``maximum_concurrency``.
    - **Function**: reserved concurrency, X-Ray active tracing, JSON logs to its own log group
      with retention, a secret-free environment naming its buckets and prefixes. It is only ever
      invoked by the event source mapping.
    - **Role**: read its landing prefix, write its feature-set prefix, consume its queue, use the key;
      with a schedule also list the landing prefix's versions and send to its own queue.

    Example::

        PreprocessingPipeline("transactions", PreprocessingPipelineArgs(name="transactions",
            feature_set="transactions", landing_prefix="raw/transactions/", landing=landing,
            feature_store=features, kms_key=key, package=pkg, account_id=acct,
            region="eu-west-1", tags=tags, function_name="prod-transactions"))
    """

    queue: aws.sqs.Queue
    dead_letter_queue: aws.sqs.Queue
    function: aws.lambda_.Function | None
    """The Lambda function; None with ``placement: cluster``."""
    role: aws.iam.Role | None
    """The function's role; None with ``placement: cluster``."""
    rule: aws.cloudwatch.EventRule
    event_source_mapping: aws.lambda_.EventSourceMapping | None
    """The Lambda trigger on ``queue``; None with ``placement: cluster`` (the worker consumes it)."""
    log_group: aws.cloudwatch.LogGroup | None
    metrics_namespace: str
    """CloudWatch namespace of the handler's EMF metrics (``POWERTOOLS_METRICS_NAMESPACE``)."""
    metric_dimensions: dict[str, str]
    """The exact dimension set of every handler metric: Powertools' ``service`` (``POWERTOOLS_SERVICE_NAME``)
    and ``FeatureSet``. A CloudWatch alarm must name all of them: an alarm on a subset matches nothing."""

    def __init__(self, name: str, args: PreprocessingPipelineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-ai:preprocessing:PreprocessingPipeline", name, None, opts)
        fn = args
        tags = dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)
        self.metrics_namespace = args.metrics_namespace
        self.metric_dimensions = {"service": fn.name, "FeatureSet": fn.feature_set}
        self.args = args
        """The Args the pipeline was built from."""
        self.function_name = args.function_name

        # Queues ------------------------------------------------------------------------------
        # ``queue`` is the function's queue: Lambda's, or with ``placement: cluster`` the worker's. ``auto``
        # adds a second queue and DLQ with the same settings for the cluster path.
        self.queue, self.dead_letter_queue = self._queue_pair(name, fn, args, child)
        self.cluster_queue: aws.sqs.Queue | None = None
        self.cluster_dead_letter_queue: aws.sqs.Queue | None = None
        if fn.placement == "auto":
            self.cluster_queue, self.cluster_dead_letter_queue = self._queue_pair(f"{name}-cluster", fn, args, child)
        self.worker_queue: aws.sqs.Queue | None = {"lambda": None, "cluster": self.queue}.get(
            fn.placement, self.cluster_queue
        )
        """The queue the cluster worker consumes; None with ``placement: lambda``."""

        # Rules → queue -------------------------------------------------------------------------
        object_created: dict[str, object] = {
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {
                "bucket": {"name": [args.landing.name]},
                "object": {"key": [{"prefix": fn.landing_prefix}]},
            },
        }
        self.large_object_rule: aws.cloudwatch.EventRule | None = None
        self.any_object_rule: aws.cloudwatch.EventRule | None = None
        """``auto``: the unsplit pattern, without a target; its matches minus the size rules' are objects no
        size rule matched (the ``unrouted-objects`` alarm; docs/placement.md, "Objects above 5.0e9 bytes")."""
        if fn.placement == "auto":
            self.any_object_rule = aws.cloudwatch.EventRule(
                f"{name}-object-created-any",
                description=(
                    f"S3 Object Created under s3://<landing>/{fn.landing_prefix} for {fn.name}, any size, no target: "
                    "counted against the size rules to detect objects neither matched"
                ),
                event_pattern=pulumi.Output.json_dumps(object_created),
                state="ENABLED",
                tags=tags,
                opts=child,
            )
            threshold = fn.effective_size_threshold_bytes()
            object_created, large = size_split_patterns(args.landing.name, fn.landing_prefix, threshold)
            self.large_object_rule = aws.cloudwatch.EventRule(
                f"{name}-object-created-large",
                description=(
                    f"S3 Object Created under s3://<landing>/{fn.landing_prefix} above {threshold} bytes for "
                    f"{fn.name}: the cluster worker"
                ),
                event_pattern=pulumi.Output.json_dumps(large),
                state="ENABLED",
                tags=tags,
                opts=child,
            )
        self.rule = aws.cloudwatch.EventRule(
            f"{name}-object-created",
            description=f"S3 Object Created under s3://<landing>/{fn.landing_prefix} for {fn.name}"
            + (f" up to {fn.effective_size_threshold_bytes()} bytes: Lambda" if fn.placement == "auto" else ""),
            event_pattern=pulumi.Output.json_dumps(object_created),
            state="ENABLED",
            tags=tags,
            opts=child,
        )
        # A schedule means "sweep": its rule delivers the Scheduled Event to this function's own queue (never
        # invokes the SQS handler directly); the handler then enqueues the previous UTC day's landing objects
        # as Object Created messages on the same queue (lambda_src/preprocessing/sweep.py).
        self.schedule_rule: aws.cloudwatch.EventRule | None = None
        if fn.schedule is not None:
            self.schedule_rule = aws.cloudwatch.EventRule(
                f"{name}-schedule",
                description=f"Sweep of the previous UTC day's landing objects for {fn.name}",
                schedule_expression=fn.schedule,
                state="ENABLED",
                tags=tags,
                opts=child,
            )
        rules = [self.rule, *([self.schedule_rule] if self.schedule_rule is not None else [])]
        # Both queues admit exactly the rules that target them (deliveries) or dead-letter into them.
        queue_rules = [(self.queue, self.dead_letter_queue, rules, name)]
        if self.cluster_queue is not None and self.cluster_dead_letter_queue is not None:
            assert self.large_object_rule is not None
            queue_rules.append(
                (self.cluster_queue, self.cluster_dead_letter_queue, [self.large_object_rule], f"{name}-cluster")
            )
        for main_queue, dlq, senders, prefix in queue_rules:
            for queue, policy_name in ((main_queue, "queue-policy"), (dlq, "dlq-policy")):
                aws.sqs.QueuePolicy(
                    f"{prefix}-{policy_name}",
                    queue_url=queue.url,
                    policy=policy_document(
                        [
                            deny_insecure_transport([queue.arn], "sqs:*"),
                            {
                                "Sid": "OnlyTheRulesSend",
                                "Effect": "Allow",
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Action": "sqs:SendMessage",
                                "Resource": queue.arn,
                                "Condition": {"ArnEquals": {"aws:SourceArn": [rule.arn for rule in senders]}},
                            },
                        ]
                    ),
                    opts=child,
                )
        if self.large_object_rule is not None and self.cluster_queue is not None:
            assert self.cluster_dead_letter_queue is not None
            aws.cloudwatch.EventTarget(
                f"{name}-large-to-cluster-queue",
                rule=self.large_object_rule.name,
                arn=self.cluster_queue.arn,
                retry_policy={"maximum_event_age_in_seconds": 86400, "maximum_retry_attempts": 185},
                dead_letter_config={"arn": self.cluster_dead_letter_queue.arn},
                opts=child,
            )
        aws.cloudwatch.EventTarget(
            f"{name}-to-queue",
            rule=self.rule.name,
            arn=self.queue.arn,
            retry_policy={"maximum_event_age_in_seconds": 86400, "maximum_retry_attempts": 185},
            dead_letter_config={"arn": self.dead_letter_queue.arn},
            opts=child,
        )
        if self.schedule_rule is not None:
            aws.cloudwatch.EventTarget(
                f"{name}-schedule-target",
                rule=self.schedule_rule.name,
                arn=self.queue.arn,
                retry_policy={"maximum_event_age_in_seconds": 3600, "maximum_retry_attempts": 185},
                dead_letter_config={"arn": self.dead_letter_queue.arn},
                opts=child,
            )

        self.worker_statements: list[Statement] = (
            pipeline_role_statements(args, self.worker_queue.arn, self.queue.arn, log_group=None)
            if self.worker_queue is not None
            else []
        )
        """The cluster worker's grants: the Lambda role's (same builder) on the worker's queue, without the
        Lambda platform's own (its log group, X-Ray); none with ``placement: lambda``."""
        environment = function_environment(
            name=fn.name,
            feature_set=fn.feature_set,
            landing_prefix=fn.landing_prefix,
            environment=fn.environment,
            scheduled=fn.schedule is not None,
            landing_bucket=args.landing.name,
            feature_bucket=args.feature_store.name,
            code_version=args.package.function_sha256,
            metrics_namespace=self.metrics_namespace,
            sweep_queue_url=self.queue.url,
        )
        self.environment = environment
        """The function's environment (the worker gets the same)."""
        self.function: aws.lambda_.Function | None = None
        self.role: aws.iam.Role | None = None
        self.log_group: aws.cloudwatch.LogGroup | None = None
        self.event_source_mapping: aws.lambda_.EventSourceMapping | None = None
        if fn.placement == "cluster":
            # The queue goes to the worker: no function, role, log group or event source mapping (a function
            # nobody invokes would only be an unguarded asynchronous entry point).
            self.register_outputs({"queue_url": self.queue.url, "dead_letter_queue_url": self.dead_letter_queue.url})
            return

        # Function ------------------------------------------------------------------------------
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{args.function_name}",
            retention_in_days=fn.log_retention_days,
            kms_key_id=args.kms_key_arn,
            tags=tags,
            opts=child,
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            description=f"Preprocessing function {fn.name}: least privilege",
            assume_role_policy=service_assume_role_policy("lambda.amazonaws.com", args.account_id),
            max_session_duration=3600,
            tags=tags,
            opts=child,
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=self.role.id,
            policy=policy_document(self._role_statements(args)),
            opts=pulumi.ResourceOptions(parent=self.role),
        )
        layers: list[pulumi.Input[str]] = []
        if args.package.layer_zip is not None:
            layer = aws.lambda_.LayerVersion(
                f"{name}-dependencies",
                layer_name=f"{args.function_name}-deps",
                code=pulumi.FileArchive(str(args.package.layer_zip)),
                source_code_hash=args.package.layer_base64sha256,
                compatible_runtimes=[fn.runtime],
                compatible_architectures=[fn.architecture],
                opts=child,
            )
            layers.append(layer.arn)
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=args.function_name,
            description=f"Preprocessing: {fn.landing_prefix} → {fn.feature_set} features",
            role=self.role.arn,
            runtime=fn.runtime,
            handler=HANDLER,
            architectures=[fn.architecture],
            code=pulumi.FileArchive(str(args.package.function_zip)),
            source_code_hash=args.package.function_base64sha256,
            layers=layers,
            memory_size=fn.memory_mb,
            timeout=fn.timeout_seconds,
            reserved_concurrent_executions=fn.reserved_concurrency,
            tracing_config={"mode": "Active"},
            logging_config={
                "log_format": "JSON",
                "log_group": self.log_group.name,
                "application_log_level": "INFO",
                "system_log_level": "WARN",
            },
            environment={"variables": environment},
            kms_key_arn=args.kms_key_arn,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy, self.log_group]),
        )
        self.event_source_mapping = aws.lambda_.EventSourceMapping(
            f"{name}-queue-trigger",
            event_source_arn=self.queue.arn,
            function_name=self.function.arn,
            enabled=True,
            batch_size=fn.batch_size,
            maximum_batching_window_in_seconds=fn.batching_window_seconds,
            function_response_types=["ReportBatchItemFailures"],
            scaling_config={"maximum_concurrency": fn.maximum_concurrency},
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )

        self.register_outputs(
            {
                "function_name": self.function.name,
                "function_arn": self.function.arn,
                "queue_url": self.queue.url,
                "dead_letter_queue_url": self.dead_letter_queue.url,
                "role_arn": self.role.arn,
            }
        )

    def _queue_pair(
        self,
        prefix: str,
        fn: PreprocessingPipelineArgs,
        args: PreprocessingPipelineArgs,
        child: pulumi.ResourceOptions,
    ) -> tuple[aws.sqs.Queue, aws.sqs.Queue]:
        """A queue and its DLQ: KMS, visibility six times the timeout, redrive after ``max_receive_count``."""
        dead_letter_queue = aws.sqs.Queue(
            f"{prefix}-dlq",
            kms_master_key_id=args.kms_key_arn,
            kms_data_key_reuse_period_seconds=300,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            tags=dict(args.tags),
            opts=child,
        )
        queue = aws.sqs.Queue(
            f"{prefix}-queue",
            kms_master_key_id=args.kms_key_arn,
            kms_data_key_reuse_period_seconds=300,
            visibility_timeout_seconds=VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT * fn.timeout_seconds,
            message_retention_seconds=fn.message_retention_seconds,
            receive_wait_time_seconds=20,
            redrive_policy=pulumi.Output.json_dumps(
                {"deadLetterTargetArn": dead_letter_queue.arn, "maxReceiveCount": fn.max_receive_count}
            ),
            tags=dict(args.tags),
            opts=child,
        )
        aws.sqs.RedriveAllowPolicy(
            f"{prefix}-dlq-redrive-allow",
            queue_url=dead_letter_queue.url,
            redrive_allow_policy=pulumi.Output.json_dumps(
                {"redrivePermission": "byQueue", "sourceQueueArns": [queue.arn]}
            ),
            opts=child,
        )
        return queue, dead_letter_queue

    def _role_statements(self, args: PreprocessingPipelineArgs) -> list[Statement]:
        log_group_arn = pulumi.Output.concat(
            "arn:aws:logs:", args.region, ":", args.account_id, ":log-group:/aws/lambda/", args.function_name
        )
        return pipeline_role_statements(args, self.queue.arn, self.queue.arn, log_group=log_group_arn)


LAMBDA_PLATFORM_SIDS = ("WriteOwnLogs", "XRayTraces")
"""Statements only the Lambda role has: its log group (a pod logs to stdout) and X-Ray (Lambda's active
tracing; no X-Ray daemon runs for the worker)."""


def pipeline_role_statements(
    args: PreprocessingPipelineArgs,
    consumed_queue_arn: pulumi.Input[str],
    sweep_queue_arn: pulumi.Input[str],
    *,
    log_group: pulumi.Input[str] | None,
) -> list[Statement]:
    """The grants of a function's code, for the Lambda role and the cluster worker's Pod Identity role alike.

    ``consumed_queue_arn`` is the queue the runtime consumes (Lambda's poller, or the worker);
    ``sweep_queue_arn`` the queue the scheduled sweep enqueues on (``SWEEP_QUEUE_URL``). With ``log_group``
    (the Lambda role) the Lambda platform's statements (:data:`LAMBDA_PLATFORM_SIDS`) are included.
    """
    fn = args
    feature_prefix = f"{fn.feature_set}/"
    platform = log_group is not None
    return [
        *(
            [
                {
                    "Sid": "WriteOwnLogs",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": pulumi.Output.concat(log_group, ":log-stream:*"),
                }
            ]
            if log_group is not None
            else []
        ),
        {
            "Sid": "ConsumeOwnQueue",
            "Effect": "Allow",
            "Action": [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:GetQueueAttributes",
            ],
            "Resource": consumed_queue_arn,
        },
        {
            "Sid": "UseStackKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": args.kms_key_arn,
        },
        *(
            [
                {
                    "Sid": "XRayTraces",
                    "Effect": "Allow",
                    "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                    "Resource": "*",
                }
            ]
            if platform
            else []
        ),
        # Both reads must tell an absent key from a forbidden one (404, not 403): the landing read falls
        # back to the URL-decoded key, the feature-store read is the write-once/manifest check.
        *_sid("ReadLanding", args.landing.read_statements(fn.landing_prefix, head_missing_keys=True)),
        *_sid("ReadOwnFeatures", args.feature_store.read_statements(feature_prefix, head_missing_keys=True)),
        *_sid("WriteOwnFeatures", args.feature_store.write_statements(feature_prefix)),
        *(_sweep_statements(args, sweep_queue_arn) if fn.schedule is not None else []),
    ]


def _sweep_statements(args: PreprocessingPipelineArgs, queue_arn: pulumi.Input[str]) -> list[Statement]:
    """What the scheduled sweep calls: ListObjectVersions on the landing prefix, SendMessage to its queue.

    ``s3:ListBucketVersions`` supports the ``s3:prefix`` condition key
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/amazon-s3-policy-keys.html), and the sweep
    always passes ``Prefix=LANDING_PREFIX``. The queue is SSE-KMS: ``UseStackKey`` covers the
    ``kms:GenerateDataKey``/``kms:Decrypt`` a producer needs.
    """
    return [
        {
            "Sid": "SweepListsLandingVersions",
            "Effect": "Allow",
            "Action": "s3:ListBucketVersions",
            "Resource": args.landing.arn,
            "Condition": {"StringLike": {"s3:prefix": [f"{args.landing_prefix}*"]}},
        },
        {
            "Sid": "SweepEnqueuesOnOwnQueue",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
        },
    ]


def _sid(prefix: str, statements: list[Statement]) -> list[Statement]:
    return [{"Sid": f"{prefix}{i}", **s} for i, s in enumerate(statements)]


# Observability: what the pipeline emits and how it fails ------------------------------------------


def handler_metric(pipeline: PreprocessingPipeline, name: str, unit: str = "Count") -> Metric:
    """One of the handler's EMF metrics, with the exact dimension set it writes."""
    return Metric(pipeline.metrics_namespace, name, dict(pipeline.metric_dimensions), unit)


def pipeline_failure_modes(
    pipeline: PreprocessingPipeline, setting: str = "", alarms_setting: str = "alarms"
) -> list[FailureMode]:
    """The pipeline's failure modes: failed records, errors, throttles, duration near the timeout,
    concurrency at the reserved limit, queue age, DLQ depth and DLQ age, with the thresholds of its
    ``alarms`` Args.

    Each failure mode names the setting that tunes it: ``setting`` is where the function's Args fields are
    configured, ``alarms_setting`` where its alarm thresholds are (the stack program passes
    ``preprocessing.functions[<i>]`` and ``alarms``). They default to the Args field paths (``max_receive_count``,
    ``alarms.records_failed_threshold``).
    Lambda publishes ``ConcurrentExecutions`` per function for functions with reserved concurrency
    (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html), which every pipeline has.
    """
    fn = pipeline.args
    alarms = fn.alarms
    component = f"pipeline/{pipeline._name}"
    at = f"{setting}." if setting else ""
    function = {"FunctionName": pipeline.function.name if pipeline.function is not None else ""}
    queue = {"QueueName": pipeline.queue.name}
    dlq = {"QueueName": pipeline.dead_letter_queue.name}

    def lam(name: str, unit: str = "Count") -> Metric:
        return Metric("AWS/Lambda", name, function, unit)

    def sqs(name: str, dims: dict[str, pulumi.Output[str]], unit: str) -> Metric:
        return Metric("AWS/SQS", name, dims, unit)

    def mode(key: str, meaning: str, response: str, field: str, rule: AlarmRule) -> FailureMode:
        return FailureMode(component, key, meaning, response, field, rule)

    timeout_ms = fn.timeout_seconds * 1000
    modes = [
        mode(
            "records-failed",
            "records failed and were returned for retry (the function reports partial batch failures, so "
            "Lambda Errors stay at zero)",
            "read the function's log for each record's error_type and source_key; fix the data or the code",
            f"{alarms_setting}.records_failed_threshold",
            AlarmRule(
                handler_metric(pipeline, FAILED_RECORDS_METRIC),
                "Sum",
                "GreaterThanOrEqualToThreshold",
                alarms.records_failed_threshold,
            ),
        ),
        mode(
            "errors",
            "function errors (the whole batch failed: configuration, timeout or crash)",
            "open the function's log group; a ConfigurationError names the bad environment variable",
            f"{alarms_setting}.lambda_errors_threshold",
            AlarmRule(lam("Errors"), "Sum", "GreaterThanOrEqualToThreshold", alarms.lambda_errors_threshold),
        ),
        mode(
            "throttles",
            "function throttles (reserved concurrency reached)",
            "check the queue age; raise reserved_concurrency or lower maximum_concurrency",
            f"{alarms_setting}.lambda_throttles_threshold",
            AlarmRule(lam("Throttles"), "Sum", "GreaterThanOrEqualToThreshold", alarms.lambda_throttles_threshold),
        ),
        mode(
            "duration-near-timeout",
            f"an invocation took {alarms.duration_timeout_ratio:.0%} of the {fn.timeout_seconds}s timeout or more",
            "look for large landing objects in the log; raise timeout_seconds or memory_mb, or lower batch_size",
            f"{alarms_setting}.duration_timeout_ratio",
            AlarmRule(
                lam("Duration", "Milliseconds"),
                "Maximum",
                "GreaterThanOrEqualToThreshold",
                round(timeout_ms * alarms.duration_timeout_ratio),
            ),
        ),
        mode(
            "concurrency-at-limit",
            f"the function ran at its reserved concurrency of {fn.reserved_concurrency}",
            "check throttles and queue age; raise reserved_concurrency if the backlog grows",
            f"{at}reserved_concurrency",
            AlarmRule(lam("ConcurrentExecutions"), "Maximum", "GreaterThanOrEqualToThreshold", fn.reserved_concurrency),
        ),
        mode(
            "queue-age",
            f"oldest message older than {alarms.oldest_message_age_seconds}s (processing is falling behind)",
            "check throttles, errors and concurrency; the backlog drains once the function keeps up",
            f"{alarms_setting}.oldest_message_age_seconds",
            AlarmRule(
                sqs("ApproximateAgeOfOldestMessage", queue, "Seconds"),
                "Maximum",
                "GreaterThanThreshold",
                alarms.oldest_message_age_seconds,
            ),
        ),
        mode(
            "dlq-not-empty",
            "messages in the dead-letter queue need attention (redrive after fixing)",
            "read why the records failed (function log), fix, then start a DLQ redrive to the source queue",
            f"{at}max_receive_count",
            AlarmRule(sqs("ApproximateNumberOfMessagesVisible", dlq, "Count"), "Maximum", "GreaterThanThreshold", 0),
        ),
        mode(
            "dlq-age",
            f"a dead-lettered message is older than {alarms.dlq_oldest_message_age_seconds}s; the DLQ drops "
            "messages after 14 days",
            "redrive or archive the dead-lettered messages before they expire",
            f"{alarms_setting}.dlq_oldest_message_age_seconds",
            AlarmRule(
                sqs("ApproximateAgeOfOldestMessage", dlq, "Seconds"),
                "Maximum",
                "GreaterThanThreshold",
                alarms.dlq_oldest_message_age_seconds,
            ),
        ),
    ]
    if pipeline.function is None:
        # ``cluster``: no Lambda function, so none of its own failure modes (the queue's and the records' stay).
        lambda_only = {"errors", "throttles", "duration-near-timeout", "concurrency-at-limit"}
        modes = [m for m in modes if m.key not in lambda_only]
    if pipeline.any_object_rule is not None and pipeline.large_object_rule is not None:
        # ``auto``: objects neither size rule matched. EventBridge documents numeric matching only within
        # +-5.0e9 (eb-event-patterns-content-based-filtering.html, "Numeric matching"); aws/event-ruler, its
        # open-source matcher, matched no numeric condition for a larger value until 1.8.0 (2024-09), so an
        # object above 5,000,000,000 bytes may match neither rule. No pattern can catch exactly those objects
        # (docs/placement.md), so the loss is made visible: every object counts once on the unsplit rule, and once
        # on a size rule when it was routed: TriggeredRules per RuleName (AWS/Events,
        # https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-monitoring.html); not MatchedEvents, which
        # Pulumi's awsx reference lists with no dimension (an account-wide count) and CDK's generated per-rule
        # metrics have dropped.
        def matched(rule: aws.cloudwatch.EventRule) -> Metric:
            return Metric("AWS/Events", "TriggeredRules", {"RuleName": rule.name}, "Count")

        modes.append(
            mode(
                "unrouted-objects",
                "an object landed that neither size rule matched (above 5,000,000,000 bytes EventBridge may match "
                "no numeric condition): it is not processed",
                "list the landing objects above 5000000000 bytes from the alarm's period and send each one's "
                "Object Created event to the cluster queue (docs/placement.md, 'Objects above 5.0e9 bytes')",
                f"{at}placement",
                AlarmRule(
                    matched(pipeline.any_object_rule),
                    "Sum",
                    "GreaterThanThreshold",
                    0,
                    subtracted=(matched(pipeline.rule), matched(pipeline.large_object_rule)),
                ),
            )
        )
    if pipeline.cluster_queue is not None and pipeline.cluster_dead_letter_queue is not None:
        # ``auto``: the cluster path's queue and DLQ fail the same ways (the worker's failed records share the
        # handler's RecordsFailed metric and dimensions, so "records-failed" covers both paths).
        cluster_queue = {"QueueName": pipeline.cluster_queue.name}
        cluster_dlq = {"QueueName": pipeline.cluster_dead_letter_queue.name}
        modes += [
            mode(
                "cluster-queue-age",
                f"oldest cluster-path message older than {alarms.oldest_message_age_seconds}s (the worker is "
                "falling behind)",
                "check the worker pods (kubectl -n preprocessing-<name> get pods), their node group and KEDA",
                f"{alarms_setting}.oldest_message_age_seconds",
                AlarmRule(
                    sqs("ApproximateAgeOfOldestMessage", cluster_queue, "Seconds"),
                    "Maximum",
                    "GreaterThanThreshold",
                    alarms.oldest_message_age_seconds,
                ),
            ),
            mode(
                "cluster-dlq-not-empty",
                "messages in the cluster path's dead-letter queue need attention (redrive after fixing)",
                "read why the records failed (worker log), fix, then start a DLQ redrive to the cluster queue",
                f"{at}max_receive_count",
                AlarmRule(
                    sqs("ApproximateNumberOfMessagesVisible", cluster_dlq, "Count"),
                    "Maximum",
                    "GreaterThanThreshold",
                    0,
                ),
            ),
            mode(
                "cluster-dlq-age",
                f"a dead-lettered cluster-path message is older than {alarms.dlq_oldest_message_age_seconds}s; the "
                "DLQ drops messages after 14 days",
                "redrive or archive the dead-lettered messages before they expire",
                f"{alarms_setting}.dlq_oldest_message_age_seconds",
                AlarmRule(
                    sqs("ApproximateAgeOfOldestMessage", cluster_dlq, "Seconds"),
                    "Maximum",
                    "GreaterThanThreshold",
                    alarms.dlq_oldest_message_age_seconds,
                ),
            ),
        ]
    return modes


def feature_set_failure_modes(
    pipelines: Sequence[PreprocessingPipeline],
    freshness_window_minutes: Mapping[str, int | None] | None = None,
    setting: str = "freshness_window_minutes",
) -> list[FailureMode]:
    """Per feature set: nothing new written for its freshness window (by any function writing it).

    ``freshness_window_minutes`` maps a feature set to its window (a multiple of 5 minutes, at most 1440) or
    to ``None`` (no alarm); a feature set it does not list gets :data:`DEFAULT_FRESHNESS_WINDOW_MINUTES`.
    ``setting`` is where the windows are configured, named in each failure mode (the stack program passes
    ``preprocessing.freshness_window_minutes``).

    The alarm sums ``ObjectsProcessed`` of every function of the feature set over 5-minute periods
    and fires when all periods of the window are below one. Missing data is breaching: silence is
    the failure this alarm exists for.
    """
    by_set: dict[str, list[PreprocessingPipeline]] = {}
    for pipeline in pipelines:
        by_set.setdefault(pipeline.args.feature_set, []).append(pipeline)
    modes = []
    for feature_set, members in sorted(by_set.items()):
        window = (freshness_window_minutes or {}).get(feature_set, DEFAULT_FRESHNESS_WINDOW_MINUTES)
        metrics = [handler_metric(p, OBJECTS_PROCESSED_METRIC) for p in members]
        rule = (
            AlarmRule(
                metrics[0],
                "Sum",
                "LessThanThreshold",
                1,
                period=300,
                evaluation_periods=window // 5,
                treat_missing_data="breaching",
                summed_with=tuple(metrics[1:]),
            )
            if window is not None
            else None
        )
        modes.append(
            FailureMode(
                f"feature-set/{feature_set.replace('_', '-')}",
                "stale",
                f"no new {feature_set} features for {window} minutes (functions: "
                f"{', '.join(p._name for p in members)})",
                "check the landing prefix for new uploads, then each function's queue, DLQ and errors",
                f"{setting}.{feature_set}",
                rule,
            )
        )
    return modes


def pipeline_dashboard_row(pipeline: PreprocessingPipeline) -> DashboardRow:
    """Throughput, failures, lag, duration and queues of one pipeline."""
    function = {"FunctionName": pipeline.function.name if pipeline.function is not None else ""}
    row = DashboardRow(
        f"Pipeline {pipeline._name} ({pipeline.args.feature_set})",
        widgets=(
            Widget(
                "Objects and records",
                (
                    (handler_metric(pipeline, OBJECTS_PROCESSED_METRIC), "Sum"),
                    (handler_metric(pipeline, FAILED_RECORDS_METRIC), "Sum"),
                    (handler_metric(pipeline, "RowsQuarantined"), "Sum"),
                ),
            ),
            Widget(
                "Feature lag (event time to features written)",
                (
                    (handler_metric(pipeline, FEATURE_LAG_METRIC, "Seconds"), "p50"),
                    (handler_metric(pipeline, FEATURE_LAG_METRIC, "Seconds"), "p95"),
                ),
            ),
            Widget(
                "Function",
                (
                    (Metric("AWS/Lambda", "Errors", function, "Count"), "Sum"),
                    (Metric("AWS/Lambda", "Throttles", function, "Count"), "Sum"),
                    (Metric("AWS/Lambda", "ConcurrentExecutions", function, "Count"), "Maximum"),
                    (Metric("AWS/Lambda", "Duration", function, "Milliseconds"), "Maximum"),
                ),
            ),
            Widget(
                "Queues",
                (
                    (
                        Metric(
                            "AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": pipeline.queue.name}, "Seconds"
                        ),
                        "Maximum",
                    ),
                    (
                        Metric(
                            "AWS/SQS",
                            "ApproximateNumberOfMessagesVisible",
                            {"QueueName": pipeline.dead_letter_queue.name},
                            "Count",
                        ),
                        "Maximum",
                    ),
                ),
                width=24,
            ),
        ),
    )
    if pipeline.function is None:
        # ``cluster``: no Lambda function to plot.
        return DashboardRow(row.title, tuple(w for w in row.widgets if w.title != "Function"), row.search_widgets)
    return row
