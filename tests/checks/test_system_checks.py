"""System checks: each defect class, re-introduced into a copy of a shipped stack's plan, is a
blocking finding that names the resource and the config field; the shipped stacks have none."""

from __future__ import annotations

import copy
import datetime
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hybrid_ai_platform.components.eks_versions import EKS_VERSIONS

from hybrid_ai_platform.cli.checks import TODAY_ENV, CheckInputError, load_checks, run_checks, today_from_env
from hybrid_ai_platform.cli.diff import diff_plans, is_blocking
from hybrid_ai_platform.cli.report import render_diff, render_plan
from hybrid_ai_platform.cli.synth import PROJECT_ROOT
from tests.conftest import SHIPPED_STACKS, shipped_plan

TODAY = datetime.date(2026, 11, 28)


def _document(stack: str) -> dict[str, Any]:
    return copy.deepcopy(shipped_plan(stack).to_json())


def _findings(document: dict[str, Any], check: str, today: datetime.date = TODAY) -> list[dict[str, Any]]:
    section = run_checks(document, PROJECT_ROOT, today)
    return [v for v in section["violations"] if v["policy"] == check]


def _only(records: list[dict[str, Any]], type_: str) -> dict[str, Any]:
    matches = [r for r in records if r["type"] == type_ and r["custom"]]
    assert len(matches) == 1, type_
    return matches[0]


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_shipped_stacks_have_no_blocking_finding_today(stack: str) -> None:
    # GIVEN a shipped stack WHEN checked against the real date THEN nothing blocks
    section = run_checks(_document(stack), PROJECT_ROOT)
    assert [v for v in section["violations"] if is_blocking(v)] == []


def test_every_check_has_an_id_rationale_and_remediation() -> None:
    checks = load_checks()
    ids = [c.id for c in checks.values()]
    assert len(ids) == len(set(ids))
    for chk in checks.values():
        assert chk.id.startswith("BP-SYS-")
        assert chk.description and chk.remediation
        assert chk.name.startswith("system-")


# --------------------------------------------------------------------------- lifecycle


def test_a_version_past_standard_support_is_blocking_and_names_the_cluster_and_field() -> None:
    # GIVEN prod, judged the day after its Kubernetes version left standard support
    document = _document("prod")
    cluster = _only(document["resources"], "aws:eks/cluster:Cluster")
    end = EKS_VERSIONS[cluster["inputs"]["version"]].standard_support_end
    # WHEN checked
    findings = _findings(document, "system-eks-version-support", end + datetime.timedelta(days=1))
    # THEN one mandatory finding names the cluster, the field and the end date
    assert len(findings) == 1
    finding = findings[0]
    assert is_blocking(finding)
    assert finding["urn"] == cluster["urn"]
    assert finding["field"] == "cluster.kubernetes_version"
    assert end.isoformat() in finding["message"]


@pytest.mark.parametrize(("days_left", "expected"), [(91, None), (90, "advisory"), (1, "advisory"), (0, "advisory")])
def test_a_version_near_its_end_warns_within_90_days(days_left: int, expected: str | None) -> None:
    document = _document("dev")
    version = _only(document["resources"], "aws:eks/cluster:Cluster")["inputs"]["version"]
    today = EKS_VERSIONS[version].standard_support_end - datetime.timedelta(days=days_left)
    findings = _findings(document, "system-eks-version-support", today)
    assert [f["enforcement"] for f in findings] == ([expected] if expected else [])


def test_an_eks_version_past_support_reintroduced_into_prod_blocks() -> None:
    # GIVEN prod with the cluster moved back to 1.33 (standard support ended 2026-07-29)
    document = _document("prod")
    _only(document["resources"], "aws:eks/cluster:Cluster")["inputs"]["version"] = "1.33"
    # WHEN checked on 2026-11-28
    findings = _findings(document, "system-eks-version-support")
    # THEN it blocks
    assert [is_blocking(f) for f in findings] == [True]
    assert "2026-07-29" in findings[0]["message"]


def test_an_unknown_version_blocks() -> None:
    document = _document("dev")
    _only(document["resources"], "aws:eks/cluster:Cluster")["inputs"]["version"] = "1.99"
    findings = _findings(document, "system-eks-version-support")
    assert len(findings) == 1 and is_blocking(findings[0])
    assert "not a version EKS offers" in findings[0]["message"]


def test_today_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TODAY_ENV, "2030-01-02")
    assert today_from_env() == datetime.date(2030, 1, 2)
    monkeypatch.setenv(TODAY_ENV, "tomorrow")
    with pytest.raises(CheckInputError, match="BLUEPRINT_TODAY='tomorrow' is not a date"):
        today_from_env()


# --------------------------------------------------------------------------- feature sets


def _archive_without(tmp_path: Path, source: Path, feature_set: str) -> Path:
    target = tmp_path / "function.zip"
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            if item.filename != f"preprocessing/feature_sets/{feature_set}.py":
                new.writestr(item, old.read(item))
    return target


def test_a_feature_set_missing_from_the_deployed_package_blocks_naming_the_function(tmp_path: Path) -> None:
    # GIVEN prod whose first function deploys an archive that lacks its feature-set module
    document = _document("prod")
    function = next(r for r in document["resources"] if r["type"] == "aws:lambda/function:Function")
    variables = function["inputs"]["environment"]["variables"]
    archive = PROJECT_ROOT / function["inputs"]["code"]["archive"]["path"]
    function["inputs"]["code"]["archive"]["path"] = str(_archive_without(tmp_path, archive, variables["FEATURE_SET"]))
    # WHEN checked
    findings = _findings(document, "system-lambda-feature-set-packaged")
    # THEN one blocking finding names the function and its config field
    assert len(findings) == 1
    assert is_blocking(findings[0])
    assert findings[0]["urn"] == function["urn"]
    names = [f["name"] for f in document["config"]["hybrid-ai-platform:preprocessing"]["functions"]]
    index = names.index(variables["POWERTOOLS_SERVICE_NAME"])
    assert findings[0]["field"] == f"preprocessing.functions[{index}].feature_set"
    assert f"FEATURE_SET '{variables['FEATURE_SET']}' is not in the package" in findings[0]["message"]


def test_an_unreadable_package_is_a_finding(tmp_path: Path) -> None:
    document = _document("dev")
    function = next(r for r in document["resources"] if r["type"] == "aws:lambda/function:Function")
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    function["inputs"]["code"]["archive"]["path"] = str(tmp_path / "broken.zip")
    findings = _findings(document, "system-lambda-feature-set-packaged")
    assert len(findings) == 1 and "cannot open the function's package" in findings[0]["message"]


# --------------------------------------------------------------------------- reporting


def test_a_field_required_by_an_older_kubernetes_is_found_at_that_version() -> None:
    # GIVEN prod's CronJob with the pod-failure-policy condition status left to the 1.34+ default
    document = _document("prod")
    cronjob = _first(document, "kubernetes:batch/v1:CronJob")
    rules = cronjob["inputs"]["spec"]["jobTemplate"]["spec"]["podFailurePolicy"]["rules"]
    rules[1]["onPodConditions"][0].pop("status")
    # WHEN checked at the shipped version THEN it is valid; at 1.33 THEN the schema requires it
    assert _findings(document, "system-kubernetes-schema") == []
    _only(document["resources"], "aws:eks/cluster:Cluster")["inputs"]["version"] = "1.33"
    [finding] = _findings(document, "system-kubernetes-schema")
    assert "podFailurePolicy.rules[1].onPodConditions[0]: 'status' is a required property" in finding["message"]


def test_findings_reach_every_format_and_the_diff() -> None:
    # GIVEN prod as shipped (base) and with an EKS version past support (head), each with its checks
    base = _document("prod")
    head = copy.deepcopy(base)
    _only(head["resources"], "aws:eks/cluster:Cluster")["inputs"]["version"] = "1.33"
    base["checks"] = run_checks(base, PROJECT_ROOT, TODAY)
    head["checks"] = run_checks(head, PROJECT_ROOT, TODAY)
    # WHEN rendered and diffed
    diff = diff_plans(base, head)
    # THEN the finding is new and blocking in the diff, and every format names it
    assert [v.policy for v in diff.policies.new] == ["system-eks-version-support"]
    assert len(diff.policies.blocking) == 1
    for fmt in ("text", "json", "markdown", "sarif", "junit"):
        assert "system-eks-version-support" in render_plan(fmt, head), fmt
        assert "system-eks-version-support" in render_diff(fmt, [diff]), fmt
    assert "cluster.kubernetes_version" in render_plan("markdown", head)
    # AND fixing it shows it as fixed
    fixed = diff_plans(head, base)
    assert [v.policy for v in fixed.policies.fixed] == ["system-eks-version-support"]


# --------------------------------------------------------------------------- Kubernetes schema


def _first(document: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(r for r in document["resources"] if r["type"] == type_)


def test_a_misspelt_pod_field_is_a_blocking_schema_finding() -> None:
    # GIVEN prod with a typo in a Deployment's container security context (the API server drops or refuses it)
    document = _document("prod")
    deployment = _first(document, "kubernetes:apps/v1:Deployment")
    deployment["inputs"]["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsNonroot"] = True
    # WHEN checked
    findings = _findings(document, "system-kubernetes-schema")
    # THEN the finding points into the object with its JSON path
    assert len(findings) == 1 and is_blocking(findings[0])
    assert findings[0]["urn"] == deployment["urn"]
    assert ".spec.template.spec.containers[0].securityContext" in findings[0]["message"]
    assert "'runAsNonroot' was unexpected" in findings[0]["message"]


def test_a_wrong_type_in_a_cronjob_is_a_schema_finding() -> None:
    document = _document("prod")
    cronjob = _first(document, "kubernetes:batch/v1:CronJob")
    cronjob["inputs"]["spec"]["concurrencyPolicy"] = 1
    findings = _findings(document, "system-kubernetes-schema")
    assert [f["urn"] for f in findings] == [cronjob["urn"]]
    assert ".spec.concurrencyPolicy: 1 is not of type 'string'" in findings[0]["message"]


def test_a_custom_resource_without_a_schema_is_advisory_not_silent() -> None:
    document = _document("dev")
    record = copy.deepcopy(_first(document, "kubernetes:core/v1:Namespace"))
    record["urn"] += "-copy"
    record["type"] = "kubernetes:example.com/v1:Widget"
    record["inputs"] = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "x"}}
    document["resources"].append(record)
    findings = _findings(document, "system-kubernetes-schema")
    assert [(f["urn"], f["enforcement"]) for f in findings] == [(record["urn"], "advisory")]
    assert "not validated" in findings[0]["message"]


def test_a_keda_scaledobject_is_validated_against_its_vendored_schema() -> None:
    # GIVEN prod with a misspelt field in a model's ScaledObject trigger
    document = _document("prod")
    scaler = _first(document, "kubernetes:keda.sh/v1alpha1:ScaledObject")
    scaler["inputs"]["spec"]["triggers"][0]["authenticationRefs"] = {"name": "x"}
    # WHEN checked THEN it is a blocking finding with the JSON path, and the untouched objects pass
    findings = _findings(document, "system-kubernetes-schema")
    assert [f["urn"] for f in findings] == [scaler["urn"]] and is_blocking(findings[0])
    assert ".spec.triggers[0]" in findings[0]["message"] and "authenticationRefs" in findings[0]["message"]
