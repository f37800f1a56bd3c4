"""Alarms: the stack's alerts topic, and the observability plane's alarms, SLO alarms and dashboard.

The components declare their failure modes and dashboard rows (:mod:`hybrid_ai_platform.components.observability`);
:meth:`Alarms.watch` turns each failure mode into a CloudWatch alarm that notifies the topic (an SLO
into four burn-rate alarms joined by a composite alarm), and :meth:`Alarms.dashboard` lays the rows out
as one CloudWatch dashboard.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from . import validation as check
from .encryption_key import KmsKey, check_kms_key, kms_key_arn
from .iam import deny_insecure_transport, policy_document
from .observability import BURN_WINDOWS, AlarmRule, BurnRateSlo, DashboardRow, FailureMode, Metric, QueryRule


@dataclass(frozen=True)
class AlarmsArgs:
    """Inputs of :class:`Alarms`."""

    kms_key: KmsKey
    """Key encrypting the topic: an :class:`~.encryption_key.EncryptionKey` (or ``aws.kms.Key``), or the ARN of a
    key you bring. Required."""
    account_id: pulumi.Input[str]
    """Only CloudWatch and Budgets on behalf of this account may publish. Required."""
    tags: Mapping[str, str]
    """Required tags. Required."""
    emails: Sequence[str] = ()
    """Email subscriptions (each must be confirmed by its owner). Defaults to none."""
    extra_publishers: Sequence[str] = field(default=("cloudwatch.amazonaws.com", "budgets.amazonaws.com"))
    """Service principals allowed to publish. Defaults to CloudWatch and Budgets."""

    def __post_init__(self) -> None:
        check_kms_key(self, "kms_key", self.kms_key)
        check.check_mapping(self, "tags", self.tags)
        check.check_strings(self, "emails", self.emails)
        for email in self.emails:
            check.check_pattern(self, "emails", email, r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}", "an email address")
        check.check_strings(self, "extra_publishers", self.extra_publishers)

    @property
    def kms_key_arn(self) -> pulumi.Input[str]:
        """The ARN of ``kms_key``."""
        return kms_key_arn(self.kms_key)


class Alarms(pulumi.ComponentResource):
    """An encrypted SNS topic that CloudWatch and Budgets may publish to, and the plane's alarms.

    Every alarm that stands for a failure mode notifies the topic when it fires and when it recovers.
    The burn-rate alarms of an SLO notify nobody themselves: their composite alarm does.
    """

    topic: aws.sns.Topic
    """The alerts topic; the budget also notifies it."""
    topic_policy: aws.sns.TopicPolicy
    """The topic's policy (CloudWatch and Budgets may publish); whatever notifies the topic depends on it."""
    alarms: list[aws.cloudwatch.MetricAlarm]
    """All metric alarms created."""
    composite_alarms: list[aws.cloudwatch.CompositeAlarm]
    """All composite alarms created (one per SLO)."""

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
        self.composite_alarms: list[aws.cloudwatch.CompositeAlarm] = []
        self._tags = tags
        self.register_outputs({"topic_arn": self.topic.arn})

    def watch(self, modes: Sequence[FailureMode]) -> None:
        """Create the alarm of each failure mode that has a detector, named :attr:`FailureMode.alarm_name`."""
        for mode in modes:
            if isinstance(mode.detector, AlarmRule):
                self.alarms.append(self._metric_alarm(mode, mode.detector))
            elif isinstance(mode.detector, QueryRule):
                self.alarms.append(self._query_alarm(mode, mode.detector))
            elif isinstance(mode.detector, BurnRateSlo):
                self._slo_alarms(mode, mode.detector)

    def _metric_alarm(self, mode: FailureMode, rule: AlarmRule) -> aws.cloudwatch.MetricAlarm:
        actions = [self.topic.arn]
        common: dict[str, Any] = {
            "alarm_description": _description(mode),
            "alarm_actions": actions,
            "ok_actions": actions,
            "treat_missing_data": rule.treat_missing_data,
            "evaluation_periods": rule.evaluation_periods,
            "datapoints_to_alarm": rule.evaluation_periods,
            "comparison_operator": rule.comparison,
            "threshold": rule.threshold,
            "tags": self._tags,
            "opts": pulumi.ResourceOptions(parent=self),
        }
        if not rule.summed_with and not rule.subtracted:
            single: dict[str, Any] = {
                "period": rule.period,
                "namespace": rule.metric.namespace,
                "metric_name": rule.metric.name,
                "dimensions": dict(rule.metric.dimensions),
                **_statistic(rule.statistic),
            }
            return aws.cloudwatch.MetricAlarm(mode.alarm_name, **single, **common)
        ids = [f"m{i}" for i in range(len(rule.metrics))]
        queries: list[aws.cloudwatch.MetricAlarmMetricQueryArgsDict] = [
            _metric_query(query_id, metric, rule.statistic, rule.period)
            for query_id, metric in zip(ids, rule.metrics, strict=True)
        ]
        added = ids[: len(ids) - len(rule.subtracted)]
        expression = " + ".join(f"FILL({query_id}, 0)" for query_id in added)
        expression += "".join(f" - FILL({query_id}, 0)" for query_id in ids[len(added) :])
        queries.append(
            {
                "id": "total",
                "expression": expression,
                "label": f"{rule.metric.name} ({rule.statistic}, {'difference' if rule.subtracted else 'summed'})",
                "return_data": True,
            }
        )
        return aws.cloudwatch.MetricAlarm(mode.alarm_name, metric_queries=queries, **common)

    def _query_alarm(self, mode: FailureMode, rule: QueryRule) -> aws.cloudwatch.MetricAlarm:
        actions = [self.topic.arn]
        return aws.cloudwatch.MetricAlarm(
            mode.alarm_name,
            alarm_description=_description(mode),
            alarm_actions=actions,
            ok_actions=actions,
            treat_missing_data="notBreaching",
            evaluation_periods=rule.evaluation_periods,
            datapoints_to_alarm=rule.evaluation_periods,
            comparison_operator=rule.comparison,
            threshold=rule.threshold,
            metric_queries=[
                {"id": "q", "expression": rule.query, "period": rule.period, "return_data": True, "label": mode.key}
            ],
            tags=self._tags,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _slo_alarms(self, mode: FailureMode, slo: BurnRateSlo) -> None:
        """Four burn-rate alarms (fast and slow, each over its long and short window), one composite.

        Burn rate = (bad / total) / error budget, each summed over the window; an alarm per window fires at
        or above the pair's threshold. The composite fires when both windows of a pair do, and is the only
        one that notifies the topic.
        """
        child = pulumi.ResourceOptions(parent=self)
        names: dict[str, str] = {}
        members: list[aws.cloudwatch.MetricAlarm] = []
        for window in BURN_WINDOWS:
            threshold = window.burn_rate(slo.window_days)
            for span, seconds in (("long", window.long_seconds), ("short", window.short_seconds)):
                logical = f"{mode.alarm_name}-{window.name}-{span}"
                alarm = aws.cloudwatch.MetricAlarm(
                    logical,
                    # A fixed physical name: the composite's rule names it (ALARM("<name>")).
                    name=_physical(logical),
                    alarm_description=(
                        f"{mode.component}: {slo.sli} error-budget burn rate over {seconds // 60} min >= {threshold} "
                        f"(part of {mode.alarm_name}; notifies through the composite alarm)"
                    ),
                    comparison_operator="GreaterThanOrEqualToThreshold",
                    threshold=threshold,
                    evaluation_periods=1,
                    datapoints_to_alarm=1,
                    treat_missing_data="notBreaching",
                    metric_queries=[
                        _metric_query("total", slo.total, "Sum", seconds),
                        _metric_query("bad", slo.bad, "Sum", seconds),
                        {
                            "id": "burn",
                            "expression": f"IF(total > 0, bad / total, 0) / {slo.error_budget:.6g}",
                            "label": f"{slo.sli} burn rate ({seconds // 60} min)",
                            "return_data": True,
                        },
                    ],
                    tags=self._tags,
                    opts=child,
                )
                self.alarms.append(alarm)
                members.append(alarm)
                names[f"{window.name}-{span}"] = _physical(logical)
        rule = " OR ".join(
            f'(ALARM("{names[f"{w.name}-long"]}") AND ALARM("{names[f"{w.name}-short"]}"))' for w in BURN_WINDOWS
        )
        actions = [self.topic.arn]
        self.composite_alarms.append(
            aws.cloudwatch.CompositeAlarm(
                mode.alarm_name,
                alarm_name=_physical(mode.alarm_name),
                alarm_description=_description(mode),
                alarm_rule=rule,
                alarm_actions=actions,
                ok_actions=actions,
                tags=self._tags,
                # CloudWatch refuses a composite whose rule names alarms that do not exist yet, and an
                # alarm a composite still names cannot be deleted: create after, delete before.
                opts=pulumi.ResourceOptions(parent=self, depends_on=members),
            )
        )

    def dashboard(
        self, name: str, region: str, rows: Sequence[DashboardRow], budget_usd: float | None = None
    ) -> aws.cloudwatch.Dashboard:
        """One dashboard: a title and a row of widgets per component, plus cost against the budget."""
        body = dashboard_body(region, rows, budget_usd)
        return aws.cloudwatch.Dashboard(
            f"{self._name}-dashboard",
            dashboard_name=name,
            dashboard_body=pulumi.Output.json_dumps(body),
            opts=pulumi.ResourceOptions(parent=self),
        )


COST_REGION = "us-east-1"
"""AWS publishes the ``AWS/Billing`` ``EstimatedCharges`` metric in us-east-1 only, once billing alerts are
enabled (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/monitor_estimated_charges_with_cloudwatch.html)."""


def _physical(logical: str) -> str:
    """The physical name of an alarm the program names itself: ``<project>-<stack>-<logical>`` (unique per
    account and region, at most 255 characters)."""
    return f"{pulumi.get_project()}-{pulumi.get_stack()}-{logical}"[:255]


def _statistic(statistic: str) -> dict[str, str]:
    """``statistic`` or ``extended_statistic`` (percentiles such as ``p99``) of a MetricAlarm."""
    standard = {"SampleCount", "Average", "Sum", "Minimum", "Maximum"}
    return {"statistic": statistic} if statistic in standard else {"extended_statistic": statistic}


def _metric_query(
    query_id: str, metric: Metric, statistic: str, period: int
) -> aws.cloudwatch.MetricAlarmMetricQueryArgsDict:
    return {
        "id": query_id,
        "return_data": False,
        "metric": {
            "namespace": metric.namespace,
            "metric_name": metric.name,
            "dimensions": dict(metric.dimensions),
            "stat": statistic,
            "period": period,
        },
    }


def _description(mode: FailureMode) -> str:
    text = f"{mode.component}: {mode.meaning}. First response: {mode.first_response}. Config: {mode.field}."
    return text[:1024]


def _metric_row(metric: Metric, statistic: str) -> list[Any]:
    """A dashboard ``metrics`` entry: namespace, name, dimension name/value pairs, then the rendering options."""
    row: list[Any] = [metric.namespace, metric.name]
    for key, value in sorted(metric.dimensions.items()):
        row.extend([key, value])
    row.append({"stat": statistic, "label": f"{metric.name} {statistic}"})
    return row


def dashboard_body(region: str, rows: Sequence[DashboardRow], budget_usd: float | None) -> dict[str, Any]:
    """The dashboard body (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html):
    a text widget per row title, then the row's metric widgets, height 6, laid out left to right."""
    widgets: list[dict[str, Any]] = []
    y = 0
    for row in rows:
        widgets.append(
            {"type": "text", "x": 0, "y": y, "width": 24, "height": 1, "properties": {"markdown": f"## {row.title}"}}
        )
        y += 1
        x = 0
        graphs: list[tuple[int, str, list[Any]]] = [
            (w.width, w.title, [_metric_row(m, stat) for m, stat in w.metrics]) for w in row.widgets
        ]
        graphs.extend(
            (8, title, [[{"expression": expression, "id": "e1", "label": title}]])
            for title, expression in row.search_widgets
        )
        for width, title, metrics in graphs:
            if x + width > 24:
                x, y = 0, y + 6
            widgets.append(
                {
                    "type": "metric",
                    "x": x,
                    "y": y,
                    "width": width,
                    "height": 6,
                    "properties": {
                        "title": title,
                        "region": region,
                        "view": "timeSeries",
                        "stacked": False,
                        "period": 300,
                        "metrics": metrics,
                    },
                }
            )
            x += width
        y += 6
    if budget_usd is not None:
        widgets.append(
            {
                "type": "text",
                "x": 0,
                "y": y,
                "width": 24,
                "height": 1,
                "properties": {"markdown": "## Cost against budget"},
            }
        )
        widgets.append(
            {
                "type": "metric",
                "x": 0,
                "y": y + 1,
                "width": 24,
                "height": 6,
                "properties": {
                    "title": "Estimated charges this month (whole account) against the stack's monthly budget",
                    "region": COST_REGION,
                    "view": "timeSeries",
                    "stacked": False,
                    "period": 21600,
                    "metrics": [["AWS/Billing", "EstimatedCharges", "Currency", "USD", {"stat": "Maximum"}]],
                    "annotations": {"horizontal": [{"label": "monthly budget", "value": budget_usd}]},
                },
            }
        )
    return {"widgets": widgets}


def _key(value: str) -> str:
    """A stable, name-safe key for a repeated child (not its list position)."""
    return hashlib.sha256(value.encode()).hexdigest()[:8]
