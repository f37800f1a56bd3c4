"""Alarm coverage (BP-SYS-010): a declared failure mode without an alarm routed to the topic blocks the plan."""

from __future__ import annotations

import copy
from typing import Any

from hybrid_ai_platform.cli.checks import run_checks
from hybrid_ai_platform.cli.diff import is_blocking
from hybrid_ai_platform.cli.synth import PROJECT_ROOT, synthesize
from tests.conftest import SHIPPED_STACKS, shipped_plan

CHECK = "system-alarm-coverage"


def _findings(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in run_checks(document, PROJECT_ROOT)["violations"] if v["policy"] == CHECK]


def test_shipped_stacks_cover_every_declared_failure_mode() -> None:
    for stack in SHIPPED_STACKS:
        document = shipped_plan(stack).to_json()
        modes = document["outputs"]["failure_modes"]
        # GIVEN every shipped stack declares pipeline, freshness and (with models) SLO failure modes
        assert {m["component"].split("/")[0] for m in modes} >= {"pipeline", "feature-set"}
        assert all(m["alarm"] for m in modes)
        # THEN none lacks an alarm
        assert _findings(document) == []


def test_a_freshness_alarm_turned_off_is_blocking_and_names_the_component_and_field() -> None:
    # GIVEN prod with the transactions feature set's freshness window set to null
    base = shipped_plan("prod").to_json()
    preprocessing = copy.deepcopy(base["config"]["hybrid-ai-platform:preprocessing"])
    preprocessing["freshness_window_minutes"] = {"transactions": None}
    plan = synthesize("prod", overrides={"hybrid-ai-platform:preprocessing": preprocessing})
    # WHEN the plan is checked
    findings = _findings(plan.to_json())
    # THEN exactly that failure mode blocks, naming the component and the config field
    assert len(findings) == 1
    (finding,) = findings
    assert is_blocking(finding)
    assert finding["field"] == "preprocessing.freshness_window_minutes.transactions"
    assert "feature-set/transactions" in finding["message"] and "'stale'" in finding["message"]
    assert not any(r.name == "alerts-feature-set-transactions-stale" for r in plan.resources)


def test_a_missing_alarm_is_blocking_and_names_the_pipeline() -> None:
    # GIVEN prod's plan without the throttles alarm of the transactions pipeline
    document = copy.deepcopy(shipped_plan("prod").to_json())
    document["resources"] = [r for r in document["resources"] if r["name"] != "alerts-transactions-throttles"]
    # WHEN checked THEN the failure mode is reported against the pipeline component and its field
    (finding,) = _findings(document)
    assert is_blocking(finding)
    assert finding["field"] == "alarms.lambda_throttles_threshold"
    assert finding["resource_name"] == "transactions"
    assert finding["resource_type"] == "hybrid-ai:preprocessing:PreprocessingPipeline"


def test_an_alarm_that_notifies_nobody_is_blocking() -> None:
    # GIVEN the fraud-scorer availability SLO's composite alarm with no actions
    document = copy.deepcopy(shipped_plan("prod").to_json())
    for record in document["resources"]:
        if record["name"] == "alerts-model-fraud-scorer-slo-availability":
            record["inputs"]["alarmActions"] = []
    # WHEN checked THEN it is reported as not routed to the topic
    (finding,) = _findings(document)
    assert "does not notify the stack's alerts topic" in finding["message"]
    assert finding["field"] == "inference.models[0].slo.availability_target"
    assert finding["resource_type"] == "aws:cloudwatch/compositeAlarm:CompositeAlarm"


def test_a_plan_that_lost_its_declarations_is_blocking() -> None:
    document = copy.deepcopy(shipped_plan("dev").to_json())
    del document["outputs"]["failure_modes"]
    (finding,) = _findings(document)
    assert is_blocking(finding) and "no failure_modes stack output" in finding["message"]
