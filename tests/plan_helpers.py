"""Helpers for asserting on offline plans (import as ``from tests.plan_helpers import ...``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hybrid_ai_platform.cli.synth import PROJECT_ROOT, Plan, RecordedResource


def of_type(plan: Plan, type_token: str) -> list[RecordedResource]:
    """Resources of one type token, sorted by URN."""
    return sorted((r for r in plan.resources if r.type == type_token), key=lambda r: r.urn)


def named(plan: Plan, name: str) -> RecordedResource:
    """The one resource with logical name ``name``."""
    matches = [r for r in plan.resources if r.name == name]
    assert len(matches) == 1, f"expected one resource named {name!r}, found {len(matches)}"
    return matches[0]


def children_of(plan: Plan, parent_urn: str) -> list[RecordedResource]:
    """Direct children of a resource."""
    return [r for r in plan.resources if r.parent == parent_urn]


def depends_via(resource: RecordedResource, prop: str, target: RecordedResource) -> bool:
    """Whether ``resource``'s input ``prop`` came from ``target`` (property dependency)."""
    return target.urn in resource.property_dependencies.get(prop, [])


def statements(policy_json: str) -> list[dict[str, Any]]:
    """Statements of an IAM policy JSON string."""
    doc = json.loads(policy_json)
    stmts = doc["Statement"]
    return stmts if isinstance(stmts, list) else [stmts]


def link_stack_program(root: Path) -> None:
    """Give a test's project directory ``root`` the repository's stack program (``stacks/*.py``, linked).

    ``blueprint plan`` runs the project's own program, as ``pulumi up`` does, so a copied project needs it.
    """
    (root / "stacks").mkdir(parents=True, exist_ok=True)
    for source in (PROJECT_ROOT / "stacks").glob("*.py"):
        (root / "stacks" / source.name).symlink_to(source)
