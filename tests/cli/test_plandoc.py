"""The typed plan document: a lossless view of the JSON (byte-identical when written back)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import DATA, GOLDEN

from hybrid_ai_platform.cli.plandoc import (
    ChecksSection,
    CostSection,
    PlanDocument,
    PoliciesSection,
    Resource,
    Violation,
)
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
    raw = {**{k: raw[k] for k in keys[:at]}, "forecast": {"advice": [1, 2]}, **{k: raw[k] for k in keys[at:]}}
    document = PlanDocument.from_json(raw)
    assert document.extras["forecast"] == {"advice": [1, 2]}
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


def test_sections_a_stage_assigns_are_written_in_the_order_assigned() -> None:
    # GIVEN an enriched plan file and the document synthesis wrote before the stages ran
    text = (DATA / "head.json").read_text(encoding="utf-8")
    full = json.loads(text)
    synthesized = {k: v for k, v in full.items() if k not in ("policies", "checks", "cost")}
    document = PlanDocument.from_json(synthesized)
    # WHEN the stages assign their typed sections, as `blueprint plan` does
    document.policies = PoliciesSection.from_json(full["policies"])
    document.checks = ChecksSection.from_json(full["checks"])
    document.cost = CostSection.from_json(full["cost"])
    # THEN the document is the file, byte for byte (each section after the keys read, in assignment order)
    assert dumps(document.to_json()) == text
    # AND a stage that did not run leaves no key behind
    assert "placement" not in document.to_json() and "quotas" not in document.to_json()


PLACEMENT = {
    "region": "eu-central-1",
    "currency": "USD",
    "functions": [
        {
            "function": "transactions",
            "usage": {"requests_per_month": 2000000.0, "duration_ms": 2500.0, "memory_mb": 3008.0,
                      "architecture": "arm64", "peak_to_mean": 1.0},
            "calibrated_from": [],
            "current": {"placement": "lambda", "monthly": 196.23},
            "cheapest": {"placement": "cluster", "monthly": 79.5},
            "monthly": {"lambda": 196.23, "lambda-provisioned": 166.1, "cluster": 79.5},
            "overspend_percent": 146.8,
            "break_even_requests_per_month": 450125,
            "cluster": {"node_type": "m7i.large", "nodes": 2, "pods": 3, "spot_hour": 0.0484},
            "provisioned_concurrency": 2,
        }
    ],
}  # fmt: skip
"""The shape of docs/plan-format.md's ``placement`` section (prod's ``transactions``)."""


def test_the_placement_and_quotas_sections_are_typed_and_round_trip() -> None:
    raw = json.loads((DATA / "head.json").read_text(encoding="utf-8"))
    quotas = {
        "region": "eu-central-1",
        "required": [
            {"service_code": "ec2", "quota_code": "L-0263D0A3", "quota_name": "EC2-VPC Elastic IPs",
             "unit": "addresses", "needed": 3, "reasons": ["one per NAT gateway: 3"]}
        ],
        "problems": [],
    }  # fmt: skip
    raw = {**raw, "placement": PLACEMENT, "quotas": quotas}
    document = PlanDocument.from_json(raw)
    assert document.placement is not None and document.quotas is not None
    [entry] = document.placement.functions
    assert (entry.function, entry.current.placement, entry.cheapest.placement) == ("transactions", "lambda", "cluster")
    assert entry.usage.requests_per_month == 2_000_000 and entry.break_even_requests_per_month == 450_125
    # 79.5 (cluster) < 196.23 (Lambda on-demand): the cluster is the cheaper side at this rate
    assert entry.cheaper_side == "cluster"
    assert entry.extras["cluster"]["nodes"] == 2  # keys no model names stay, where they were
    assert document.quotas.required[0].quota_code == "L-0263D0A3" and document.quotas.required[0].needed == 3
    assert json.dumps(document.to_json()) == json.dumps(raw)
