"""Readable terminal output; ANSI colour only when asked (the CLI asks when stdout is a TTY
and ``NO_COLOR`` is unset)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from .. import bootstrap
from ..diff import PropertyChange, StackDiff, is_blocking, is_cloud_resource, resource_counts
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


def top_component(resource: dict[str, Any], by_urn: dict[str, dict[str, Any]]) -> str:
    """``name (Type)`` of the outermost ComponentResource above a resource, or ``(stack)``."""
    owner = "(stack)"
    urn = resource.get("parent")
    while urn and urn in by_urn:
        record = by_urn[urn]
        if not record.get("custom") and record["type"] != "pulumi:pulumi:Stack":
            owner = f"{record['name']} ({record['type']})"
        urn = record.get("parent")
    return owner


def violation_line(v: dict[str, Any]) -> str:
    """One violation: enforcement, policy, resource, message (and exception)."""
    where = v.get("resource_name") or "(stack)"
    text = f"{v.get('enforcement', '?')} {v.get('severity', '?')} {v.get('policy')} {where}: {v.get('message')}"
    if v.get("field"):
        text += f" [config: {v['field']}]"
    if v.get("exception"):
        text += f" (excepted: {v['exception'].get('reason', 'no reason given')})"
    return text


def render_plan(document: dict[str, Any], color: bool = False, notes: Sequence[str] = ()) -> str:
    """Resources by component and type, then policies and cost when present."""
    resources = [r for r in document["resources"] if r["type"] != "pulumi:pulumi:Stack"]
    by_urn = {r["urn"]: r for r in document["resources"]}
    counts_ = resource_counts(document)
    lines = [
        paint(
            f"Plan for stack '{document['stack']}' of project '{document.get('project')}': {counts_['cloud']} cloud "
            f"resources in {counts_['components']} components (and {counts_['providers']} providers; every count "
            "below is of cloud resources)",
            "bold",
            color,
        ),
        "",
    ]
    groups: dict[str, Counter[str]] = {}
    for record in resources:
        if is_cloud_resource(record):
            groups.setdefault(top_component(record, by_urn), Counter())[record["type"]] += 1
    lines.append(f"Components ({counts_['components']}):")
    for owner in sorted(groups):
        counts = groups[owner]
        lines.append(f"  {owner}: {sum(counts.values())} resources")
        lines.extend(f"      {count:3d}  {type_}" for type_, count in sorted(counts.items()))
    lines.append("")
    totals = Counter(r["type"] for r in resources if is_cloud_resource(r))
    lines.append(f"Resources by type ({sum(totals.values())} cloud resources):")
    for type_, count in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {count:4d}  {type_}")
    lines.append("")
    lines.extend(bootstrap.render_text(document))
    policies = document.get("policies")
    if isinstance(policies, dict):
        violations = policies.get("violations") or []
        blocking = [v for v in violations if is_blocking(v)]
        lines.append(
            f"Policies ({policies.get('pack')} {policies.get('version')}, {len(policies.get('policies') or [])} "
            f"policies): {len(violations)} violations, {len(blocking)} blocking"
        )
        for v in violations:
            style = "red" if is_blocking(v) else "yellow" if not v.get("exception") else "dim"
            lines.append("  " + paint(violation_line(v), style, color))
    else:
        lines.append(paint("Policies: not evaluated", "yellow", color))
    checks = document.get("checks")
    if isinstance(checks, dict):
        findings = checks.get("violations") or []
        lines.append(
            f"System checks ({len(checks.get('checks') or [])} checks, as of {checks.get('as_of')}): "
            f"{len(findings)} findings, {sum(1 for v in findings if is_blocking(v))} blocking"
        )
        for v in findings:
            lines.append("  " + paint(violation_line(v), "red" if is_blocking(v) else "yellow", color))
    else:
        lines.append(paint("System checks: not run", "yellow", color))
    cost = document.get("cost")
    if isinstance(document.get("placement"), dict):
        from ..advise import render_text as render_placement

        lines.extend(render_placement(document["placement"]).splitlines())
    if isinstance(cost, dict):
        lines.append(f"Cost: {money(cost.get('total_monthly'))} per month ({cost.get('region')})")
        top = sorted(cost.get("resources") or [], key=lambda r: (-float(r.get("monthly") or 0), r.get("urn", "")))
        priced = [r for r in top if r.get("monthly")]
        for record in priced[:COST_LINES]:
            lines.append(f"  {money(record['monthly']):>12}  {record.get('name')} ({record.get('type')})")
        if len(priced) > COST_LINES:
            rest = sum(float(r["monthly"]) for r in priced[COST_LINES:])
            lines.append(
                f"  {money(round(rest, 2)):>12}  the other {len(priced) - COST_LINES} priced resources "
                "(the 10 largest are listed; --format json or markdown lists all)"
            )
    else:
        lines.append(paint("Cost: not estimated", "yellow", color))
    lines.extend(quota_lines(document.get("quotas"), color, str(document["stack"])))
    lines.extend(paint(f"note: {n}", "yellow", color) for n in notes)
    return "\n".join(lines) + "\n"


def quota_lines(quotas: Any, color: bool = False, stack: str = "<stack>") -> list[str]:
    """The plan's ``quotas`` section: one line per quota with the value needed, then its reasons.

    Nothing for a plan without the section (plans written before it existed).
    """
    if not isinstance(quotas, dict):
        return []
    required = quotas.get("required") or []
    lines = [
        f"Quotas needed in {quotas.get('region')} ({len(required)}; check them with "
        f"`blueprint preflight --stack {stack}`):"
    ]
    for need in required:
        lines.append(
            f"  {need.get('needed'):>6} {need.get('unit')}  {need.get('service_code')}/{need.get('quota_code')} "
            f"{need.get('quota_name')}"
        )
        lines.extend(paint(f"           {reason}", "dim", color) for reason in need.get("reasons") or [])
    lines.extend(paint(f"  not computed: {problem}", "yellow", color) for problem in quotas.get("problems") or [])
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
        from ..advise import placement_changes

        lines.extend(f"  Placement: {c.message}" for c in placement_changes(d.base, d.head))
        p = d.policies
        lines.append(
            f"  Policies and system checks: {len(p.new)} new violations, {len(p.fixed)} fixed, "
            f"{len(p.blocking)} blocking"
        )
        for v in p.new:
            lines.append("      " + paint("NEW   " + violation_line(v), "red" if is_blocking(v) else "yellow", color))
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
