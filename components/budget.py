"""Budget: an AWS Budgets monthly cost budget for the stack."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from . import validation as check


@dataclass(frozen=True)
class BudgetArgs:
    """Inputs of :class:`Budget`. Checked at construction: a bad value raises naming the field."""

    monthly_limit_usd: float
    """Monthly cost limit in USD, above 0 and at most 10,000,000. Required."""
    filter_tags: Mapping[str, str]
    """Cost-allocation tags identifying the stack's spend (``environment``, ``cost-center``).
    They must be activated as cost-allocation tags in the billing console. Required."""
    tags: Mapping[str, str]
    """Tags of the budget itself. Required."""
    topic: aws.sns.Topic | None = None
    """Alerts topic notified at every threshold (``Alarms.topic``). Defaults to none; then ``emails``
    must name someone."""
    emails: Sequence[str] = ()
    """Email recipients at every threshold. Defaults to none."""
    actual_thresholds_percent: Sequence[float] = (80.0, 100.0)
    """Actual-spend thresholds, each above 0 and at most 1000 percent. Defaults to 80% and 100%."""
    forecast_thresholds_percent: Sequence[float] = (100.0,)
    """Forecast-spend thresholds, each above 0 and at most 1000 percent. Defaults to 100%."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources the budget is created after. Defaults to none. Pass the topic policy that lets
    ``budgets.amazonaws.com`` publish to ``topic``: AWS Budgets cannot notify a topic whose policy
    does not admit it yet."""

    def __post_init__(self) -> None:
        check.check_number(self, "monthly_limit_usd", self.monthly_limit_usd, 0.0, 10_000_000.0)
        if self.monthly_limit_usd <= 0:
            check.fail(self, "monthly_limit_usd", f"{self.monthly_limit_usd} must be above 0")
        check.check_mapping(self, "filter_tags", self.filter_tags)
        check.check_mapping(self, "tags", self.tags)
        check.check_strings(self, "emails", self.emails)
        if self.topic is None and not self.emails:
            check.fail(self, "topic", "none given and no emails either; give topic or emails so alerts reach someone")
        for name in ("actual_thresholds_percent", "forecast_thresholds_percent"):
            for threshold in getattr(self, name):
                check.check_number(self, name, threshold, 0.0, 1000.0)
                if threshold <= 0:
                    check.fail(self, name, f"{threshold} must be above 0")


class Budget(pulumi.ComponentResource):
    """A monthly COST budget filtered by the stack's cost-allocation tags, with alerts.

    Its Args raise ``ValueError`` when neither a topic nor an email is given: a budget nobody hears is
    no control.
    """

    budget: aws.budgets.Budget

    def __init__(self, name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-ai:governance:Budget", name, None, opts)
        topics: list[pulumi.Input[str]] = [args.topic.arn] if args.topic is not None else []
        notifications: list[aws.budgets.BudgetNotificationArgsDict] = []
        for kind, thresholds in (
            ("ACTUAL", args.actual_thresholds_percent),
            ("FORECASTED", args.forecast_thresholds_percent),
        ):
            for threshold in sorted(thresholds):
                notification: aws.budgets.BudgetNotificationArgsDict = {
                    "comparison_operator": "GREATER_THAN",
                    "notification_type": kind,
                    "threshold": threshold,
                    "threshold_type": "PERCENTAGE",
                }
                if topics:
                    notification["subscriber_sns_topic_arns"] = topics
                if args.emails:
                    notification["subscriber_email_addresses"] = sorted(args.emails)
                notifications.append(notification)
        self.budget = aws.budgets.Budget(
            f"{name}-monthly",
            budget_type="COST",
            time_unit="MONTHLY",
            limit_amount=f"{args.monthly_limit_usd:.2f}",
            limit_unit="USD",
            filter_expression=_tag_filter(args.filter_tags),
            notifications=notifications,
            tags=dict(args.tags),
            # depends_on on the child itself: a component's own depends_on does not order its children.
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.register_outputs({"budget_name": self.budget.name})


def _tag_filter(tags: Mapping[str, str]) -> aws.budgets.BudgetFilterExpressionArgsDict:
    """A Budgets filter expression matching spend that carries every tag in ``tags`` (AND)."""
    operands: list[aws.budgets.BudgetFilterExpressionAndArgsDict] = [
        {"tags": {"key": key, "values": [value], "match_options": ["EQUALS"]}} for key, value in sorted(tags.items())
    ]
    if len(operands) == 1:
        return {"tags": operands[0]["tags"]}
    return {"ands": operands}
