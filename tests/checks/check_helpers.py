"""Helpers for the system-check tests: a shipped stack's plan document to edit, the findings of one
check, and ``blueprint plan`` run on a copy of the project with one stack's config edited."""

from __future__ import annotations

import copy
import datetime
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybrid_ai_platform.cli.checks import run_checks
from hybrid_ai_platform.cli.main import main
from hybrid_ai_platform.cli.synth import PROJECT_ROOT
from tests.conftest import shipped_plan
from tests.plan_helpers import link_stack_program

TODAY = datetime.date(2026, 11, 28)
PROJECT = "hybrid-ai-platform"
LINKED = ("build", "container_src", "docs", "lambda_src", "policies")
"""What the checks read from the project root besides the stack files (linked, not copied)."""


def document(stack: str) -> dict[str, Any]:
    """A fresh, editable copy of a shipped stack's plan document."""
    return copy.deepcopy(shipped_plan(stack).to_json())


def findings(doc: dict[str, Any], check: str, root: Path = PROJECT_ROOT) -> list[dict[str, Any]]:
    """The violations one check reports for ``doc``."""
    return [v for v in run_checks(doc, root, TODAY)["violations"] if v["policy"] == check]


def resources(doc: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    """The custom resources of one type, in plan order."""
    return [r for r in doc["resources"] if r["type"] == type_ and r["custom"]]


def named(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """The one custom resource with this logical name."""
    [record] = [r for r in doc["resources"] if r["name"] == name and r["custom"]]
    return record


def plan_edited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], stack: str, edit: Callable[[dict[str, Any]], None]
) -> tuple[int, dict[str, Any]]:
    """Run ``blueprint plan --stack <stack>`` on a copy of the project whose stack config ``edit``
    changed (``edit`` gets the ``config`` mapping); return the exit status and the JSON plan."""
    root = tmp_path / "project"
    link_stack_program(root)
    shutil.copy(PROJECT_ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    for name in LINKED:
        (root / name).symlink_to(PROJECT_ROOT / name, target_is_directory=True)
    for stack_file in (PROJECT_ROOT / "stacks").glob("Pulumi.*.yaml"):
        shutil.copy(stack_file, root / "stacks" / stack_file.name)
    path = root / "stacks" / f"Pulumi.{stack}.yaml"
    stack_document = yaml.safe_load(path.read_text())
    edit(stack_document["config"])
    path.write_text(yaml.safe_dump(stack_document))
    output = tmp_path / "plan.json"
    code = main(["--root", str(root), "plan", "--stack", stack, "--format", "json", "--output", str(output)])
    err = capsys.readouterr().err
    assert output.is_file(), f"blueprint plan exited {code}: {err}"
    return code, json.loads(output.read_text())


def check_findings(doc: dict[str, Any], check: str) -> list[dict[str, Any]]:
    """The violations of one check in a plan document's ``checks`` section."""
    return [v for v in doc["checks"]["violations"] if v["policy"] == check]
