"""The typed plan document: a lossless view of the JSON (byte-identical when written back)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import DATA, GOLDEN

from hybrid_ai_platform.cli.plandoc import ChecksSection, PlanDocument, PoliciesSection, Resource, Violation
from hybrid_ai_platform.cli.report.jsondoc import dumps
from hybrid_ai_platform.cli.synth import Plan


@pytest.mark.parametrize("path", [GOLDEN / "plan.json", DATA / "base.json", DATA / "head.json"], ids=lambda p: p.name)
def test_an_enriched_plan_file_round_trips_byte_identical(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    document = PlanDocument.from_json(json.loads(text))
    # the sections are typed
    assert isinstance(document.policies, PoliciesSection) and isinstance(document.checks, ChecksSection)
    assert all(isinstance(r, Resource) for r in document.resources)
    assert all(isinstance(v, Violation) for v in document.violations)
    # and writing it back gives the same bytes
    assert dumps(document.to_json()) == text


def test_every_shipped_stack_document_round_trips(any_stack_plan: Plan) -> None:
    raw = any_stack_plan.to_json()
    document = PlanDocument.from_json(raw)
    assert document.stack == raw["stack"] and len(document.resources) == len(raw["resources"])
    assert json.dumps(document.to_json()) == json.dumps(raw)


def test_an_unknown_section_travels_in_extras_at_its_place() -> None:
    raw = json.loads((DATA / "head.json").read_text(encoding="utf-8"))
    # GIVEN a section this version does not model (another writer's), between two known ones
    keys = list(raw)
    at = keys.index("cost")
    raw = {**{k: raw[k] for k in keys[:at]}, "placement": {"advice": [1, 2]}, **{k: raw[k] for k in keys[at:]}}
    document = PlanDocument.from_json(raw)
    assert document.extras["placement"] == {"advice": [1, 2]}
    assert list(document.to_json()) == list(raw)


def test_absent_stages_stay_absent_and_a_built_violation_has_the_canonical_keys() -> None:
    document = PlanDocument.from_json({"stack": "dev", "resources": []})
    assert document.policies is None and document.checks is None and document.cost is None
    assert document.to_json() == {"stack": "dev", "resources": []}
    violation = Violation(policy="s3-bucket-versioning", enforcement="mandatory", message="off")
    assert list(violation.to_json()) == [
        "policy",
        "urn",
        "resource_name",
        "resource_type",
        "message",
        "severity",
        "enforcement",
        "remediation",
        "exception",
    ]
    assert violation.blocking and not Violation(policy="x", enforcement="mandatory", exception={"reason": "r"}).blocking
