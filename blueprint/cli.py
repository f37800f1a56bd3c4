"""``blueprint``: offline plan of a stack (and, with later stages, policies, cost, diffs).

Exit codes: 0 success; 1 mandatory policy violations; 2 user error (unknown stack, bad config,
missing build); anything else is a bug and prints a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from components.config import ConfigError
from components.preprocessing import PackageError

from .synth import REPO_ROOT, Plan, PlanError, available_stacks, synthesize

EXIT_OK = 0
EXIT_VIOLATIONS = 1
EXIT_USAGE = 2


def render_text(plan: Plan) -> str:
    """A readable summary: resources by component and by type."""
    resources = [r for r in plan.resources if r.type != "pulumi:pulumi:Stack"]
    by_urn = {r.urn: r for r in plan.resources}
    lines = [f"Plan for stack '{plan.stack}' of project '{plan.project}': {len(resources)} resources", ""]
    components = sorted((r for r in resources if not r.custom), key=lambda r: (r.type, r.name))

    def top_component(urn: str | None) -> str:
        owner = "(stack)"
        while urn and urn in by_urn:
            record = by_urn[urn]
            if not record.custom and record.type != "pulumi:pulumi:Stack":
                owner = f"{record.name} ({record.type})"
            urn = record.parent
        return owner

    groups: dict[str, Counter[str]] = {}
    for record in resources:
        if record.custom:
            groups.setdefault(top_component(record.parent), Counter())[record.type] += 1
    lines.append(f"Components ({len(components)}):")
    for owner in sorted(groups):
        counts = groups[owner]
        lines.append(f"  {owner}: {sum(counts.values())} resources")
        for type_, count in sorted(counts.items()):
            lines.append(f"      {count:3d}  {type_}")
    lines.append("")
    totals = Counter(r.type for r in resources if r.custom)
    lines.append(f"Resources by type ({sum(totals.values())} custom resources):")
    for type_, count in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {count:4d}  {type_}")
    return "\n".join(lines) + "\n"


def _plan(args: argparse.Namespace) -> int:
    plan = synthesize(args.stack, root=args.root)
    if args.format == "json":
        text = plan.dumps()
    else:
        text = render_text(plan)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _stacks(args: argparse.Namespace) -> int:
    for name in available_stacks(args.root):
        print(name)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(prog="blueprint", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="project root holding Pulumi.yaml (default: this checkout)")
    sub = parser.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="synthesize a stack offline and show every resource")
    plan.add_argument("--stack", "-s", required=True, help="stack name: stacks/Pulumi.<stack>.yaml")
    plan.add_argument("--format", "-f", choices=["text", "json"], default="text", help="output format (default: text)")
    plan.add_argument("--output", "-o", help="write to this file instead of standard output")
    plan.set_defaults(handler=_plan)
    stacks = sub.add_parser("stacks", help="list the shipped stacks")
    stacks.set_defaults(handler=_stacks)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``blueprint`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except (PlanError, ConfigError, PackageError) as exc:
        print(f"blueprint: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
