"""SARIF 2.1.0 output: schema-valid, rule metadata for code scanning, stable fingerprints."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from cli_helpers import DATA, plan_pair

from hybrid_ai_platform.cli.diff import diff_plans
from hybrid_ai_platform.cli.report import render_diff, render_plan

SCHEMA = json.loads((DATA / "sarif-schema-2.1.0.json").read_text())


def _sarif_of_diff() -> dict:
    return json.loads(render_diff("sarif", [diff_plans(*plan_pair())]))


def test_diff_sarif_is_valid_against_the_sarif_2_1_0_schema() -> None:
    jsonschema.Draft4Validator(SCHEMA).validate(_sarif_of_diff())


def test_plan_sarif_without_a_policies_section_is_still_valid_and_says_so() -> None:
    _, head = plan_pair()
    del head["policies"]
    log = json.loads(render_plan("sarif", head))
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    assert log["runs"][0]["invocations"][0]["executionSuccessful"] is False
    assert log["runs"][0]["properties"]["policiesEvaluated"] is False
    # the system-check findings are still reported
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["system-kubernetes-schema"]


def test_rules_carry_descriptions_remediation_severity_and_equivalent_tags() -> None:
    rules = {r["id"]: r for r in _sarif_of_diff()["runs"][0]["tool"]["driver"]["rules"]}
    ecr = rules["ecr-image-scanning"]
    assert ecr["name"] == "EcrImageScanning"
    assert ecr["shortDescription"]["text"] and ecr["fullDescription"]["text"].startswith("ECR repositories")
    assert "scanOnPush = true" in ecr["help"]["text"] and "**Remediation:**" in ecr["help"]["markdown"]
    assert ecr["properties"]["severity"] == "high"
    assert ecr["properties"]["security-severity"] == "8.0"
    assert {"security", "checkov:CKV_AWS_163", "trivy:AVD-AWS-0030"} <= set(ecr["properties"]["tags"])
    assert "cdk-nag:AwsSolutions-EKS1" in rules["eks-public-endpoint"]["properties"]["tags"]


def test_results_levels_locations_baseline_and_suppressions() -> None:
    run = _sarif_of_diff()["runs"][0]
    assert run["automationDetails"]["id"] == "blueprint/prod/"
    results = {r["ruleId"]: r for r in run["results"]}
    ecr = results["ecr-image-scanning"]
    assert ecr["level"] == "error" and ecr["baselineState"] == "new"
    location = ecr["locations"][0]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "stacks/Pulumi.prod.yaml"
    assert location["logicalLocations"][0]["fullyQualifiedName"].endswith("Repository::inference-server")
    assert results["sqs-queue-dlq"]["level"] == "note" and results["sqs-queue-dlq"]["baselineState"] == "unchanged"
    waived = results["lambda-reserved-concurrency"]
    assert waived["suppressions"][0]["status"] == "accepted"
    assert "throttled by the schedule" in waived["suppressions"][0]["justification"]
    for result in run["results"]:
        assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]


def test_fingerprints_are_stable_across_runs_and_distinct_per_violation() -> None:
    first = [r["partialFingerprints"] for r in _sarif_of_diff()["runs"][0]["results"]]
    second = [r["partialFingerprints"] for r in _sarif_of_diff()["runs"][0]["results"]]
    assert first == second
    assert len({f["blueprintViolation/v1"] for f in first}) == len(first)


def test_sarif_golden_file_is_what_the_workflow_uploads(tmp_path: Path) -> None:
    # the golden SARIF is also schema-valid (guards against regenerating a broken file)
    golden = json.loads((Path(__file__).parent / "golden" / "diff.sarif.json").read_text())
    jsonschema.Draft4Validator(SCHEMA).validate(golden)
