"""PreprocessingPipeline: S3 ``Object Created`` → EventBridge → SQS → Lambda → feature store.

One pipeline per configured preprocessing function. The chain is built so that a burst can
never take all of the account's concurrency (reserved concurrency plus the event source's
maximum concurrency), a failed record is retried and then parked in a dead-letter queue
(never lost), and the function's role can touch only its own prefixes, queue and key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from .artifact_bucket import ArtifactBucket
from .config import PreprocessingFunctionConfig
from .iam import Statement, deny_insecure_transport, policy_document, service_assume_role_policy

HANDLER = "preprocessing.handler.lambda_handler"
"""Handler of the packaged ``lambda_src/`` code."""
DLQ_RETENTION_SECONDS = 1_209_600
"""Dead-letter queues keep messages the SQS maximum of 14 days."""


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


def unknown_feature_sets(
    functions: Sequence[PreprocessingFunctionConfig], packages: Mapping[str, LambdaPackage], build_dir: str
) -> list[str]:
    """One problem line per function whose ``feature_set`` is not in the package it deploys.

    Lines are ``preprocessing.functions[<i>].feature_set: ...`` (the project's ConfigError format), naming
    the value, the available feature sets and the two fixes. Functions whose architecture has no package are
    skipped (the package loader reports those).
    """
    problems = []
    for index, fn in enumerate(functions):
        package = packages.get(fn.architecture)
        if package is None or fn.feature_set in package.feature_sets:
            continue
        available = ", ".join(package.feature_sets) or "none"
        problems.append(
            f"preprocessing.functions[{index}].feature_set: '{fn.feature_set}' is not a feature set of the "
            f"Lambda package {build_dir}/{fn.architecture} (available: {available}); use one of those, or add "
            f"lambda_src/preprocessing/feature_sets/{fn.feature_set}.py and run `make package`"
        )
    return problems


@dataclass(frozen=True)
class PreprocessingPipelineArgs:
    """Inputs of :class:`PreprocessingPipeline`."""

    function: PreprocessingFunctionConfig
    """The function's config (limits, prefixes, feature set). Required."""
    landing: ArtifactBucket
    """Landing bucket whose ``Object Created`` events trigger the function. Required."""
    feature_store: ArtifactBucket
    """Feature-store bucket the function writes to. Required."""
    kms_key_arn: pulumi.Input[str]
    """Stack key: queues, logs and environment are encrypted with it. Required."""
    package: LambdaPackage
    """Built deployment package. Required."""
    account_id: pulumi.Input[str]
    """Stack account (trust-policy and queue-policy conditions). Required."""
    region: str
    """Stack region. Required."""
    tags: Mapping[str, str]
    """Required tags for every taggable child. Required."""
    function_name: str
    """Physical function name (the log group is ``/aws/lambda/<function_name>``). Required."""
    metrics_namespace: str = "HybridAiPlatform/Preprocessing"
    """CloudWatch namespace of the function's Powertools metrics. Defaults to that value."""


class PreprocessingPipeline(pulumi.ComponentResource):
    """Rule → queue (with DLQ) → event source mapping → function, with a least-privilege role.

    - **Rule**: matches ``aws.s3`` ``Object Created`` for the landing bucket and the function's prefix.
    - **Queue**: KMS-encrypted, TLS-only policy allowing only that rule to send; visibility
      timeout six times the function timeout; redrive to a DLQ after ``max_receive_count``.
    - **Event source mapping**: ``ReportBatchItemFailures`` and ``maximum_concurrency``.
    - **Function**: reserved concurrency, X-Ray active tracing, JSON logs to its own log group
      with retention, a secret-free environment naming its buckets and prefixes, failed
      asynchronous (scheduled) invocations sent to the DLQ.
    - **Role**: read its landing prefix, write its feature-set prefix, consume its queue, use the key.

    Example::

        PreprocessingPipeline("transactions", PreprocessingPipelineArgs(function=cfg, landing=landing,
            feature_store=features, kms_key_arn=key.arn, package=pkg, account_id=acct,
            region="eu-west-1", tags=tags, function_name="prod-transactions"))
    """

    queue: aws.sqs.Queue
    dead_letter_queue: aws.sqs.Queue
    function: aws.lambda_.Function
    role: aws.iam.Role
    rule: aws.cloudwatch.EventRule
    event_source_mapping: aws.lambda_.EventSourceMapping
    log_group: aws.cloudwatch.LogGroup

    def __init__(self, name: str, args: PreprocessingPipelineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-ai:preprocessing:PreprocessingPipeline", name, None, opts)
        fn = args.function
        tags = dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)
        feature_prefix = f"{fn.feature_set}/"

        # Queues ------------------------------------------------------------------------------
        self.dead_letter_queue = aws.sqs.Queue(
            f"{name}-dlq",
            kms_master_key_id=args.kms_key_arn,
            kms_data_key_reuse_period_seconds=300,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            tags=tags,
            opts=child,
        )
        self.queue = aws.sqs.Queue(
            f"{name}-queue",
            kms_master_key_id=args.kms_key_arn,
            kms_data_key_reuse_period_seconds=300,
            visibility_timeout_seconds=6 * fn.timeout_seconds,
            message_retention_seconds=fn.message_retention_seconds,
            receive_wait_time_seconds=20,
            redrive_policy=pulumi.Output.json_dumps(
                {"deadLetterTargetArn": self.dead_letter_queue.arn, "maxReceiveCount": fn.max_receive_count}
            ),
            tags=tags,
            opts=child,
        )
        aws.sqs.RedriveAllowPolicy(
            f"{name}-dlq-redrive-allow",
            queue_url=self.dead_letter_queue.url,
            redrive_allow_policy=pulumi.Output.json_dumps(
                {"redrivePermission": "byQueue", "sourceQueueArns": [self.queue.arn]}
            ),
            opts=child,
        )

        # Rule → queue --------------------------------------------------------------------------
        self.rule = aws.cloudwatch.EventRule(
            f"{name}-object-created",
            description=f"S3 Object Created under s3://<landing>/{fn.landing_prefix} for {fn.name}",
            event_pattern=pulumi.Output.json_dumps(
                {
                    "source": ["aws.s3"],
                    "detail-type": ["Object Created"],
                    "detail": {
                        "bucket": {"name": [args.landing.name]},
                        "object": {"key": [{"prefix": fn.landing_prefix}]},
                    },
                }
            ),
            state="ENABLED",
            tags=tags,
            opts=child,
        )
        for queue, policy_name in ((self.queue, "queue-policy"), (self.dead_letter_queue, "dlq-policy")):
            aws.sqs.QueuePolicy(
                f"{name}-{policy_name}",
                queue_url=queue.url,
                policy=policy_document(
                    [
                        deny_insecure_transport([queue.arn], "sqs:*"),
                        {
                            "Sid": "OnlyTheRuleSends",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": queue.arn,
                            "Condition": {"ArnEquals": {"aws:SourceArn": self.rule.arn}},
                        },
                    ]
                ),
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
            policy=policy_document(self._role_statements(args, feature_prefix)),
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
        environment: dict[str, pulumi.Input[str]] = {
            **fn.environment,
            "LANDING_BUCKET": args.landing.name,
            "LANDING_PREFIX": fn.landing_prefix,
            "FEATURE_BUCKET": args.feature_store.name,
            "FEATURE_SET": fn.feature_set,
            "FEATURE_PREFIX": feature_prefix,
            "QUARANTINE_PREFIX": f"{feature_prefix}_quarantine/",
            "MANIFEST_PREFIX": f"{feature_prefix}_manifests/",
            "CODE_VERSION": args.package.function_sha256,
            "POWERTOOLS_SERVICE_NAME": fn.name,
            "POWERTOOLS_METRICS_NAMESPACE": args.metrics_namespace,
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
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
        aws.lambda_.FunctionEventInvokeConfig(
            f"{name}-async-failures",
            function_name=self.function.name,
            maximum_retry_attempts=2,
            maximum_event_age_in_seconds=3600,
            destination_config={"on_failure": {"destination": self.dead_letter_queue.arn}},
            opts=child,
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

        # Optional schedule ---------------------------------------------------------------------
        if fn.schedule is not None:
            schedule = aws.cloudwatch.EventRule(
                f"{name}-schedule",
                description=f"Periodic batch run of {fn.name}",
                schedule_expression=fn.schedule,
                state="ENABLED",
                tags=tags,
                opts=child,
            )
            aws.lambda_.Permission(
                f"{name}-schedule-invoke",
                action="lambda:InvokeFunction",
                function=self.function.name,
                principal="events.amazonaws.com",
                source_arn=schedule.arn,
                source_account=args.account_id,
                opts=child,
            )
            aws.cloudwatch.EventTarget(
                f"{name}-schedule-target",
                rule=schedule.name,
                arn=self.function.arn,
                retry_policy={"maximum_event_age_in_seconds": 3600, "maximum_retry_attempts": 2},
                dead_letter_config={"arn": self.dead_letter_queue.arn},
                opts=child,
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

    def _role_statements(self, args: PreprocessingPipelineArgs, feature_prefix: str) -> list[Statement]:
        fn = args.function
        log_group_arn = pulumi.Output.concat(
            "arn:aws:logs:", args.region, ":", args.account_id, ":log-group:/aws/lambda/", args.function_name
        )
        return [
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": pulumi.Output.concat(log_group_arn, ":log-stream:*"),
            },
            {
                "Sid": "ConsumeOwnQueue",
                "Effect": "Allow",
                "Action": [
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes",
                ],
                "Resource": self.queue.arn,
            },
            {
                "Sid": "ParkFailedAsyncInvocations",
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": self.dead_letter_queue.arn,
            },
            {
                "Sid": "UseStackKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": args.kms_key_arn,
            },
            {
                "Sid": "XRayTraces",
                "Effect": "Allow",
                "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                "Resource": "*",
            },
            # Both reads must tell an absent key from a forbidden one (404, not 403): the landing read falls
            # back to the URL-decoded key, the feature-store read is the write-once/manifest check.
            *_sid("ReadLanding", args.landing.read_statements(fn.landing_prefix, head_missing_keys=True)),
            *_sid("ReadOwnFeatures", args.feature_store.read_statements(feature_prefix, head_missing_keys=True)),
            *_sid("WriteOwnFeatures", args.feature_store.write_statements(feature_prefix)),
        ]


def _sid(prefix: str, statements: list[Statement]) -> list[Statement]:
    return [{"Sid": f"{prefix}{i}", **s} for i, s in enumerate(statements)]
