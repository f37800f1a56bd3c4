"""Governance sections: ``alarms``, ``budget`` and ``usage`` (the cost model's assumptions)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from hybrid_ai_platform.components.budget import BudgetArgs
from hybrid_ai_platform.components.preprocessing import PipelineAlarmsArgs
from hybrid_ai_platform.contracts import (
    USAGE_DEFAULT_FUNCTION_DURATION_MS,
    USAGE_DEFAULT_FUNCTION_REQUESTS,
    USAGE_DEFAULT_NAT_GB,
    USAGE_DEFAULT_PLACEMENT_THRESHOLD_PERCENT,
    USAGE_DEFAULT_SQS_REQUESTS,
    USAGE_MAX_NODE_HOURS,
)

from .base import Email, _Model, _unique_ci, args_default


class AlarmsConfig(_Model):
    """CloudWatch alarms and their SNS topic."""

    emails: list[Email] = Field(default_factory=list)
    """Email subscriptions to the alerts topic. Defaults to none."""

    @field_validator("emails")
    @classmethod
    def _unique_emails(cls, value: list[str]) -> list[str]:
        return _unique_ci(value)

    oldest_message_age_seconds: int = Field(
        default=args_default(PipelineAlarmsArgs, "oldest_message_age_seconds"), ge=60
    )
    """Alarm when a queue's oldest message is older than this. Defaults to 900 s."""
    lambda_errors_threshold: int = Field(default=args_default(PipelineAlarmsArgs, "lambda_errors_threshold"), ge=1)
    """Alarm when a function's errors in five minutes reach this. Defaults to 1."""
    lambda_throttles_threshold: int = Field(
        default=args_default(PipelineAlarmsArgs, "lambda_throttles_threshold"), ge=1
    )
    """Alarm when a function's throttles in five minutes reach this. Defaults to 1."""
    records_failed_threshold: int = Field(default=args_default(PipelineAlarmsArgs, "records_failed_threshold"), ge=1)
    """Alarm when a function's failed records (its ``RecordsFailed`` metric) in five minutes reach
    this. Defaults to 1."""
    duration_timeout_ratio: float = Field(
        default=args_default(PipelineAlarmsArgs, "duration_timeout_ratio"), gt=0, le=1
    )
    """Alarm when a function's longest invocation in five minutes reaches this share of its timeout.
    Defaults to 0.9 (an invocation near the timeout is about to be cut off)."""
    gpu_temperature_celsius: int | None = Field(default=85, ge=40, le=110)
    """Alarm when the hottest GPU of a GPU node group reaches this temperature (Container Insights'
    ``node_gpu_temperature``) for 15 minutes: data-centre GPUs throttle their clocks near 90 °C. Defaults to
    85. ``null`` turns the alarms off, which the alarm-coverage system check reports as blocking."""
    dlq_oldest_message_age_seconds: int = Field(
        default=args_default(PipelineAlarmsArgs, "dlq_oldest_message_age_seconds"), ge=60, le=1_209_600
    )
    """Alarm when a dead-letter queue's oldest message is older than this (the DLQ keeps messages 14
    days; redrive them before they expire). Defaults to 3 days."""


class BudgetConfig(_Model):
    """The stack's AWS Budgets monthly cost budget."""

    monthly_limit_usd: float = Field(gt=0, le=10_000_000)
    """Monthly cost budget in USD for resources tagged with this stack. Required."""
    actual_thresholds_percent: list[float] = Field(
        default_factory=lambda: list(args_default(BudgetArgs, "actual_thresholds_percent"))
    )
    """Alert when actual spend passes these percentages. Defaults to 80 and 100."""
    forecast_thresholds_percent: list[float] = Field(
        default_factory=lambda: list(args_default(BudgetArgs, "forecast_thresholds_percent"))
    )
    """Alert when forecast spend passes these percentages. Defaults to 100."""
    emails: list[Email] = Field(default_factory=lambda: list(args_default(BudgetArgs, "emails")), max_length=10)
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

    requests_per_month: int = Field(default=USAGE_DEFAULT_FUNCTION_REQUESTS, ge=0)
    """Invocations per month. Defaults to 100,000."""
    average_duration_ms: int = Field(default=USAGE_DEFAULT_FUNCTION_DURATION_MS, ge=1)
    """Average billed duration. Defaults to 2,000 ms."""
    peak_to_mean: float = Field(default=1.0, ge=1, le=1000)
    """Burst shape: the busiest moment's request rate over the month's mean rate (1 = flat). Sizes
    provisioned concurrency and cluster pods for the placement advisor (docs/placement.md). Defaults to 1.0."""
    hourly_profile: list[Annotated[float, Field(ge=0)]] | None = Field(default=None, min_length=24, max_length=24)
    """Burst shape as 24 relative hourly request weights (any unit); when set it replaces ``peak_to_mean``
    by max/mean of the 24 values. Defaults to none: ``peak_to_mean`` is used."""


class ClusterUsage(_Model):
    """Cluster-side assumptions of the placement advisor (docs/placement.md, ``## Cost model``)."""

    node_type: str = Field(default="m7i.large", min_length=1)
    """Spot CPU node type the pods run on (priced from the price table). Defaults to ``m7i.large``."""
    pods_per_node: int = Field(default=2, ge=1, le=250)
    """Worker pods that fit on one node. Defaults to 2."""
    pod_concurrency: int = Field(default=1, ge=1, le=1000)
    """Requests one pod serves at once. Defaults to 1 (the worker handles one message at a time)."""
    utilisation_target: float = Field(default=0.7, gt=0, le=1)
    """Share of pod capacity used at the peak (the autoscaler's target). Defaults to 0.7."""
    fixed_node_share: float = Field(default=0.1, ge=0, le=100)
    """On-demand nodes of ``node_type`` billed to each function all month whatever its traffic (its share
    of the always-on system capacity). Defaults to 0.1."""
    spot_price_per_hour: float | None = Field(default=None, gt=0)
    """Measured spot price of ``node_type`` in USD per hour. Defaults to none: the price table's on-demand
    price times its ``ec2_spot_fraction_of_on_demand`` assumption."""


class UsageConfig(_Model):
    """Usage assumptions for the monthly cost estimate (like an Infracost usage file)."""

    functions: dict[str, FunctionUsage] = Field(default_factory=dict)
    """Per preprocessing function name. Defaults to the ``FunctionUsage`` defaults."""
    sqs_requests_per_month: int = Field(default=USAGE_DEFAULT_SQS_REQUESTS, ge=0)
    """SQS API requests across the stack per month. Defaults to 1,000,000."""
    s3_storage_gb: dict[Literal["landing", "features", "models", "logs"], Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict
    )
    """Stored GB per bucket. Defaults to 100 GB each."""
    gpu_node_hours_per_month: dict[str, Annotated[float, Field(ge=0, le=USAGE_MAX_NODE_HOURS)]] = Field(
        default_factory=dict
    )
    """Node-hours per GPU node group name. Defaults to ``desired_size`` nodes all month."""
    nat_data_processed_gb: float = Field(default=USAGE_DEFAULT_NAT_GB, ge=0)
    """GB through the NAT gateways per month. Defaults to 100."""
    cluster: ClusterUsage = Field(default_factory=ClusterUsage)
    """Cluster-side assumptions of the placement advisor. Defaults to the ``ClusterUsage`` defaults."""
    placement_threshold_percent: float = Field(default=USAGE_DEFAULT_PLACEMENT_THRESHOLD_PERCENT, ge=0)
    """``blueprint diff`` / ``pr-check`` and the ``placement-cost`` policy report a function the change touches
    whose placement costs more than this percentage above the cheapest placement. Defaults to 20."""
