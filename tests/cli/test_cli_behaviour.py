"""The CLI behaves like a well-made CLI (issue 12 item 7): --version, notes printed once."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
import yaml
from cli_helpers import run_cli

from blueprint.synth import REPO_ROOT


def test_version_is_the_project_version(capsys: pytest.CaptureFixture[str]) -> None:
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    code, out, _ = run_cli(capsys, "--version")
    assert (code, out) == (0, f"blueprint {version}\n")


@pytest.fixture
def qa_project(tmp_path: Path) -> Path:
    """A project with a qa stack (copied from dev, environment qa: no guardrails of its own, so a note)."""
    (tmp_path / "Pulumi.yaml").write_bytes((REPO_ROOT / "Pulumi.yaml").read_bytes())
    (tmp_path / "stacks").mkdir()
    document = yaml.safe_load((REPO_ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    document["config"]["hybrid-ai-platform:environment"] = "qa"
    (tmp_path / "stacks" / "Pulumi.qa.yaml").write_text(yaml.safe_dump(document))
    for shared in ("policies", "build", "lambda_src", "container_src", "docs"):  # what the plan's stages read
        os.symlink(REPO_ROOT / shared, tmp_path / shared)
    return tmp_path


NOTE = "environment 'qa' has no policies/guardrails/qa.json"


@pytest.mark.parametrize(("fmt", "on_stdout"), [("text", True), ("json", False)])
def test_a_note_is_printed_once(
    fmt: str, on_stdout: bool, qa_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a stack whose plan carries a note WHEN planned in a format
    code, out, err = run_cli(capsys, "--root", str(qa_project), "plan", "--stack", "qa", "--format", fmt)
    # THEN the note appears exactly once: in the report when it shows notes, else on stderr
    assert code == 0, err
    assert (out + err).count(NOTE) == 1
    assert (NOTE in out) is on_stdout


def test_the_text_plan_says_when_its_cost_list_is_cut() -> None:
    # GIVEN a plan with 13 priced resources ($1 .. $13)
    from cli_helpers import plan_pair

    from blueprint.report import text

    document, _ = plan_pair()
    document["cost"]["resources"] = [
        {"urn": f"urn:{i}", "name": f"r{i}", "type": "t", "monthly": float(i), "items": []} for i in range(1, 14)
    ]
    # WHEN rendered as text
    rendered = text.render_plan(document)
    # THEN the 10 largest are listed and one line sums the other 3 ($1 + $2 + $3) and says the list is cut
    assert "$13.00  r13 (t)" in rendered and "$4.00  r4 (t)" in rendered
    assert "r3 (t)" not in rendered
    assert "$6.00  the other 3 priced resources (the 10 largest are listed" in rendered
