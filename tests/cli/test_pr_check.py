"""``blueprint pr-check`` end to end on a temporary clone with one changed setting."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from blueprint.prcheck import PrCheckError, pr_check
from blueprint.report import render_diff

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def changed_clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of the committed project whose working tree raises one Lambda's memory in prod."""
    clone = tmp_path_factory.mktemp("pr-check") / "repo"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    shutil.copytree(REPO / "build" / "lambda", clone / "build" / "lambda")  # as after `make package`
    stack_file = clone / "stacks" / "Pulumi.prod.yaml"
    document = yaml.safe_load(stack_file.read_text())
    functions = document["config"]["hybrid-ai-platform:preprocessing"]["functions"]
    transactions = next(f for f in functions if f["name"] == "transactions")
    transactions["memory_mb"] = transactions["memory_mb"] + 1024
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    return clone


def test_pr_check_shows_exactly_the_changed_setting_its_cost_and_the_diagram(changed_clone: Path) -> None:
    # WHEN the working tree is checked against HEAD for prod
    result = pr_check("HEAD", None, ["prod"], root=changed_clone)
    # THEN exactly one resource changes, in place, with the memory size
    [diff] = result.diffs
    [change] = diff.resources
    assert (change.name, change.action) == ("transactions-function", "update")
    assert [(p.path, p.after - p.before) for p in change.changes] == [("memorySize", 1024)]
    assert diff.unchanged > 50
    # the base worktree had no Lambda build: it was given one and the output says so
    assert any("reused build/lambda" in note for note in result.notes)
    # and the cost delta is the function's, when the cost model is installed
    if diff.cost.before is not None:
        assert diff.cost.delta is not None and diff.cost.delta > 0
        assert [line.name for line in diff.cost.lines] == ["transactions-function"]
    else:
        assert any("cost not estimated" in note for note in result.notes)
    comment = render_diff("markdown", result.diffs, notes=result.notes)
    assert "class transactions_function changed" in comment
    before, after = change.changes[0].before, change.changes[0].after
    assert f"- `memorySize`: `{before}` → `{after}`" in comment


def test_pr_check_leaves_no_worktree_behind(changed_clone: Path) -> None:
    pr_check("HEAD", "HEAD", ["dev"], root=changed_clone)
    listing = subprocess.run(
        ["git", "-C", str(changed_clone), "worktree", "list"], capture_output=True, text=True, check=True
    ).stdout
    assert len(listing.strip().splitlines()) == 1


def test_unknown_ref_is_a_user_error_naming_it(changed_clone: Path) -> None:
    with pytest.raises(PrCheckError, match="unknown git ref 'no-such-branch'"):
        pr_check("no-such-branch", None, ["prod"], root=changed_clone)
