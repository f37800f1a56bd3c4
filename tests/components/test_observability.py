"""The observability plane in the plan: pipeline health, freshness, SLO burn-rate alarms, dashboard."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hybrid_ai_platform.components.observability import BURN_WINDOWS

from hybrid_ai_platform.cli.synth import Plan
from hybrid_ai_platform.config import ConfigError, parse_platform_config
from tests.plan_helpers import named, of_type

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "cloudwatch-dashboard-body.schema.json").read_text()
)


def _alarms(plan: Plan) -> dict[str, Any]:
    return {r.name: r.inputs for r in of_type(plan, "aws:cloudwatch/metricAlarm:MetricAlarm")}


def test_burn_rates_follow_the_workbook_and_the_slo_window() -> None:
    fast, slow = BURN_WINDOWS
    assert (fast.long_seconds, fast.short_seconds, slow.long_seconds, slow.short_seconds) == (3600, 300, 21600, 1800)
    assert (fast.burn_rate(30), slow.burn_rate(30)) == (14.4, 6.0)
    assert (fast.burn_rate(7), slow.burn_rate(7)) == (3.36, 1.4)


def test_each_pipeline_has_an_alarm_per_failure_mode(prod_plan: Plan) -> None:
    alarms = _alarms(prod_plan)
    topic_arn = prod_plan.outputs["alerts_topic_arn"]
    for fn, timeout, reserved in (("transactions", 300, 50), ("transactions-backfill", 900, 10)):
        for key in ("records-failed", "errors", "throttles", "duration-near-timeout", "concurrency-at-limit",
                    "queue-age", "dlq-not-empty", "dlq-age"):  # fmt: skip
            alarm = alarms[f"alerts-{fn}-{key}"]
            assert alarm["alarmActions"] == [topic_arn] and alarm["okActions"] == [topic_arn], key
        duration = alarms[f"alerts-{fn}-duration-near-timeout"]
        assert (duration["metricName"], duration["statistic"], duration["threshold"]) == (
            "Duration", "Maximum", timeout * 1000 * 0.9)  # fmt: skip
        concurrency = alarms[f"alerts-{fn}-concurrency-at-limit"]
        assert (concurrency["metricName"], concurrency["threshold"]) == ("ConcurrentExecutions", reserved)
        assert alarms[f"alerts-{fn}-dlq-age"]["threshold"] == 259_200
        assert alarms[f"alerts-{fn}-dlq-age"]["dimensions"] == alarms[f"alerts-{fn}-dlq-not-empty"]["dimensions"]


def test_freshness_sums_every_function_of_the_feature_set_and_silence_breaches(prod_plan: Plan) -> None:
    alarm = _alarms(prod_plan)["alerts-feature-set-transactions-stale"]
    queries = alarm["metricQueries"]
    services = sorted(q["metric"]["dimensions"]["service"] for q in queries if q.get("metric"))
    assert services == ["transactions", "transactions-backfill"]
    assert [q["expression"] for q in queries if q.get("expression")] == ["FILL(m0, 0) + FILL(m1, 0)"]
    # one day by default, in 5-minute periods; no data at all is a breach
    assert (alarm["evaluationPeriods"], alarm["datapointsToAlarm"]) == (288, 288)
    assert {q["metric"]["period"] for q in queries if q.get("metric")} == {300}
    assert (alarm["comparisonOperator"], alarm["threshold"], alarm["treatMissingData"]) == (
        "LessThanThreshold", 1, "breaching")  # fmt: skip


def test_each_model_has_burn_rate_alarms_joined_by_a_composite_to_the_topic(prod_plan: Plan) -> None:
    alarms = _alarms(prod_plan)
    composites = {r.name: r.inputs for r in of_type(prod_plan, "aws:cloudwatch/compositeAlarm:CompositeAlarm")}
    topic_arn = prod_plan.outputs["alerts_topic_arn"]
    for model in ("fraud-scorer", "churn-predictor"):
        for sli, budget in (("availability", "0.001"), ("latency", "0.01")):
            name = f"alerts-model-{model}-slo-{sli}"
            composite = composites[name]
            assert composite["alarmActions"] == [topic_arn] and composite["okActions"] == [topic_arn]
            parts = {f"{w}-{s}": alarms[f"{name}-{w}-{s}"] for w in ("fast", "slow") for s in ("long", "short")}
            names = {key: alarm["name"] for key, alarm in parts.items()}
            assert composite["alarmRule"] == (
                f'(ALARM("{names["fast-long"]}") AND ALARM("{names["fast-short"]}")) OR '
                f'(ALARM("{names["slow-long"]}") AND ALARM("{names["slow-short"]}"))'
            )
            for key, alarm in parts.items():
                assert "alarmActions" not in alarm or not alarm["alarmActions"], key
                expected = {"fast": 14.4, "slow": 6.0}[key.split("-")[0]]
                assert alarm["threshold"] == expected
                period = {"fast-long": 3600, "fast-short": 300, "slow-long": 21600, "slow-short": 1800}[key]
                metrics = [q["metric"] for q in alarm["metricQueries"] if q.get("metric")]
                assert {m["period"] for m in metrics} == {period}
                bad = {"availability": "ServerErrors", "latency": "SlowRequests"}[sli]
                assert sorted(m["metricName"] for m in metrics) == sorted(["Requests", bad])
                assert all(set(m["dimensions"]) == {"ClusterName", "Model"} for m in metrics)
                (expression,) = [q["expression"] for q in alarm["metricQueries"] if q.get("expression")]
                assert expression == f"IF(total > 0, bad / total, 0) / {budget}"


def test_each_composite_is_created_after_and_deleted_before_the_alarms_its_rule_names(prod_plan: Plan) -> None:
    # CloudWatch refuses a composite whose rule names alarms that do not exist yet (and refuses to delete an
    # alarm a composite names), so the engine must order them: the four burn-rate alarms are dependencies
    by_name = {r.name: r for r in of_type(prod_plan, "aws:cloudwatch/metricAlarm:MetricAlarm")}
    for composite in of_type(prod_plan, "aws:cloudwatch/compositeAlarm:CompositeAlarm"):
        members = [by_name[f"{composite.name}-{w}-{s}"] for w in ("fast", "slow") for s in ("long", "short")]
        assert {m.urn for m in members} <= set(composite.dependencies), composite.name


def test_slos_are_stack_outputs(prod_plan: Plan) -> None:
    slos = prod_plan.outputs["slos"]
    assert slos["fraud-scorer"] == {
        "availability_target": 0.999,
        "latency_target_ms": 250,
        "latency_percentile": 99,
        "window_days": 30,
        "alarms": ["alerts-model-fraud-scorer-slo-availability", "alerts-model-fraud-scorer-slo-latency"],
    }


def test_the_server_gets_its_metric_dimension_and_latency_target(prod_plan: Plan) -> None:
    deployment = named(prod_plan, "fraud-scorer-deployment").inputs
    env = {e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SLO_LATENCY_TARGET_MS"] == "250"
    assert env["METRICS_CLUSTER_NAME"] == prod_plan.outputs["cluster_name"]


def test_the_dashboard_body_is_valid_and_has_a_row_per_component(any_stack_plan: Plan) -> None:
    (dashboard,) = of_type(any_stack_plan, "aws:cloudwatch/dashboard:Dashboard")
    body = json.loads(dashboard.inputs["dashboardBody"])
    jsonschema.validate(body, SCHEMA)
    for widget in body["widgets"]:
        assert widget["x"] + widget["width"] <= 24
    titles = [w["properties"]["markdown"] for w in body["widgets"] if w["type"] == "text"]
    functions = of_type(any_stack_plan, "aws:lambda/function:Function")
    assert sum(t.startswith("## Pipeline ") for t in titles) == len(functions)
    groups = any_stack_plan.outputs["gpu_node_groups"]
    assert sum(t.startswith("## GPU node group ") for t in titles) == len(groups)
    assert sum(t.startswith("## Model ") for t in titles) == len(any_stack_plan.outputs["slos"])
    assert titles[-1] == "## Cost against budget"
    cost = body["widgets"][-1]["properties"]
    assert cost["region"] == "us-east-1"
    assert cost["annotations"]["horizontal"][0]["value"] > 0
    searches = [
        r[0]["expression"]
        for w in body["widgets"]
        for r in w["properties"].get("metrics", [])
        if isinstance(r[0], dict)
    ]
    gpu = [s for s in searches if "{ContainerInsights," in s]
    assert len(gpu) == 3 * len(groups)
    assert all(re.search(r'MetricName="node_gpu_(utilization|memory_utilization|temperature)"', s) for s in gpu)


def test_a_broken_dashboard_body_fails_the_schema() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {"widgets": [{"type": "metric", "x": 30, "width": 8, "height": 6, "properties": {}}]}, SCHEMA
        )


def test_a_bad_freshness_window_is_one_clear_message(prod_plan: Plan) -> None:
    raw = {k.split(":", 1)[1]: v for k, v in prod_plan.config.items() if k.startswith("hybrid-ai-platform:")}
    raw["region"] = prod_plan.config["aws:region"]
    raw["preprocessing"] = {**raw["preprocessing"], "freshness_window_minutes": {"transactions": 7, "nope": 60}}
    with pytest.raises(ConfigError) as info:
        parse_platform_config(raw, "prod")
    text = "\n".join(info.value.problems)
    assert "preprocessing.freshness_window_minutes.transactions: 7 is not a freshness window" in text


def test_each_gpu_node_group_alarms_on_its_hottest_gpu(any_stack_plan: Plan) -> None:
    alarms = _alarms(any_stack_plan)
    topic_arn = any_stack_plan.outputs["alerts_topic_arn"]
    cluster = any_stack_plan.outputs["cluster_name"]
    groups = any_stack_plan.outputs["gpu_node_groups"]
    assert groups
    for group in groups:
        alarm = alarms[f"alerts-gpu-node-group-{group}-gpu-hot"]
        (query,) = alarm["metricQueries"]
        # a Metrics Insights query over the per-GPU schema, restricted to the cluster and the group's types
        assert query["expression"].startswith(
            'SELECT MAX(node_gpu_temperature) FROM SCHEMA("ContainerInsights", ClusterName, GpuDevice, InstanceId, '
            "InstanceType, NodeName) WHERE "
        )
        assert f"ClusterName = '{cluster}'" in query["expression"] and "InstanceType = '" in query["expression"]
        assert (alarm["threshold"], alarm["evaluationPeriods"], query["period"]) == (85, 3, 300)
        assert alarm["alarmActions"] == [topic_arn]


def test_turning_the_gpu_alarm_off_is_a_blocking_coverage_finding() -> None:
    from hybrid_ai_platform.cli.checks import run_checks
    from hybrid_ai_platform.cli.synth import PROJECT_ROOT, synthesize

    alarms = {**shipped_plan_config("prod"), "gpu_temperature_celsius": None}
    plan = synthesize("prod", overrides={"hybrid-ai-platform:alarms": alarms})
    section = run_checks(plan.to_json(), PROJECT_ROOT)
    findings = [v for v in section["violations"] if v["policy"] == "system-alarm-coverage"]
    assert [(f["field"], f["resource_name"], f["enforcement"]) for f in findings] == [
        ("alarms.gpu_temperature_celsius", "gpu-l4", "mandatory")
    ]


def shipped_plan_config(stack: str) -> dict[str, Any]:
    from tests.conftest import shipped_plan

    return dict(shipped_plan(stack).config.get("hybrid-ai-platform:alarms") or {})
