"""The CLI behaves like a well-made CLI (issue 12 item 7): --version, notes printed once."""

from __future__ import annotations

import importlib.metadata
import os
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from cli_helpers import run_cli

import hybrid_ai_platform
from hybrid_ai_platform.cli.synth import PROJECT_ROOT
from tests.plan_helpers import link_stack_program


def test_version_is_the_one_version_of_library_and_pack(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the one version source (the package's __version__, which pyproject reads dynamically)
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "hybrid_ai_platform.__version__"}
    version = hybrid_ai_platform.__version__
    # THEN the CLI, the installed distribution, the policy pack and the CHANGELOG's newest entry all carry it
    code, out, _ = run_cli(capsys, "--version")
    assert (code, out) == (0, f"blueprint {version}\n")
    assert importlib.metadata.version("hybrid-ai-platform-blueprints") == version
    pack = yaml.safe_load((PROJECT_ROOT / "policies" / "PulumiPolicy.yaml").read_text())
    assert pack["version"] == version
    changelog = (PROJECT_ROOT / "CHANGELOG.md").read_text()
    assert re.search(r"^## \[?(\d+\.\d+\.\d+)", changelog, re.M).group(1) == version


@pytest.fixture
def qa_project(tmp_path: Path) -> Path:
    """A project with a qa stack (copied from dev, environment qa: no guardrails of its own, so a note)."""
    (tmp_path / "Pulumi.yaml").write_bytes((PROJECT_ROOT / "Pulumi.yaml").read_bytes())
    link_stack_program(tmp_path)
    document = yaml.safe_load((PROJECT_ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    document["config"]["hybrid-ai-platform:environment"] = "qa"
    (tmp_path / "stacks" / "Pulumi.qa.yaml").write_text(yaml.safe_dump(document))
    for shared in ("policies", "build", "lambda_src", "container_src", "docs"):  # what the plan's stages read
        os.symlink(PROJECT_ROOT / shared, tmp_path / shared)
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

    from hybrid_ai_platform.cli.report import text

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
