"""Markdown: the sticky pull-request comment (diffs) and a plan summary.

The comment starts with the hidden marker :data:`MARKER` (the workflow finds and updates the
one comment carrying it), then a summary table (one row per stack), the result line and notes;
the details follow, each in a ``<details>`` block: the Mermaid architecture diagram with the
changed nodes highlighted, the resource changes with their property diffs, policy violations,
and the cost by resource.

GitHub rejects comments longer than 65,536 characters. When the whole report is longer, detail
items are dropped from the bottom (the summary is always kept) and a notice says how many.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import bootstrap
from ..diagram import diff_status, render_mermaid
from ..diff import PropertyChange, StackDiff
from ..plandoc import PlanDocument, QuotasSection, Violation
from . import money

MARKER = "<!-- blueprint:pr-comment -->"
PLAN_MARKER = "<!-- blueprint:plan -->"
GITHUB_COMMENT_LIMIT = 65_536
DIAGRAM_LIMIT = 20_000
"""Largest diagram drawn in a comment (GitHub's Mermaid renderer refuses very large graphs)."""
"""GitHub's maximum comment body, in characters."""
ACTION_LABEL = {
    "create": "🟢 create",
    "update": "🟡 update",
    "replace": "🟣 replace",
    "delete": "🔴 delete",
}


def size(text: str) -> int:
    """Length as GitHub counts it (UTF-16 code units: an emoji outside the BMP counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def code(value: str) -> str:
    """Inline code span safe for table cells."""
    return "`" + value.replace("`", "'").replace("|", "\\|").replace("\n", " ") + "`"


def show(value: Any, limit: int = 80) -> str:
    """A property value as inline code (shortened)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return code(text if len(text) <= limit else text[: limit - 1] + "…")


def change_line(change: PropertyChange) -> str:
    """One bullet of a resource's property diff."""
    before = "_(absent)_" if change.added else show(change.before)
    after = "_(absent)_" if change.removed else show(change.after)
    line = f"- {code(change.path)}: {before} → {after}"
    if change.replaces:
        line += f" — **forces replacement** ({change.reason})"
    return line


def violation_row(v: Violation, state: str) -> str:
    """A table row for a violation."""
    status = "⛔ blocking" if v.blocking else ("waived" if v.waived else v.enforcement)
    where = code(v.resource_name) if v.resource_name else "_stack_"
    message = v.message.replace("|", "\\|").replace("\n", " ")
    if v.field:
        message += f" (config {code(v.field)})"
    return f"| {state} | {code(v.policy)} | {where} | {v.severity} | {status} | {message} |"


@dataclass
class Section:
    """A detail section: opening text, droppable items, closing text."""

    opening: str
    items: list[str] = field(default_factory=list)
    closing: str = ""


def _assemble(head: str, sections: Sequence[Section], keep: int, total: int) -> str:
    parts = [head]
    if keep < total:
        parts.append(
            f"> ⚠️ **Truncated:** {total - keep} of {total} detail items are not shown to stay under GitHub's "
            f"{GITHUB_COMMENT_LIMIT:,}-character comment limit. Run `blueprint pr-check` locally or download "
            "the `blueprint-report` workflow artifact for the full report.\n"
        )
    budget = keep
    for section in sections:
        if budget <= 0:
            break
        shown = section.items[:budget]
        budget -= len(section.items)
        parts.append(section.opening + "".join(shown))
        if len(shown) < len(section.items):
            parts.append(f"\n_… {len(section.items) - len(shown)} more not shown (truncated)._\n\n")
        parts.append(section.closing)
    return "".join(parts)


def fit(head: str, sections: Sequence[Section], limit: int = GITHUB_COMMENT_LIMIT) -> str:
    """The summary plus as many detail items (from the top) as fit in ``limit`` characters."""
    total = sum(len(s.items) for s in sections)
    text = _assemble(head, sections, total, total)
    if size(text) <= limit:
        return text
    low, high = 0, total - 1
    while low < high:  # the largest prefix of items that fits
        middle = (low + high + 1) // 2
        if size(_assemble(head, sections, middle, total)) <= limit:
            low = middle
        else:
            high = middle - 1
    text = _assemble(head, sections, low, total)
    if size(text) > limit:  # the summary alone is too long: cut it, say so
        notice = "\n\n> ⚠️ **Truncated:** the summary itself exceeded GitHub's comment limit.\n"
        text = text[: limit - size(notice) - 1000] + notice
    return text


def summary_table(diffs: Sequence[StackDiff]) -> str:
    """One row per stack: resource counts, cost and violations."""
    rows = [
        "| Stack | add | change | replace | remove | unchanged | cost before | cost after | Δ cost "
        "| new violations | fixed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for d in diffs:
        c = d.cost
        new_blocking = sum(1 for v in d.policies.new if v.blocking)
        new = f"{len(d.policies.new)}" + (f" (⛔ {new_blocking} blocking)" if new_blocking else "")
        if not d.policies.evaluated_head:
            new = "not evaluated"
        rows.append(
            f"| {code(d.stack)} | {d.count('create')} | {d.count('update')} | {d.count('replace')} "
            f"| {d.count('delete')} | {d.unchanged} | {money(c.before, currency=c.currency)} "
            f"| {money(c.after, currency=c.currency)} | {money(c.delta, signed=True, currency=c.currency)} "
            f"| {new} | {len(d.policies.fixed)} |"
        )
    return "\n".join(rows) + "\n"


def _stack_sections(d: StackDiff) -> list[Section]:
    from ..advise import markdown_changes

    placement = markdown_changes(d.placement.changes if d.placement else [])
    sections = [Section(f"\n### Stack {code(d.stack)}\n\n" + placement)]
    status = diff_status(d.resources)
    mermaid = render_mermaid(d.base, d.head, status)
    if len(mermaid) > DIAGRAM_LIMIT and status:
        mermaid = render_mermaid(d.base, d.head, status, focus=True)
    diagram = f"```mermaid\n{mermaid}```\n"
    if len(mermaid) > DIAGRAM_LIMIT:
        diagram = f"_Diagram omitted: {mermaid.count(chr(10))} lines exceed the {DIAGRAM_LIMIT:,}-character budget._\n"
    legend = ""
    if d.resources:
        legend = "Legend: green = added, yellow = changed, purple = replaced, red dashed = removed.\n\n"
    opening = "<details open>" if d.resources else "<details>"
    sections.append(
        Section(
            f"{opening}<summary>Architecture ({d.stack})</summary>\n\n{legend}",
            [diagram],
            "\n</details>\n\n",
        )
    )
    if d.resources:
        items = []
        for change in d.resources:
            cost = ""
            if change.cost_before is not None or change.cost_after is not None:
                delta = (change.cost_after or 0.0) - (change.cost_before or 0.0)
                cost = f" · {money(delta, signed=True, currency=d.cost.currency)}/month"
            lines = [f"**{ACTION_LABEL[change.action]}** {code(change.name)} ({code(change.type)}){cost}\n"]
            lines.extend(change_line(p) + "\n" for p in change.changes)
            items.append("".join(lines) + "\n")
        sections.append(
            Section(f"<details><summary>Resource changes ({len(d.resources)})</summary>\n\n", items, "</details>\n\n")
        )
    p = d.policies
    rows = [violation_row(v, "🆕 new") for v in p.new] + [violation_row(v, "✅ fixed") for v in p.fixed]
    rows += [violation_row(v, "unchanged") for v in p.unchanged]
    if rows:
        sections.append(
            Section(
                "<details><summary>Policy violations and system-check findings: "
                f"{len(p.new)} new, {len(p.fixed)} fixed, {len(p.unchanged)} unchanged</summary>\n\n"
                "| | Policy | Resource | Severity | Enforcement | Message |\n|---|---|---|---|---|---|\n",
                [r + "\n" for r in rows],
                "\n</details>\n\n",
            )
        )
    if d.cost.lines:
        c = d.cost
        sections.append(
            Section(
                f"<details><summary>Cost by resource ({len(c.lines)} changed)</summary>\n\n"
                "| Resource | Type | before | after | Δ |\n|---|---|---:|---:|---:|\n",
                [
                    f"| {code(x.name)} | {code(x.type)} | {money(x.before, currency=c.currency)} "
                    f"| {money(x.after, currency=c.currency)} | {money(x.delta, signed=True, currency=c.currency)} |\n"
                    for x in c.lines
                ],
                "\n</details>\n\n",
            )
        )
    return sections


def render_diff(diffs: Sequence[StackDiff], notes: Sequence[str] = (), limit: int = GITHUB_COMMENT_LIMIT) -> str:
    """The sticky PR comment for the diffs of one or more stacks."""
    project = next((d.project for d in diffs if d.project), "")
    blocking = sum(len(d.policies.blocking) for d in diffs)
    head = [MARKER, f"## Infrastructure diff{f' — {project}' if project else ''}", "", summary_table(diffs)]
    if blocking:
        stacks = ", ".join(d.stack for d in diffs if d.policies.blocking)
        head.append(
            f"**❌ {blocking} unexcepted mandatory policy violation(s) or system-check finding(s) in {stacks}: "
            "this change cannot deploy.**"
        )
    else:
        head.append("**✅ No unexcepted mandatory policy violations or system-check findings.**")
    all_notes = list(notes) + [f"{d.stack}: {n}" for d in diffs for n in d.notes]
    if all_notes:
        head.append("")
        head.extend(f"> **Note:** {n}  " for n in all_notes)
    sections = [s for d in diffs for s in _stack_sections(d)]
    return fit("\n".join(head) + "\n\n", sections, limit)


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def quota_section(quotas: QuotasSection | None, stack: str = "<stack>") -> Section | None:
    """The plan's ``quotas`` section as a table (quota, value needed, why); None when absent."""
    if quotas is None:
        return None
    return Section(
        f"<details><summary>Quotas needed in {code(quotas.region)} ({len(quotas.required)})</summary>\n\n"
        f"Check them against the account with `blueprint preflight --stack {stack}`.\n\n"
        "| Service | Quota code | Quota | Needed | Why |\n|---|---|---|---:|---|\n",
        [
            f"| {code(n.service_code)} | {code(n.quota_code)} | {n.quota_name} "
            f"| {n.needed} {n.unit} | " + "<br>".join(_cell(r) for r in n.reasons) + " |\n"
            for n in quotas.required
        ]
        # Items, not the closing text: a section without items is not shown at all.
        + [f"\n> ⚠️ Not computed: {_cell(p)}\n" for p in quotas.problems],
        "\n</details>\n\n",
    )


def render_plan(
    document: PlanDocument | dict[str, Any], notes: Sequence[str] = (), limit: int = GITHUB_COMMENT_LIMIT
) -> str:
    """A plan summary: resource counts, cost, violations and the architecture diagram."""
    document = PlanDocument.coerce(document)
    head = [PLAN_MARKER, f"## Plan of stack {code(document.stack)} — {document.project}", ""]
    cost, policies, checks = document.cost, document.policies, document.checks
    violations = policies.violations if policies else []
    findings = checks.violations if checks else []
    head.append(
        "| Cloud resources | Monthly cost | Violations | System-check findings | Blocking |\n|---:|---:|---:|---:|---:|"
    )
    head.append(
        f"| {len(document.cloud_resources)} | {money(cost.total_monthly) if cost else 'not estimated'} "
        f"| {len(violations) if policies else 'not evaluated'} "
        f"| {len(findings) if checks else 'not run'} | {len(document.blocking)} |"
    )
    head.extend(f"\n> **Note:** {n}" for n in notes)
    sections = [
        Section(
            "\n<details open><summary>Architecture</summary>\n\n",
            [f"```mermaid\n{render_mermaid(None, document)}```\n"],
            "\n</details>\n\n",
        )
    ]
    boot = bootstrap.render_markdown(document)
    if boot:
        sections.append(Section("", [boot]))
    if violations:
        sections.append(
            Section(
                "<details><summary>Policy violations</summary>\n\n"
                "| | Policy | Resource | Severity | Enforcement | Message |\n|---|---|---|---|---|---|\n",
                [violation_row(v, "") + "\n" for v in violations],
                "\n</details>\n\n",
            )
        )
    if findings:
        sections.append(
            Section(
                "<details open><summary>System-check findings</summary>\n\n"
                "| | Check | Resource | Severity | Enforcement | Message |\n|---|---|---|---|---|---|\n",
                [violation_row(v, "") + "\n" for v in findings],
                "\n</details>\n\n",
            )
        )
    quotas = quota_section(document.quotas, document.stack)
    if quotas:
        sections.append(quotas)
    if document.placement is not None and document.placement.functions:
        from ..advise import markdown_table

        sections.append(
            Section(
                "<details><summary>Placement advice (docs/placement.md)</summary>\n\n",
                [markdown_table(document.placement)],
                "\n</details>\n\n",
            )
        )
    if cost is not None:
        rows = sorted(cost.resources, key=lambda r: (-float(r.monthly or 0), r.urn))
        sections.append(
            Section(
                "<details><summary>Cost by resource</summary>\n\n| Resource | Type | Monthly |\n|---|---|---:|\n",
                [f"| {code(r.name)} | {code(r.type)} | {money(r.monthly)} |\n" for r in rows if r.monthly],
                "\n</details>\n\n",
            )
        )
    return fit("\n".join(head) + "\n", sections, limit)
