"""One source for each setting: the policy pack's per-stack config is derived from the stack file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hybrid_ai_platform.cli.analyzer import PolicyPackProcess, run_policy_pack
from hybrid_ai_platform.cli.policyconfig import derive_policy_config, guardrails_file, render_policy_config
from hybrid_ai_platform.cli.synth import PROJECT_ROOT, available_stacks, read_stack_files
from tests.conftest import shipped_plan


@pytest.mark.parametrize("stack", available_stacks())
def test_committed_policy_config_is_generated_from_the_stack_file(stack: str) -> None:
    # GIVEN a stack file WHEN its policy config is derived THEN the committed file (for the real CLI) is that
    files = read_stack_files(stack)
    expected = render_policy_config(derive_policy_config(stack, files.config, PROJECT_ROOT))
    committed = (PROJECT_ROOT / "policies" / "config" / f"{stack}.json").read_text(encoding="utf-8")
    assert committed == expected, f"policies/config/{stack}.json is stale: run `make policy-config`"


def test_stack_settings_come_from_the_stack_file_not_a_copy() -> None:
    # GIVEN dev's stack config with other budget, regions and environment
    config = dict(read_stack_files("dev").config)
    config["hybrid-ai-platform:budget"] = {"monthly_limit_usd": 10}
    config["hybrid-ai-platform:allowed_regions"] = ["eu-west-1"]
    config["hybrid-ai-platform:environment"] = "staging"
    # WHEN the policy config is derived
    derived = derive_policy_config("dev", config, PROJECT_ROOT)
    # THEN it carries the stack's values, and staging's guardrails
    assert derived["budget-monthly-cost"]["monthlyLimitUsd"] == 10
    assert derived["residency-resource-region"]["allowedRegions"] == ["eu-west-1"]
    assert derived["tags-allowed-values"]["allowedValues"]["environment"] == ["staging"]
    assert derived["budget-gpu-total"]["maxTotalGpus"] == 4  # policies/guardrails/staging.json
    assert derived["budget-monthly-cost"]["exceptionsFile"] == "exceptions/dev.yaml"


def test_an_environment_without_guardrails_gets_dev_s(tmp_path: Path) -> None:
    assert guardrails_file("qa", PROJECT_ROOT) == PROJECT_ROOT / "policies" / "guardrails" / "dev.json"
    assert guardrails_file("prod", PROJECT_ROOT) == PROJECT_ROOT / "policies" / "guardrails" / "prod.json"


def test_a_budget_below_the_estimate_fails_the_plan(pack_process: PolicyPackProcess) -> None:
    # GIVEN the dev plan (estimated at well over $10) with the stack's budget lowered to $10
    document = shipped_plan("dev").to_json()
    document["config"] = {**document["config"], "hybrid-ai-platform:budget": {"monthly_limit_usd": 10}}
    # WHEN the pack evaluates it
    policies = run_policy_pack(document, "dev", PROJECT_ROOT, pack=pack_process)
    # THEN the monthly-cost policy reports a mandatory violation naming the $10 limit
    violations = [v for v in policies["violations"] if v["policy"] == "budget-monthly-cost"]
    assert violations, policies["violations"]
    assert violations[0]["enforcement"] == "mandatory"
    assert "above the ceiling $10.00" in violations[0]["message"]


def test_a_checkout_without_guardrails_reads_its_committed_file(tmp_path: Path) -> None:
    # GIVEN a project copy from before the config was derived (no policies/guardrails)
    shutil.copytree(PROJECT_ROOT / "policies", tmp_path / "policies", ignore=shutil.ignore_patterns("guardrails"))
    from hybrid_ai_platform.cli.policyconfig import has_guardrails

    # THEN it is recognised, so pr-check's base side keeps using its own file
    assert not has_guardrails(tmp_path)
    assert has_guardrails(PROJECT_ROOT)
