"""Golden files: every format of ``diff`` and ``plan`` on the fixed plan pair (exact comparison).

Regenerate after an intended change with ``BLUEPRINT_UPDATE_GOLDEN=1 pytest tests/cli`` and
review the diff of ``tests/cli/golden/``.
"""

from __future__ import annotations

import pytest
from cli_helpers import BASE_PLAN, HEAD_PLAN, assert_golden, plan_pair

from hybrid_ai_platform.cli.diff import diff_plans
from hybrid_ai_platform.cli.report import render_diff, render_plan

EXTENSIONS = {"text": "txt", "json": "json", "markdown": "md", "sarif": "sarif.json", "junit": "xml"}


@pytest.mark.parametrize("fmt", sorted(EXTENSIONS))
def test_diff_renders_exactly_as_its_golden_file(fmt: str) -> None:
    # GIVEN the fixed base and head plans
    base, head = plan_pair()
    # WHEN the diff is rendered in this format
    result = diff_plans(base, head, base_label="base.json", head_label="head.json")
    output = render_diff(fmt, [result])
    # THEN it is exactly the reviewed golden output
    assert_golden(f"diff.{EXTENSIONS[fmt]}", output)


@pytest.mark.parametrize("fmt", sorted(EXTENSIONS))
def test_plan_renders_exactly_as_its_golden_file(fmt: str) -> None:
    # GIVEN the head plan with its policies and cost sections
    _, head = plan_pair()
    # WHEN it is rendered as a plan report
    output = render_plan(fmt, head)
    # THEN it is exactly the reviewed golden output
    assert_golden(f"plan.{EXTENSIONS[fmt]}", output)


def test_diff_command_prints_the_golden_text_without_colour_when_piped(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN two plan files on disk, stdout captured (not a terminal)
    from cli_helpers import run_cli

    # WHEN the diff command runs
    code, out, _ = run_cli(capsys, "diff", str(BASE_PLAN), str(HEAD_PLAN))
    # THEN it prints the text report without ANSI codes and exits 0 (failing is opt-in for diff)
    assert code == 0
    assert "\x1b[" not in out
    assert out.splitlines()[0] == f"Stack 'prod': {BASE_PLAN} → {HEAD_PLAN}"
    assert "Result: 3 unexcepted mandatory violation(s) or finding(s) in head" in out
