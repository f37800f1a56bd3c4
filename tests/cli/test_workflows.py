"""The GitHub workflows: parsed and checked for the steps the PR check and deployment rely on."""

from __future__ import annotations

from pathlib import Path

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
    jobs = workflow["jobs"]
    assert "needs" not in jobs["dev"]
    assert jobs["staging"]["needs"] == "dev"
    assert jobs["prod"]["needs"] == "staging"
    assert jobs["prod"]["environment"] == "production"
    for stack, job in jobs.items():
        assert job["concurrency"]["group"] == f"deploy-{stack}"
        assert job["concurrency"]["cancel-in-progress"] is False
        pulumi = next(s for s in _steps(job) if s.get("uses", "").startswith("pulumi/actions@"))
        assert pulumi["with"]["command"] == "up"
        assert pulumi["with"]["policyPackConfigs"] == f"policies/config/{stack}.json"
