"""``blueprint pr-check`` end to end on a temporary clone with one changed setting."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from hybrid_ai_platform.cli.prcheck import PrCheckError, PrCheckResult, pr_check
from hybrid_ai_platform.cli.report import render_diff

# one module-scoped setup for all its tests: keep them on one xdist worker
pytestmark = pytest.mark.xdist_group("pr-check")

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def changed_clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of the committed project whose working tree moves prod's GPU nodes to p4d.24xlarge."""
    clone = tmp_path_factory.mktemp("pr-check") / "repo"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    shutil.copytree(REPO / "build" / "lambda", clone / "build" / "lambda")  # as after `make package`
    stack_file = clone / "stacks" / "Pulumi.prod.yaml"
    document = yaml.safe_load(stack_file.read_text())
    groups = document["config"]["hybrid-ai-platform:cluster"]["gpu_node_groups"]
    gpu = next(g for g in groups if g["name"] == "gpu-l4")
    assert gpu["instance_types"] == ["g6.2xlarge"]
    gpu["instance_types"] = ["p4d.24xlarge"]
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    return clone


@pytest.fixture(scope="module")
def prod_check(changed_clone: Path) -> PrCheckResult:
    """The working tree (one GPU instance type changed in prod) checked against HEAD, once per module."""
    return pr_check("HEAD", None, ["prod"], root=changed_clone)


def test_pr_check_shows_exactly_the_changed_setting_its_cost_violations_and_the_diagram(
    prod_check: PrCheckResult,
) -> None:
    # WHEN the working tree (one GPU instance type changed in prod) is checked against HEAD
    result = prod_check
    # THEN exactly one resource changes: the GPU node group, replaced because instanceTypes forces it
    [diff] = result.diffs
    # (and the dashboard's GPU row and the group's GPU temperature alarm, which select the group's nodes by
    # instance type: Container Insights has no node-group dimension)
    by_name = {c.name: c for c in diff.resources}
    assert set(by_name) == {"gpu-l4-nodes", "alerts-dashboard", "alerts-gpu-node-group-gpu-l4-gpu-hot"}
    dashboard = by_name["alerts-dashboard"]
    assert dashboard.action == "update"
    assert all(p.path.startswith("dashboardBody.widgets[") for p in dashboard.changes)
    assert all("p4d.24xlarge" in str(p.after) or "nvidia-tesla-a100" in str(p.after) for p in dashboard.changes)
    hot = by_name["alerts-gpu-node-group-gpu-l4-gpu-hot"]
    assert hot.action == "update"
    assert all("p4d.24xlarge" in str(p.after) for p in hot.changes)
    assert any("InstanceType = 'p4d.24xlarge'" in str(p.after) for p in hot.changes)
    change = by_name["gpu-l4-nodes"]
    assert (change.name, change.action) == ("gpu-l4-nodes", "replace")
    by_path = {p.path: p for p in change.changes}
    assert (by_path["instanceTypes[0]"].before, by_path["instanceTypes[0]"].after) == ("g6.2xlarge", "p4d.24xlarge")
    assert by_path["instanceTypes[0]"].replaces is True
    # the only other properties that move are the autoscaler's GPU-count node-template tag (1 -> 8
    # GPUs) and the GPU type: the accelerator label and its node-template tag (L4 -> A100)
    gpu_tag = 'tags["k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"]'
    accelerator_label = 'labels["k8s.amazonaws.com/accelerator"]'
    accelerator_tag = 'tags["k8s.io/cluster-autoscaler/node-template/label/k8s.amazonaws.com/accelerator"]'
    assert set(by_path) == {"instanceTypes[0]", gpu_tag, accelerator_label, accelerator_tag}
    assert (by_path[gpu_tag].before, by_path[gpu_tag].after) == ("1", "8")
    for path in (accelerator_label, accelerator_tag):
        assert (by_path[path].before, by_path[path].after) == ("nvidia-l4", "nvidia-tesla-a100")
    assert diff.unchanged > 150
    # the base worktree had no Lambda build: it was given one and the output says so
    assert any("reused build/lambda" in note for note in result.notes)
    # the cost delta is that node group's, and positive
    assert diff.cost.delta is not None and diff.cost.delta > 0
    assert [line.name for line in diff.cost.lines] == ["gpu-l4-nodes"]
    # the change introduces blocking violations: a type outside prod's allow-list and too many GPUs
    new = {(v.policy, v.resource_name) for v in diff.policies.new}
    assert ("budget-instance-types", "gpu-l4-nodes") in new
    assert any(policy == "budget-gpu-total" for policy, _ in new)
    assert diff.policies.blocking
    comment = render_diff("markdown", result.diffs, notes=result.notes)
    assert "class gpu_l4_nodes replaced" in comment
    assert '`instanceTypes[0]`: `"g6.2xlarge"` → `"p4d.24xlarge"` — **forces replacement**' in comment
    assert "budget-instance-types" in comment and "cannot deploy" in comment


def test_pr_check_leaves_no_worktree_behind(changed_clone: Path, prod_check: PrCheckResult) -> None:
    # GIVEN a finished check (it planned HEAD in a worktree of its own) THEN only the main worktree is left
    listing = subprocess.run(
        ["git", "-C", str(changed_clone), "worktree", "list"], capture_output=True, text=True, check=True
    ).stdout
    assert len(listing.strip().splitlines()) == 1


def test_unknown_ref_is_a_user_error_naming_it(changed_clone: Path) -> None:
    with pytest.raises(PrCheckError, match="unknown git ref 'no-such-branch'"):
        pr_check("no-such-branch", None, ["prod"], root=changed_clone)


def test_a_head_config_error_is_shown_whole(changed_clone: Path) -> None:
    # GIVEN the working tree's staging stack with two bad values
    stack_file = changed_clone / "stacks" / "Pulumi.staging.yaml"
    original = stack_file.read_text()
    document = yaml.safe_load(original)
    document["config"]["hybrid-ai-platform:budget"]["monthly_limit_usd"] = -5
    document["config"]["hybrid-ai-platform:network"]["az_count"] = 9
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    try:
        # WHEN pr-check plans it THEN the error carries every bad field, not the closing "Fix them" line only
        with pytest.raises(PrCheckError) as info:
            pr_check("HEAD", None, ["staging"], root=changed_clone)
    finally:
        stack_file.write_text(original)
    message = str(info.value)
    assert "budget.monthly_limit_usd: -5" in message
    assert "network.az_count: 9" in message
    assert "Fix them in stacks/Pulumi.staging.yaml" in message
