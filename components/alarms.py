"""Alarms: the stack's alerts topic and CloudWatch alarms on the preprocessing chain."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from .iam import deny_insecure_transport, policy_document
from .preprocessing import FAILED_RECORDS_METRIC, PreprocessingPipeline


@dataclass(frozen=True)
class AlarmsArgs:
    """Inputs of :class:`Alarms`."""

    kms_key_arn: pulumi.Input[str]
    """Key encrypting the topic. Required."""
    account_id: pulumi.Input[str]
    """Only CloudWatch and Budgets on behalf of this account may publish. Required."""
    tags: Mapping[str, str]
    """Required tags. Required."""
    pipelines: Sequence[PreprocessingPipeline] = ()
    """Pipelines to watch. Defaults to none."""
    emails: Sequence[str] = ()
    """Email subscriptions (each must be confirmed by its owner). Defaults to none."""
    oldest_message_age_seconds: int = 900
    """Queue-age alarm threshold. Defaults to 900 s."""
    lambda_errors_threshold: int = 1
    """Function-errors alarm threshold per five minutes. Defaults to 1."""
    lambda_throttles_threshold: int = 1
    """Function-throttles alarm threshold per five minutes. Defaults to 1."""
    records_failed_threshold: int = 1
    """Failed-records alarm threshold per five minutes. Defaults to 1."""
    extra_publishers: Sequence[str] = field(default=("cloudwatch.amazonaws.com", "budgets.amazonaws.com"))
    """Service principals allowed to publish. Defaults to CloudWatch and Budgets."""


class Alarms(pulumi.ComponentResource):
    """An encrypted SNS topic and, per pipeline, alarms on DLQ depth, queue age, failed records, errors
    and throttles.

    The failed-records alarm watches the handler's own ``RecordsFailed`` metric: the function reports
    partial batch failures, so a function that fails every record still reports no Lambda ``Errors``.

    Every alarm notifies the topic when it fires and when it recovers. Missing data is not
    breaching (an idle pipeline is healthy).
    """

    topic: aws.sns.Topic
    """The alerts topic; the budget also notifies it."""
    topic_policy: aws.sns.TopicPolicy
    """The topic's policy (CloudWatch and Budgets may publish); whatever notifies the topic depends on it."""
    alarms: list[aws.cloudwatch.MetricAlarm]
    """All alarms created."""

    def __init__(self, name: str, args: AlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-ai:observability:Alarms", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        self.topic = aws.sns.Topic(f"{name}-topic", kms_master_key_id=args.kms_key_arn, tags=tags, opts=child)
        self.topic_policy = aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=self.topic.arn,
            policy=policy_document(
                [
                    deny_insecure_transport([self.topic.arn], "sns:Publish"),
                    {
                        "Sid": "ServicesPublishForThisAccount",
                        "Effect": "Allow",
                        "Principal": {"Service": sorted(args.extra_publishers)},
                        "Action": "sns:Publish",
                        "Resource": self.topic.arn,
                        "Condition": {"StringEquals": {"aws:SourceAccount": args.account_id}},
                    },
                ]
            ),
            opts=child,
        )
        for email in args.emails:
            aws.sns.TopicSubscription(
                f"{name}-email-{_key(email)}",
                topic=self.topic.arn,
                protocol="email",
                endpoint=email,
                opts=child,
            )
        self.alarms = []
        actions = [self.topic.arn]
        for pipeline in args.pipelines:
            for spec in _pipeline_alarms(pipeline, args):
                self.alarms.append(
                    aws.cloudwatch.MetricAlarm(
                        f"{name}-{pipeline._name}-{spec.suffix}",
                        alarm_description=f"{pipeline._name}: {spec.description}",
                        alarm_actions=actions,
                        ok_actions=actions,
                        treat_missing_data="notBreaching",
                        evaluation_periods=1,
                        period=300,
                        namespace=spec.namespace,
                        metric_name=spec.metric_name,
                        dimensions=spec.dimensions,
                        statistic=spec.statistic,
                        comparison_operator=spec.comparison_operator,
                        threshold=spec.threshold,
                        tags=tags,
                        opts=child,
                    )
                )
        self.register_outputs({"topic_arn": self.topic.arn})


@dataclass(frozen=True)
class _AlarmSpec:
    suffix: str
    description: str
    namespace: str
    metric_name: str
    dimensions: Mapping[str, pulumi.Input[str]]
    statistic: str
    comparison_operator: str
    threshold: float


def _pipeline_alarms(pipeline: PreprocessingPipeline, args: AlarmsArgs) -> list[_AlarmSpec]:
    """DLQ depth, queue age, failed records, function errors and throttles of one pipeline."""
    queue = {"QueueName": pipeline.queue.name}
    function = {"FunctionName": pipeline.function.name}
    return [
        _AlarmSpec(
            "dlq-not-empty",
            "messages in the dead-letter queue need attention (redrive after fixing)",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": pipeline.dead_letter_queue.name},
            "Maximum",
            "GreaterThanThreshold",
            0,
        ),
        _AlarmSpec(
            "queue-age",
            f"oldest message older than {args.oldest_message_age_seconds}s (processing is falling behind)",
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            queue,
            "Maximum",
            "GreaterThanThreshold",
            args.oldest_message_age_seconds,
        ),
        _AlarmSpec(
            "records-failed",
            "records failed and were returned for retry (the function reports partial batch failures, so "
            "Lambda Errors stay at zero; see the function's log for each record's reason)",
            pipeline.metrics_namespace,
            FAILED_RECORDS_METRIC,
            dict(pipeline.metric_dimensions),
            "Sum",
            "GreaterThanOrEqualToThreshold",
            args.records_failed_threshold,
        ),
        _AlarmSpec(
            "errors",
            "function errors",
            "AWS/Lambda",
            "Errors",
            function,
            "Sum",
            "GreaterThanOrEqualToThreshold",
            args.lambda_errors_threshold,
        ),
        _AlarmSpec(
            "throttles",
            "function throttles (reserved concurrency reached)",
            "AWS/Lambda",
            "Throttles",
            function,
            "Sum",
            "GreaterThanOrEqualToThreshold",
            args.lambda_throttles_threshold,
        ),
    ]


def _key(value: str) -> str:
    """A stable, name-safe key for a repeated child (not its list position)."""
    return hashlib.sha256(value.encode()).hexdigest()[:8]
