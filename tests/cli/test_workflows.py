"""The GitHub workflows: parsed and checked for the steps the PR check and deployment rely on."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"


def _load(name: str) -> dict:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads `on` as a boolean
    return document


def _steps(job: dict) -> list[dict]:
    return job["steps"]


def _uses(job: dict) -> list[str]:
    return [s.get("uses", "") for s in _steps(job)]


def _runs(job: dict) -> str:
    return "\n".join(s.get("run", "") for s in _steps(job))


def test_every_action_is_pinned_to_at_least_a_major_version() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for uses in _uses(job):
                if uses:
                    assert "@v" in uses or len(uses.split("@")[-1]) == 40, f"{path.name}: {uses} is not pinned"


def test_pull_request_workflow_lints_tests_diffs_comments_and_uploads_sarif() -> None:
    workflow = _load("pull-request.yml")
    assert "pull_request" in workflow["on"]
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write", "security-events": "write"}
    job = workflow["jobs"]["check"]
    checkout = next(s for s in _steps(job) if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    python = next(s for s in _steps(job) if s.get("uses", "").startswith("actions/setup-python@"))
    assert python["with"]["python-version"] == "3.11"
    runs = _runs(job)
    assert runs.index("make lint") < runs.index("make test") < runs.index("blueprint pr-check")
    assert "blueprint diff" in runs and "--format sarif" in runs
    comment = next(s for s in _steps(job) if s.get("uses", "").startswith("actions/github-script@"))
    assert "<!-- blueprint:pr-comment -->" in comment["with"]["script"]
    assert "updateComment" in comment["with"]["script"]
    uploads = [s for s in _steps(job) if s.get("uses", "").startswith("github/codeql-action/upload-sarif@")]
    assert sorted(s["with"]["category"] for s in uploads) == ["blueprint-dev", "blueprint-prod", "blueprint-staging"]
    fail = _steps(job)[-1]
    assert "exit-code" in fail["if"] and "exit 1" in fail["run"]


def test_preview_runs_pulumi_with_the_policy_pack_only_when_an_oidc_role_is_configured() -> None:
    workflow = _load("preview.yml")
    job = workflow["jobs"]["preview"]
    assert workflow["permissions"]["id-token"] == "write"
    assert "vars.AWS_ROLE_ARN != ''" in job["if"]
    assert job["strategy"]["matrix"]["stack"] == ["dev", "staging", "prod"]
    # the private API endpoint: each stack previews on its deploy runner, and never for a fork's code
    assert job["runs-on"] == "${{ fromJSON(vars.DEPLOY_RUNNERS)[matrix.stack] }}"
    assert "vars.DEPLOY_RUNNERS != ''" in job["if"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in job["if"]
    # and in the stack's environment, so prod's required reviewers approve the code before it runs there
    assert job["environment"] == "${{ matrix.stack == 'prod' && 'production' || matrix.stack }}"
    creds = next(s for s in _steps(job) if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@"))
    assert creds["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
    pulumi = next(s for s in _steps(job) if s.get("uses", "").startswith("pulumi/actions@"))
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["diff"] is True and pulumi["with"]["comment-on-pr"] is True
    assert pulumi["with"]["policyPacks"] == "policies"
    assert pulumi["with"]["policyPackConfigs"] == "policies/config/${{ matrix.stack }}.json"


def test_deploy_goes_dev_then_staging_then_prod_behind_the_production_environment() -> None:
    workflow = _load("deploy.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    jobs = {stack: job for stack, job in workflow["jobs"].items() if stack != "runners"}
    assert list(jobs) == ["dev", "staging", "prod"]
    assert jobs["dev"]["needs"] == "runners"
    assert jobs["staging"]["needs"] == "dev"
    assert jobs["prod"]["needs"] == "staging"
    assert jobs["prod"]["environment"] == "production"
    for stack, job in jobs.items():
        assert job["concurrency"]["group"] == f"deploy-{stack}"
        assert job["concurrency"]["cancel-in-progress"] is False
        pulumi = next(s for s in _steps(job) if s.get("uses", "").startswith("pulumi/actions@"))
        assert pulumi["with"]["command"] == "up"
        assert pulumi["with"]["policyPackConfigs"] == f"policies/config/{stack}.json"


def test_each_deploy_job_runs_on_the_runner_that_deployer_admits() -> None:
    # GIVEN the deploy jobs (the EKS endpoint is private: GitHub-hosted runners cannot reach it)
    jobs = _load("deploy.yml")["jobs"]
    # THEN each stack's job runs on the runner labels DEPLOY_RUNNERS gives that stack
    for stack in ("dev", "staging", "prod"):
        assert jobs[stack]["runs-on"] == f"${{{{ fromJSON(vars.DEPLOY_RUNNERS).{stack} }}}}"
    # AND the runner check runs first on a hosted runner, reading the repository variable
    check = jobs["runners"]
    assert check["runs-on"] == "ubuntu-latest"
    assert check["steps"][0]["env"] == {"DEPLOY_RUNNERS": "${{ vars.DEPLOY_RUNNERS }}"}


def _run_runner_check(value: str | None) -> subprocess.CompletedProcess[str]:
    script = _load("deploy.yml")["jobs"]["runners"]["steps"][0]["run"]
    env = {k: v for k, v in os.environ.items() if k != "DEPLOY_RUNNERS"}
    if value is not None:
        env["DEPLOY_RUNNERS"] = value
    return subprocess.run(["bash", "-e", "-c", script], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "DEPLOY_RUNNERS is not set"),
        ("", "DEPLOY_RUNNERS is not set"),
        ("self-hosted", "DEPLOY_RUNNERS is not JSON"),
        ('{"dev": ["self-hosted"], "staging": ["self-hosted"]}', "DEPLOY_RUNNERS.prod must be a non-empty list"),
        ('{"dev": [], "staging": ["self-hosted"], "prod": ["self-hosted"]}', "DEPLOY_RUNNERS.dev must be"),
        ('["self-hosted"]', "DEPLOY_RUNNERS.dev must be"),
    ],
)
def test_runner_check_fails_with_the_fix_when_deploy_runners_is_unusable(value: str | None, message: str) -> None:
    result = _run_runner_check(value)
    assert result.returncode == 1
    assert f"::error::{message}" in result.stdout
    assert "Settings -> Secrets and variables -> Actions -> Variables" in result.stdout


def test_runner_check_passes_for_a_runner_per_stack_and_warns_about_hosted_runners() -> None:
    ok = _run_runner_check(
        '{"dev": ["self-hosted", "hybrid-ai-dev"], "staging": ["self-hosted", "hybrid-ai-staging"],'
        ' "prod": ["self-hosted", "hybrid-ai-prod"]}'
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "::warning::" not in ok.stdout
    hosted = _run_runner_check('{"dev": ["ubuntu-latest"], "staging": ["self-hosted"], "prod": ["self-hosted"]}')
    assert hosted.returncode == 0
    assert "::warning::DEPLOY_RUNNERS.dev is a GitHub-hosted runner" in hosted.stdout
