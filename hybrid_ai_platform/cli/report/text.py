"""Readable terminal output; ANSI colour only when asked (the CLI asks when stdout is a TTY
and ``NO_COLOR`` is unset)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from .. import bootstrap
from ..diff import PropertyChange, StackDiff
from ..plandoc import STACK_TYPE, PlanDocument, QuotasSection, Resource, RuleSection, Violation
from . import money

_CODES = {"green": "32", "yellow": "33", "red": "31", "magenta": "35", "bold": "1", "dim": "2", "cyan": "36"}
ACTION_STYLE = {
    "create": ("+", "green"),
    "update": ("~", "yellow"),
    "replace": ("±", "magenta"),
    "delete": ("-", "red"),
}


COST_LINES = 10
"""Cost lines the text plan lists (largest first); the rest are summed on one line that says so."""


def paint(text: str, style: str, color: bool) -> str:
    """Wrap ``text`` in an ANSI style when ``color`` is on."""
    return f"\x1b[{_CODES[style]}m{text}\x1b[0m" if color else text


def show_value(value: Any, limit: int = 100) -> str:
    """A short JSON rendering of a property value."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show_change(change: PropertyChange) -> str:
    """``path: before → after`` with absent sides spelled out."""
    if change.added:
        body = f"{change.path}: (absent) → {show_value(change.after)}"
    elif change.removed:
        body = f"{change.path}: {show_value(change.before)} → (absent)"
    else:
        body = f"{change.path}: {show_value(change.before)} → {show_value(change.after)}"
    return body + (f"  [forces replacement: {change.reason}]" if change.replaces else "")


def top_component(resource: Resource, by_urn: dict[str, Resource]) -> str:
    """``name (Type)`` of the outermost ComponentResource above a resource, or ``(stack)``."""
    owner = "(stack)"
    urn = resource.parent
    while urn and urn in by_urn:
        record = by_urn[urn]
        if record.is_component:
            owner = f"{record.name} ({record.type})"
        urn = record.parent
    return owner


def violation_line(v: Violation) -> str:
    """One violation: enforcement, policy, resource, message (and exception)."""
    where = v.resource_name or "(stack)"
    text = f"{v.enforcement} {v.severity} {v.policy} {where}: {v.message}"
    if v.field:
        text += f" [config: {v.field}]"
    if v.exception:
        text += f" (excepted: {v.exception.get('reason', 'no reason given')})"
    return text


def _rule_lines(section: RuleSection, color: bool, waived_style: str) -> list[str]:
    """One painted line per violation: blocking red, advisory yellow, waived ``waived_style``."""
    return [
        "  " + paint(violation_line(v), "red" if v.blocking else "yellow" if not v.waived else waived_style, color)
        for v in section.violations
    ]


def render_plan(document: PlanDocument | dict[str, Any], color: bool = False, notes: Sequence[str] = ()) -> str:
    """Resources by component and type, then policies and cost when present."""
    document = PlanDocument.coerce(document)
    resources = [r for r in document.resources if r.type != STACK_TYPE]
    by_urn = {r.urn: r for r in document.resources}
    counts_ = document.resource_counts()
    lines = [
        paint(
            f"Plan for stack '{document.stack}' of project '{document.project}': {counts_['cloud']} cloud "
            f"resources in {counts_['components']} components (and {counts_['providers']} providers; every count "
            "below is of cloud resources)",
            "bold",
            color,
        ),
        "",
    ]
    groups: dict[str, Counter[str]] = {}
    for record in resources:
        if record.is_cloud_resource:
            groups.setdefault(top_component(record, by_urn), Counter())[record.type] += 1
    lines.append(f"Components ({counts_['components']}):")
    for owner in sorted(groups):
        counts = groups[owner]
        lines.append(f"  {owner}: {sum(counts.values())} resources")
        lines.extend(f"      {count:3d}  {type_}" for type_, count in sorted(counts.items()))
    lines.append("")
    totals = Counter(r.type for r in resources if r.is_cloud_resource)
    lines.append(f"Resources by type ({sum(totals.values())} cloud resources):")
    for type_, count in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {count:4d}  {type_}")
    lines.append("")
    lines.extend(bootstrap.render_text(document))
    policies = document.policies
    if policies is not None:
        lines.append(
            f"Policies ({policies.pack} {policies.version}, {len(policies.rules)} "
            f"policies): {len(policies.violations)} violations, {len(policies.blocking)} blocking"
        )
        lines.extend(_rule_lines(policies, color, "dim"))
    else:
        lines.append(paint("Policies: not evaluated", "yellow", color))
    checks = document.checks
    if checks is not None:
        lines.append(
            f"System checks ({len(checks.rules)} checks, as of {checks.as_of}): "
            f"{len(checks.violations)} findings, {len(checks.blocking)} blocking"
        )
        lines.extend(_rule_lines(checks, color, "yellow"))
    else:
        lines.append(paint("System checks: not run", "yellow", color))
    cost = document.cost
    if document.placement is not None:
        from ..advise import render_text as render_placement

        lines.extend(render_placement(document.placement).splitlines())
    if cost is not None:
        lines.append(f"Cost: {money(cost.total_monthly)} per month ({cost.region})")
        top = sorted(cost.resources, key=lambda r: (-float(r.monthly or 0), r.urn))
        priced = [r for r in top if r.monthly]
        for line in priced[:COST_LINES]:
            lines.append(f"  {money(line.monthly):>12}  {line.name} ({line.type})")
        if len(priced) > COST_LINES:
            rest = sum(float(r.monthly or 0) for r in priced[COST_LINES:])
            lines.append(
                f"  {money(round(rest, 2)):>12}  the other {len(priced) - COST_LINES} priced resources "
                "(the 10 largest are listed; --format json or markdown lists all)"
            )
    else:
        lines.append(paint("Cost: not estimated", "yellow", color))
    lines.extend(quota_lines(document.quotas, color, document.stack))
    lines.extend(paint(f"note: {n}", "yellow", color) for n in notes)
    return "\n".join(lines) + "\n"


def quota_lines(quotas: QuotasSection | None, color: bool = False, stack: str = "<stack>") -> list[str]:
    """The plan's ``quotas`` section: one line per quota with the value needed, then its reasons.

    Nothing for a plan without the section (plans written before it existed).
    """
    if quotas is None:
        return []
    lines = [
        f"Quotas needed in {quotas.region} ({len(quotas.required)}; check them with "
        f"`blueprint preflight --stack {stack}`):"
    ]
    for need in quotas.required:
        lines.append(f"  {need.needed:>6} {need.unit}  {need.service_code}/{need.quota_code} {need.quota_name}")
        lines.extend(paint(f"           {reason}", "dim", color) for reason in need.reasons)
    lines.extend(paint(f"  not computed: {problem}", "yellow", color) for problem in quotas.problems)
    return lines


def render_diff(diffs: Sequence[StackDiff], color: bool = False, notes: Sequence[str] = ()) -> str:
    """Per stack: each changed resource with its property changes, cost and policy deltas."""
    lines: list[str] = []
    for d in diffs:
        lines.append(paint(f"Stack '{d.stack}': {d.base_label} → {d.head_label}", "bold", color))
        for change in d.resources:
            symbol, style = ACTION_STYLE[change.action]
            lines.append(paint(f"  {symbol} {change.action:<8} {change.type}  {change.name}", style, color))
            for prop in change.changes:
                lines.append("        " + paint(show_change(prop), "magenta" if prop.replaces else "dim", color))
        lines.append(
            f"  Resources: {d.count('create')} to create, {d.count('update')} to update, "
            f"{d.count('replace')} to replace, {d.count('delete')} to delete, {d.unchanged} unchanged"
        )
        c = d.cost
        lines.append(
            f"  Cost per month: {money(c.before, currency=c.currency)} → {money(c.after, currency=c.currency)} "
            f"({money(c.delta, signed=True, currency=c.currency)})"
        )
        for line in c.lines:
            lines.append(
                f"      {money(line.delta, signed=True, currency=c.currency):>12}  {line.name} "
                f"({money(line.before, currency=c.currency)} → {money(line.after, currency=c.currency)})"
            )
        lines.extend(f"  Placement: {c.message}" for c in (d.placement.changes if d.placement else []))
        p = d.policies
        lines.append(
            f"  Policies and system checks: {len(p.new)} new violations, {len(p.fixed)} fixed, "
            f"{len(p.blocking)} blocking"
        )
        for v in p.new:
            lines.append("      " + paint("NEW   " + violation_line(v), "red" if v.blocking else "yellow", color))
        for v in p.fixed:
            lines.append("      " + paint("FIXED " + violation_line(v), "green", color))
        lines.extend("  " + paint(f"note: {n}", "yellow", color) for n in d.notes)
        lines.append("")
    blocking = sum(len(d.policies.blocking) for d in diffs)
    if blocking:
        lines.append(paint(f"Result: {blocking} unexcepted mandatory violation(s) or finding(s) in head", "red", color))
    else:
        lines.append(paint("Result: no unexcepted mandatory violations or findings in head", "green", color))
    lines.extend(paint(f"note: {n}", "yellow", color) for n in notes)
    return "\n".join(lines) + "\n"
