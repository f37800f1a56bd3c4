"""``blueprint advise``: where each preprocessing function is cheapest, and its break-even rate.

The figures come from :mod:`hybrid_ai_platform.policies.placement` (docs/placement.md, ``## Cost model``),
the one implementation shared with the ``placement`` plan section, the PR comment of ``diff`` /
``pr-check`` (:func:`placement_changes`) and the advisory ``placement-cost`` policy. Renderers: a text
table, a Markdown table with a Mermaid ``xychart-beta`` per function (renders in GitHub comments), the
JSON section, and an SVG chart of monthly cost against request rate with the break-even marked
(``--chart FILE.svg``; written by hand, no plotting library).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from hybrid_ai_platform.contracts import USAGE_DEFAULT_PLACEMENT_THRESHOLD_PERCENT
from hybrid_ai_platform.policies.placement import (
    PLACEMENTS,
    Advice,
    PlacementInputError,
    advice_objects,
    advise,
    lambda_cost_per_request,
)

from .plandoc import PlacementAdvice, PlacementSection, PlanDocument

DEFAULT_THRESHOLD_PERCENT = USAGE_DEFAULT_PLACEMENT_THRESHOLD_PERCENT
"""A placement more than this much costlier than the cheapest is reported. Defaults to 20%."""
LABELS = {"lambda": "Lambda on-demand", "lambda-provisioned": "Lambda provisioned", "cluster": "Cluster (spot)"}
COLOURS = {"lambda": "#d97706", "lambda-provisioned": "#7c3aed", "cluster": "#2563eb"}


class AdviseInputError(Exception):
    """Bad ``--measured`` argument or file, or usage the advisor cannot price: exit 2."""


def _money(value: float) -> str:
    return f"${value:,.2f}"


def compact(value: float) -> str:
    """``1.5M``, ``450k``, ``999``: a request rate for chart labels."""
    if value >= 1e6:
        return f"{value / 1e6:.3g}M"
    if value >= 1e3:
        return f"{value / 1e3:.3g}k"
    return f"{value:.3g}"


def _rate(value: float | None) -> str:
    return "none (Lambda stays cheaper)" if value is None else f"{value:,.0f} requests/month"


def parse_measured(values: Sequence[str]) -> dict[str, list[tuple[str, Any]]]:
    """``--measured FUNCTION=FILE`` arguments as ``{function: [(file, parsed JSON)]}``."""
    measured: dict[str, list[tuple[str, Any]]] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise AdviseInputError(f"--measured {value!r}: write FUNCTION=FILE (e.g. transactions=tuning.json)")
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise AdviseInputError(f"--measured {name}={path}: cannot read the file ({exc.strerror})") from None
        except json.JSONDecodeError as exc:
            raise AdviseInputError(f"--measured {name}={path}: not JSON ({exc.msg} at line {exc.lineno})") from None
        measured.setdefault(name, []).append((path, data))
    return measured


def section(document: Mapping[str, Any], measured: Mapping[str, Sequence[tuple[str, Any]]] | None = None) -> Any:
    """The ``placement`` section, with bad usage or measured files raised as :class:`AdviseInputError`."""
    try:
        return advise(document, measured)
    except PlacementInputError as exc:
        raise AdviseInputError(str(exc)) from None


def _advisor_input(document: PlanDocument) -> dict[str, Any]:
    """What the advisor reads of a plan (it lives in the policy pack, which reads JSON)."""
    return {"stack": document.stack, "project": document.project, "config": document.config or {}}


def placement_section(document: PlanDocument) -> PlacementSection:
    """The ``placement`` section of a plan (:class:`PlacementInputError` when its usage cannot be priced)."""
    return PlacementSection.from_json(advise(_advisor_input(document)))


def add_placement(document: PlanDocument) -> list[str]:
    """Add the ``placement`` section to a plan document in place (the ``plan`` hook); return notes.

    Usage the advisor cannot price (a ``usage.cluster.node_type`` without a price) leaves the section out
    with a note: the plan itself is still valid."""
    try:
        document.placement = placement_section(document)
    except PlacementInputError as exc:
        return [f"placement not advised: {exc}"]
    return []


def threshold_percent_of(document: PlanDocument | Mapping[str, Any]) -> float:
    """``usage.placement_threshold_percent`` of the plan's config. Defaults to :data:`DEFAULT_THRESHOLD_PERCENT`."""
    if isinstance(document, PlanDocument):
        config, project = document.config or {}, document.project
    else:
        config, project = document.get("config") or {}, document.get("project")
    usage = config.get(f"{project or 'hybrid-ai-platform'}:usage") or {}
    try:
        return float(usage.get("placement_threshold_percent", DEFAULT_THRESHOLD_PERCENT))
    except (TypeError, ValueError):
        return DEFAULT_THRESHOLD_PERCENT


# --------------------------------------------------------------------------- renderers


def render_text(data: PlacementSection | Mapping[str, Any]) -> str:
    """A table: function, current placement and cost, cheapest placement and cost, break-even rate."""
    section = data if isinstance(data, PlacementSection) else PlacementSection.from_json(data)
    header = ("Function", "Requests/month", "Current", "Monthly", "Cheapest", "Monthly", "Break-even (requests/month)")
    rows = [header]
    for e in section.functions:
        be = e.break_even_requests_per_month
        rows.append(
            (
                e.function,
                f"{e.usage.requests_per_month:,.0f}",
                e.current.placement,
                _money(e.current.monthly),
                e.cheapest.placement,
                _money(e.cheapest.monthly),
                "none" if be is None else f"{be:,.0f}",
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    lines = [f"Placement advice ({section.region}, {section.currency} per month)"]
    for i, row in enumerate(rows):
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    if not section.functions:
        lines.append("(no preprocessing functions)")
    return "\n".join(lines) + "\n"


def markdown_table(data: PlacementSection | Mapping[str, Any]) -> str:
    """The Markdown table of the section."""
    section = data if isinstance(data, PlacementSection) else PlacementSection.from_json(data)
    lines = [
        "| Function | Requests/month | Current | Monthly | Cheapest | Monthly | Break-even (requests/month) |",
        "|---|---:|---|---:|---|---:|---:|",
    ]
    for e in section.functions:
        be = e.break_even_requests_per_month
        lines.append(
            f"| `{e.function}` | {e.usage.requests_per_month:,.0f} | {e.current.placement} "
            f"| {_money(e.current.monthly)} | {e.cheapest.placement} | {_money(e.cheapest.monthly)} "
            f"| {'none' if be is None else f'{be:,.0f}'} |"
        )
    return "\n".join(lines) + "\n"


def mermaid_chart(advice: Advice, points: int = 11) -> str:
    """A Mermaid ``xychart-beta``: monthly cost per placement against requests per month.

    https://mermaid.js.org/syntax/xyChart.html: ``x-axis [labels]``, ``y-axis "title" min --> max``,
    one ``line [values]`` per series. The break-even is named in the title (xychart has no markers).
    """
    rows = advice.curve(points)
    labels = ", ".join(f'"{compact(r["requests_per_month"])}"' for r in rows)
    top = max(r[p] for r in rows for p in PLACEMENTS)
    be = advice.break_even_requests
    title = f"{advice.function.name}: monthly cost (USD) by requests/month"
    if be is not None:
        title += f" - break-even {compact(be)} requests/month"
    lines = [
        "xychart-beta",
        f'    title "{title}"',
        f"    x-axis [{labels}]",
        f'    y-axis "USD per month" 0 --> {math.ceil(top * 1.05) or 1}',
    ]
    for placement in PLACEMENTS:
        lines.append(f"    line [{', '.join(f'{r[placement]:.2f}' for r in rows)}]")
    return "\n".join(lines) + "\n"


def render_markdown(data: PlacementSection | Mapping[str, Any], advices: Sequence[Advice]) -> str:
    """The table and one chart per function (series order: Lambda on-demand, provisioned, cluster)."""
    region = data.region if isinstance(data, PlacementSection) else data["region"]
    parts = [f"## Placement advice ({region})\n", markdown_table(data)]
    legend = ", ".join(f"{i + 1}. {LABELS[p]}" for i, p in enumerate(PLACEMENTS))
    for advice in advices:
        parts.append(f"\n<details><summary>Cost against request rate: {advice.function.name}</summary>\n")
        parts.append(f"\nLines: {legend}.\n\n```mermaid\n{mermaid_chart(advice)}```\n\n</details>\n")
    return "".join(parts)


def render_svg(advice: Advice, width: int = 640, height: int = 400, points: int = 41) -> str:
    """An SVG line chart of the three placements' monthly cost with the break-even marked."""
    left, right, top_pad, bottom = 70, 20, 40, 50
    rows = advice.curve(points)
    x_max = rows[-1]["requests_per_month"] or 1.0
    y_max = max(r[p] for r in rows for p in PLACEMENTS) * 1.05 or 1.0

    def x(v: float) -> float:
        return left + (width - left - right) * v / x_max

    def y(v: float) -> float:
        return height - bottom - (height - bottom - top_pad) * v / y_max

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f"<title>{escape(advice.function.name)}: monthly cost by request rate</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>',
        f'<line x1="{left}" y1="{y(0):.1f}" x2="{width - right}" y2="{y(0):.1f}" stroke="black"/>',
        f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{y(0):.1f}" stroke="black"/>',
        f'<text x="{width / 2:.0f}" y="{height - 12}" text-anchor="middle">requests per month</text>',
        f'<text x="14" y="{height / 2:.0f}" transform="rotate(-90 14 {height / 2:.0f})" '
        'text-anchor="middle">USD per month</text>',
        f'<text x="{width / 2:.0f}" y="20" text-anchor="middle" font-size="13">'
        f"{escape(advice.function.name)}: monthly cost by placement</text>",
    ]
    for i in range(5):
        xv, yv = x_max * i / 4, y_max * i / 4
        out.append(f'<text x="{x(xv):.1f}" y="{y(0) + 15:.1f}" text-anchor="middle">{compact(xv)}</text>')
        out.append(f'<text x="{left - 5}" y="{y(yv) + 4:.1f}" text-anchor="end">{yv:,.0f}</text>')
    for n, placement in enumerate(PLACEMENTS):
        path = " ".join(f"{x(r['requests_per_month']):.1f},{y(r[placement]):.1f}" for r in rows)
        colour = COLOURS[placement]
        out.append(
            f'<polyline class="series" data-placement="{placement}" fill="none" stroke="{colour}" '
            f'stroke-width="2" points="{path}"/>'
        )
        out.append(
            f'<text x="{left + 10}" y="{top_pad + 14 * n + 10}" fill="{colour}">{escape(LABELS[placement])}</text>'
        )
    be = advice.break_even_requests
    if be is not None and be <= x_max:
        y_be = be * lambda_cost_per_request(advice.function, advice.prices)
        out.append(
            f'<line class="break-even" x1="{x(be):.1f}" y1="{top_pad}" x2="{x(be):.1f}" y2="{y(0):.1f}" '
            'stroke="gray" stroke-dasharray="4 3"/>'
        )
        out.append(f'<circle cx="{x(be):.1f}" cy="{y(y_be):.1f}" r="4" fill="black"/>')
        out.append(f'<text x="{x(be) + 6:.1f}" y="{y(y_be) - 6:.1f}">break-even {be:,.0f} requests/month</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_charts(path: Path, advices: Sequence[Advice]) -> list[Path]:
    """Write one SVG per function: ``path`` itself for one function, ``<stem>-<function>.svg`` for several."""
    written = []
    for advice in advices:
        target = path if len(advices) == 1 else path.with_name(f"{path.stem}-{advice.function.name}{path.suffix}")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(render_svg(advice), encoding="utf-8")
        except OSError as exc:
            raise AdviseInputError(f"--chart {target}: cannot write ({exc.strerror})") from None
        written.append(target)
    return written


# --------------------------------------------------------------------------- diff / pr-check


@dataclass(frozen=True)
class PlacementChange:
    """A function the PR moves to another placement or across its break-even point, or whose placement
    is too costly."""

    kind: str
    """``moved``, ``crossing`` or ``costlier``."""
    function: str
    message: str

    def to_json(self) -> dict[str, Any]:
        """JSON form (the ``changes`` of a diff's ``placement`` section)."""
        return {"kind": self.kind, "function": self.function, "message": self.message}


@dataclass(frozen=True)
class FunctionPlacementDiff:
    """One preprocessing function the change touches (new, or with other usage, memory or placement):
    its current placement and monthly cost on both sides, and whether it crossed its break-even point."""

    function: str
    placement_before: str | None
    """The priced current placement at base (``auto`` prices as ``lambda``); ``None``: new in head."""
    placement_after: str
    monthly_before: float | None
    """The monthly cost of the current placement at base; ``None``: new in head."""
    monthly_after: float
    requests_before: float | None
    requests_after: float
    cheapest: str
    cheapest_monthly: float
    overspend_percent: float | None
    """How much costlier head's placement is than the cheapest (``None``: infinitely)."""
    break_even_requests_per_month: float | None
    """At head's figures (``None``: the cluster never gets cheaper)."""
    cheaper_side_before: str | None
    cheaper_side_after: str
    """Which of Lambda on-demand and the cluster is cheaper at each side's rate."""

    @property
    def crossed_break_even(self) -> bool:
        """The cheaper side of Lambda on-demand and the cluster differs between base and head."""
        return self.cheaper_side_before is not None and self.cheaper_side_before != self.cheaper_side_after

    def to_json(self) -> dict[str, Any]:
        """JSON form (one entry of a diff's ``placement.functions``)."""
        return {
            "function": self.function,
            "placement": {"before": self.placement_before, "after": self.placement_after},
            "monthly": {"before": self.monthly_before, "after": self.monthly_after},
            "requests_per_month": {"before": self.requests_before, "after": self.requests_after},
            "cheapest": {"placement": self.cheapest, "monthly": self.cheapest_monthly},
            "overspend_percent": self.overspend_percent,
            "break_even_requests_per_month": self.break_even_requests_per_month,
            "cheaper_side": {"before": self.cheaper_side_before, "after": self.cheaper_side_after},
            "crossed_break_even": self.crossed_break_even,
        }


@dataclass(frozen=True)
class PlacementDiff:
    """The placement facts of a change: the functions it touches and what the PR comment says about them."""

    threshold_percent: float
    """A placement this much costlier than the cheapest is reported (head's ``usage.placement_threshold_percent``)."""
    functions: list[FunctionPlacementDiff]
    changes: list[PlacementChange]
    """Crossings of the break-even point and placements over the threshold, as the PR comment words them."""

    def to_json(self) -> dict[str, Any]:
        """JSON form (the ``placement`` section of a ``blueprint diff --format json`` stack)."""
        return {
            "threshold_percent": self.threshold_percent,
            "functions": [f.to_json() for f in self.functions],
            "changes": [c.to_json() for c in self.changes],
        }


def placement_diff(
    base: PlanDocument | Mapping[str, Any], head: PlanDocument | Mapping[str, Any], threshold: float | None = None
) -> PlacementDiff | None:
    """The placement facts between two plan documents (see :func:`placement_changes`); ``None`` when
    either side cannot be priced."""
    base_doc, head_doc = PlanDocument.coerce(base), PlanDocument.coerce(head)
    threshold_percent = threshold_percent_of(head_doc) if threshold is None else threshold
    try:
        before = {e.function: e for e in placement_section(base_doc).functions}
        after = placement_section(head_doc).functions
    except (PlacementInputError, KeyError, TypeError, ValueError):
        return None
    functions: list[FunctionPlacementDiff] = []
    changes: list[PlacementChange] = []
    for e in after:
        name = e.function
        old = before.get(name)
        if old is not None:
            old_side, new_side = old.cheaper_side, e.cheaper_side
            if old_side != new_side:
                changes.append(
                    PlacementChange(
                        "crossing",
                        name,
                        f"`{name}` crosses its break-even point ({_rate(e.break_even_requests_per_month)}): "
                        f"{old.usage.requests_per_month:,.0f} → {e.usage.requests_per_month:,.0f} "
                        f"requests/month; the cheaper side moves from {old_side} to {new_side} "
                        f"(Lambda on-demand {_money(e.monthly['lambda'])} vs cluster "
                        f"{_money(e.monthly['cluster'])} per month at the new rate)",
                    )
                )
        if old is not None and _comparable(old) == _comparable(e):
            continue  # unchanged by this PR: not the PR's to report
        if old is not None and old.current.placement != e.current.placement:
            delta = e.current.monthly - old.current.monthly
            changes.append(
                PlacementChange(
                    "moved",
                    name,
                    f"`{name}` moves from {old.current.placement} to {e.current.placement}: "
                    f"{_money(old.current.monthly)} → {_money(e.current.monthly)} per month "
                    f"({'+' if delta >= 0 else '-'}{_money(abs(delta))}); the cheapest is {e.cheapest.placement} at "
                    f"{_money(e.cheapest.monthly)}/month",
                )
            )
        functions.append(
            FunctionPlacementDiff(
                function=name,
                placement_before=None if old is None else old.current.placement,
                placement_after=e.current.placement,
                monthly_before=None if old is None else old.current.monthly,
                monthly_after=e.current.monthly,
                requests_before=None if old is None else old.usage.requests_per_month,
                requests_after=e.usage.requests_per_month,
                cheapest=e.cheapest.placement,
                cheapest_monthly=e.cheapest.monthly,
                overspend_percent=e.overspend_percent,
                break_even_requests_per_month=e.break_even_requests_per_month,
                cheaper_side_before=None if old is None else old.cheaper_side,
                cheaper_side_after=e.cheaper_side,
            )
        )
        over = e.overspend_percent
        if over is None or over > threshold_percent:
            changes.append(
                PlacementChange(
                    "costlier",
                    name,
                    f"`{name}` on {e.current.placement} costs {_money(e.current.monthly)}/month, "
                    f"{'∞' if over is None else f'{over:.0f}%'} more than {e.cheapest.placement} at "
                    f"{_money(e.cheapest.monthly)}/month (threshold {threshold_percent:g}%)",
                )
            )
    return PlacementDiff(threshold_percent, functions, changes)


def placement_changes(
    base: PlanDocument | Mapping[str, Any], head: PlanDocument | Mapping[str, Any], threshold: float | None = None
) -> list[PlacementChange]:
    """Crossings of the break-even point between two plan documents, and functions the change touches
    (new, or with other usage, memory or placement) whose head placement is more than ``threshold``
    percent costlier than the cheapest, with both figures. ``threshold`` defaults to the head config's
    ``usage.placement_threshold_percent`` (20 when unset). Empty when either side cannot be priced."""
    diff = placement_diff(base, head, threshold)
    return [] if diff is None else diff.changes


def _comparable(entry: PlacementAdvice) -> tuple[Any, ...]:
    return (entry.usage.to_json(), entry.current.to_json(), entry.monthly)


def markdown_changes(changes: Sequence[PlacementChange]) -> str:
    """The PR comment's placement section (empty when nothing to say)."""
    if not changes:
        return ""
    lines = ["**Placement advice** (docs/placement.md):\n"]
    for c in changes:
        icon = {"moved": "🚚", "crossing": "🔀"}.get(c.kind, "💸")
        lines.append(f"- {icon} {c.message}")
    return "\n".join(lines) + "\n\n"


# --------------------------------------------------------------------------- command


def add_parser(sub: Any) -> None:
    """Register ``blueprint advise`` on the CLI's subparsers."""
    advise_cmd = sub.add_parser(
        "advise", help="price each preprocessing function on Lambda and on the cluster; break-even rates"
    )
    advise_cmd.add_argument("--stack", "-s", required=True, help="stack name: stacks/Pulumi.<stack>.yaml")
    advise_cmd.add_argument(
        "--measured",
        action="append",
        default=[],
        metavar="FUNCTION=FILE",
        help="calibrate a function with AWS Lambda Power Tuning output or a CloudWatch GetMetricData export "
        "(repeatable)",
    )
    advise_cmd.add_argument(
        "--chart", type=Path, help="write an SVG chart of cost against request rate (one file per function)"
    )
    advise_cmd.add_argument("--format", "-f", choices=("text", "json", "markdown"), default="text", help="(text)")
    advise_cmd.add_argument("--output", "-o", help="write to this file instead of standard output")
    advise_cmd.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """The ``advise`` handler: the stack's raw config is all it needs (no synthesis)."""
    from .quotas import config_from_stack_config
    from .synth import read_stack_files

    files = read_stack_files(args.stack, args.root)
    config_from_stack_config(args.stack, files.config)  # bad config: ConfigError naming the field, exit 2
    document = {"stack": args.stack, "project": files.project, "config": files.config}
    measured = parse_measured(args.measured)
    known = {
        str(f.get("name"))
        for f in (files.config.get(f"{files.project}:preprocessing") or {}).get("functions") or []
        if isinstance(f, Mapping)
    }
    for name in measured:
        if name not in known:
            raise AdviseInputError(
                f"--measured {name}=...: no preprocessing function '{name}' in stack {args.stack} "
                f"(functions: {', '.join(sorted(known)) or 'none'})"
            )
    data = section(document, measured)
    try:
        advices = advice_objects(document, measured)
    except PlacementInputError as exc:
        raise AdviseInputError(str(exc)) from None
    if args.chart:
        write_charts(args.chart, advices)
    if args.format == "json":
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    elif args.format == "markdown":
        text = render_markdown(data, advices)
    else:
        text = render_text(data)
    from .main import _emit

    _emit(text, args.output)
    return 0
