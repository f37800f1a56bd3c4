"""Every stack has an AWS Budgets cost budget."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Meta, StackPolicy
from hybrid_ai_platform.policies.props import get, skip_unknown
from pulumi_policy import Severity, StackValidationArgs

BUDGET = "aws:budgets/budget:Budget"

META = Meta(
    id="BP-BUD-007",
    name="budget-required",
    description="The stack defines an AWS Budgets COST budget with at least one notification.",
    severity=Severity.MEDIUM,
    category="budget",
    resource_types=(BUDGET,),
    remediation="Compose the Budget component (stack config `budget.monthly_limit_usd` and `budget.emails`).",
)


def check(args: StackValidationArgs, config: Mapping[str, Any], report: Callable[..., None]) -> None:
    """Report a stack without a usable cost budget."""
    budgets = [r for r in args.resources if r.resource_type == BUDGET]
    if not budgets:
        report("the stack has no aws:budgets/budget:Budget; nobody is told when spend runs away")
        return
    for budget in budgets:
        with skip_unknown():
            if get(budget.props, "budgetType") == "COST" and get(budget.props, "notifications"):
                return
    report("no budget of the stack is a COST budget with notifications", budgets[0].urn)


POLICY = StackPolicy(META, check)
