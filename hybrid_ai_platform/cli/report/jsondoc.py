"""JSON output: the plan document itself, or a ``blueprint-diff`` document for diffs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..diff import StackDiff
from ..plandoc import PlanDocument

DIFF_FORMAT_VERSION = 1


def dumps(document: Any) -> str:
    """Canonical JSON text (two-space indent, UTF-8 kept, trailing newline)."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_plan(document: PlanDocument | dict[str, Any]) -> str:
    """The plan document as ``blueprint plan --format json`` prints it (its JSON, key order kept)."""
    return dumps(document.to_json() if isinstance(document, PlanDocument) else document)


def render_diff(diffs: Sequence[StackDiff], notes: Sequence[str] = ()) -> str:
    """``{"kind": "blueprint-diff", "stacks": [...], "blocking": n}``."""
    return dumps(
        {
            "format_version": DIFF_FORMAT_VERSION,
            "kind": "blueprint-diff",
            "stacks": [d.to_json() for d in diffs],
            "blocking": sum(len(d.policies.blocking) for d in diffs),
            "notes": list(notes),
        }
    )
