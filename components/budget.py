"""Budget: an AWS Budgets monthly cost budget for the stack."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class BudgetArgs:
    """Inputs of :class:`Budget`."""

    monthly_limit_usd: float
    """Monthly cost limit in USD. Required."""
    filter_tags: Mapping[str, str]
    """Cost-allocation tags identifying the stack's spend (``environment``, ``cost-center``).
    They must be activated as cost-allocation tags in the billing console. Required."""
    tags: Mapping[str, str]
    """Tags of the budget itself. Required."""
    topic_arn: pulumi.Input[str] | None = None
    """Alerts topic notified at every threshold. Defaults to none."""
    emails: Sequence[str] = ()
    """Email recipients at every threshold. Defaults to none."""
    actual_thresholds_percent: Sequence[float] = (80.0, 100.0)
    """Actual-spend thresholds. Defaults to 80% and 100%."""
    forecast_thresholds_percent: Sequence[float] = (100.0,)
    """Forecast-spend thresholds. Defaults to 100%."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources the budget is created after. Defaults to none. Pass the topic policy that lets
    ``budgets.amazonaws.com`` publish to ``topic_arn``: AWS Budgets cannot notify a topic whose policy
    does not admit it yet."""


class Budget(pulumi.ComponentResource):
    """A monthly COST budget filtered by the stack's cost-allocation tags, with alerts.

    Raises ``ValueError`` when neither a topic nor an email is given: a budget nobody hears is
    no control.
    """

    budget: aws.budgets.Budget

    def __init__(self, name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-ai:governance:Budget", name, None, opts)
        if args.topic_arn is None and not args.emails:
            raise ValueError(f"Budget '{name}': give topic_arn or emails so alerts reach someone")
        topics: list[pulumi.Input[str]] = [args.topic_arn] if args.topic_arn is not None else []
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
