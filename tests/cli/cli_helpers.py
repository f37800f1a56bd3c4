"""Helpers for the CLI tests: the fixed plan pair, golden-file comparison, running ``main``."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from hybrid_ai_platform.cli.main import main

DATA = Path(__file__).resolve().parent / "data"
GOLDEN = Path(__file__).resolve().parent / "golden"
BASE_PLAN = DATA / "base.json"
HEAD_PLAN = DATA / "head.json"
UPDATE_GOLDEN = os.environ.get("BLUEPRINT_UPDATE_GOLDEN") == "1"
"""``BLUEPRINT_UPDATE_GOLDEN=1 pytest tests/cli`` rewrites the golden files instead of comparing."""


def plan_pair() -> tuple[dict[str, Any], dict[str, Any]]:
    """Fresh copies of the fixed base and head plan documents."""
    return json.loads(BASE_PLAN.read_text()), json.loads(HEAD_PLAN.read_text())


def by_name(document: dict[str, Any], name: str, custom: bool = True) -> dict[str, Any]:
    """The one (custom, by default) resource of a plan document with this logical name."""
    matches = [r for r in document["resources"] if r["name"] == name and r["custom"] == custom]
    assert len(matches) == 1, name
    return matches[0]


def clone(document: dict[str, Any]) -> dict[str, Any]:
    """A deep copy (tests change one field at a time)."""
    return copy.deepcopy(document)


def assert_golden(name: str, actual: str) -> None:
    """Compare ``actual`` with ``golden/<name>`` exactly (or rewrite it when updating)."""
    path = GOLDEN / name
    if UPDATE_GOLDEN:
        path.write_text(actual, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"golden file {path} is missing; run BLUEPRINT_UPDATE_GOLDEN=1 pytest tests/cli")
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{name} differs from its golden file; review, then BLUEPRINT_UPDATE_GOLDEN=1"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``blueprint`` in-process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err
