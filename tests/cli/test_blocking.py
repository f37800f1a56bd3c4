"""One definition of "blocking": the exit code, SARIF, JUnit and Markdown agree on one plan."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import plan_pair, run_cli

from hybrid_ai_platform.cli.plandoc import PlanDocument, is_blocking, outcome
from hybrid_ai_platform.cli.report import render_plan

WAIVER = {"reason": "accepted for the pilot", "owner": "ml-platform", "ticket": "PLAT-7", "expires": "2099-01-01"}


def _mixed_plan() -> dict[str, Any]:
    """head.json plus a waived mandatory violation, a remediate one and an advisory system-check finding."""
    _, head = plan_pair()
    policies = head["policies"]["violations"]
    template = next(v for v in policies if v["policy"] == "ecr-image-scanning")
    policies.append({**template, "policy": "s3-bucket-versioning", "message": "waived one", "exception": WAIVER})
    policies.append({**template, "policy": "ecr-tag-immutability", "message": "tags are mutable"})
    policies[-1]["enforcement"] = "remediate"
    finding = head["checks"]["violations"][0]
    head["checks"]["violations"].append({**finding, "message": "an advisory finding", "enforcement": "advisory"})
    return head


def _key(v: dict[str, Any]) -> tuple[str, str]:
    return str(v["policy"]), str(v.get("resource_name") or "(stack)")


def test_blocking_is_mandatory_or_remediate_and_never_waived() -> None:
    assert is_blocking({"enforcement": "mandatory", "exception": None})
    assert is_blocking({"enforcement": "remediate"})
    assert not is_blocking({"enforcement": "mandatory", "exception": WAIVER})
    assert not is_blocking({"enforcement": "advisory", "exception": None})
    assert not is_blocking({"enforcement": "disabled"})
    assert [outcome(v) for v in ({"enforcement": "mandatory", "exception": WAIVER}, {"enforcement": "advisory"})] == [
        "waived",
        "advisory",
    ]


def test_exit_code_sarif_junit_and_markdown_agree_on_what_blocks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a plan mixing blocking, waived mandatory, advisory, remediate and system-check results
    document = _mixed_plan()
    everything = document["policies"]["violations"] + document["checks"]["violations"]
    expected = {
        _key(v) for v in everything if v["enforcement"] in ("mandatory", "remediate") and not v.get("exception")
    }
    assert len(expected) == 4  # head's two mandatory violations and mandatory finding, and the remediate one
    waived_mandatory = {_key(v) for v in everything if v["enforcement"] == "mandatory" and v.get("exception")}
    assert waived_mandatory and not waived_mandatory & expected

    # THEN the typed document counts exactly those
    assert {_key(v.to_json()) for v in PlanDocument.from_json(document).blocking} == expected

    # AND the exit code (diff --fail-on-violations) fails, and its JSON counts them
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    code, out, _ = run_cli(capsys, "diff", str(path), str(path), "--format", "json", "--fail-on-violations")
    assert code == 1
    assert json.loads(out)["blocking"] == sum(1 for v in everything if is_blocking(v)) == len(expected)

    # AND SARIF: level error exactly for those; the waived mandatory one is suppressed and not an error
    results = json.loads(render_plan("sarif", document))["runs"][0]["results"]
    errors = {(r["ruleId"], r["locations"][0]["logicalLocations"][0]["name"]) for r in results if r["level"] == "error"}
    assert {(p, "stack" if n == "(stack)" else n) for p, n in expected} == errors
    for r in results:
        if r.get("suppressions"):
            assert r["level"] != "error"

    # AND JUnit: a failure exactly for those; waived ones skipped; advisory ones pass
    suite = ET.fromstring(render_plan("junit", document)).find("testsuite")
    failed = {
        (c.get("classname").split(".", 1)[1], c.get("name").split(" (")[0])
        for c in suite.findall("testcase")
        if c.find("failure") is not None
    }
    assert failed == expected

    # AND Markdown: the ⛔ rows and the summary's Blocking column
    markdown = render_plan("markdown", document)
    rows = {
        (m.group(1), m.group(2) or "(stack)")
        for m in re.finditer(r"^\| *\| `([^`]+)` \| (?:`([^`]+)`|_stack_) \|[^|]*\| ⛔ blocking \|", markdown, re.M)
    }
    assert rows == expected
    assert re.search(rf"\| {len(expected)} \|\n", markdown)


def test_a_plan_whose_only_mandatory_violation_is_waived_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN head.json with every mandatory result waived and an advisory one left
    _, document = plan_pair()
    for section in ("policies", "checks"):
        for v in document[section]["violations"]:
            if v["enforcement"] == "mandatory":
                v["exception"] = WAIVER
    path = tmp_path / "waived.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    # WHEN diffed with --fail-on-violations THEN nothing blocks: exit 0, no SARIF error, no JUnit failure
    code, out, _ = run_cli(capsys, "diff", str(path), str(path), "--format", "json", "--fail-on-violations")
    assert code == 0 and json.loads(out)["blocking"] == 0
    assert all(r["level"] != "error" for r in json.loads(render_plan("sarif", document))["runs"][0]["results"])
    assert ET.fromstring(render_plan("junit", document)).get("failures") == "0"
    assert "⛔" not in render_plan("markdown", document)
