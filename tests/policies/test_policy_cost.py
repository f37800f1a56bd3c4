"""The cost estimator shared by the budget policy and the CLI."""

from __future__ import annotations

import pytest
from hybrid_ai_platform.policies.cost import estimate, gpus_per_instance, price_table
from hypothesis import given
from hypothesis import strategies as st

from hybrid_ai_platform.contracts import GPUS_PER_INSTANCE
from tests.conftest import shipped_plan


def _res(type_: str, name: str, inputs: dict, **extra) -> dict:
    return {"urn": f"urn:pulumi:t::p::{type_}::{name}", "type": type_, "name": name, "inputs": inputs, **extra}


def test_price_table_records_source_and_regions() -> None:
    table = price_table()
    assert "AWS public pricing" in table["source"] and table["date"]
    assert {"eu-west-1", "eu-central-1", "us-east-1"} <= set(table["regions"])
    for prices in table["regions"].values():
        for family in (
            "g4dn.xlarge",
            "g5.xlarge",
            "g6.xlarge",
            "g6e.xlarge",
            "p4d.24xlarge",
            "p5.48xlarge",
            "t3.large",
            "m7i.large",
            "m7i.xlarge",
        ):
            assert prices["ec2_hour"][family] > 0


def test_node_group_uses_usage_hours_and_launch_template_volume() -> None:
    # GIVEN a GPU node group with 2920 hours of usage and a 200 GB launch-template volume
    template = _res(
        "aws:ec2/launchTemplate:LaunchTemplate", "gpu-l4-lt", {"blockDeviceMappings": [{"ebs": {"volumeSize": 200}}]}
    )
    group = _res(
        "aws:eks/nodeGroup:NodeGroup",
        "gpu-l4-node-group",
        {"instanceTypes": ["g6.2xlarge"], "scalingConfig": {"desiredSize": 2}},
        property_dependencies={"launchTemplate": [template["urn"]]},
    )
    # WHEN estimated in eu-central-1
    result = estimate([template, group], "eu-central-1", {"gpu_node_hours_per_month": {"gpu-l4": 2920}})
    # THEN node hours x price plus 4 volume-months of gp3
    items = result["resources"][0]["items"]
    assert items[0]["quantity"] == 2920 and items[0]["unit_price"] == 1.188
    assert items[1]["quantity"] == pytest.approx(800)
    assert result["total_monthly"] == round(2920 * 1.188 + 800 * 0.0952, 2)


def test_node_group_without_usage_runs_desired_size_all_month() -> None:
    group = _res(
        "aws:eks/nodeGroup:NodeGroup", "system", {"instanceTypes": ["t3.large"], "scalingConfig": {"desiredSize": 1}}
    )
    result = estimate([group], "eu-west-1", {})
    assert result["resources"][0]["items"][0]["quantity"] == 730


def test_lambda_is_priced_per_request_and_gb_second_by_architecture() -> None:
    function = _res(
        "aws:lambda/function:Function",
        "transactions-function",
        {"name": "app-prod-transactions", "memorySize": 2048, "architectures": ["arm64"]},
    )
    usage = {"functions": {"transactions": {"requests_per_month": 1_000_000, "average_duration_ms": 1000}}}
    items = estimate([function], "eu-west-1", usage)["resources"][0]["items"]
    assert items[0]["monthly"] == 0.2
    assert items[1]["quantity"] == 2_000_000 and items[1]["unit_price"] == 0.0000133334


def test_longest_usage_key_wins() -> None:
    backfill = _res("aws:lambda/function:Function", "transactions-backfill-function", {"memorySize": 1024})
    usage = {
        "functions": {"transactions": {"requests_per_month": 1}, "transactions-backfill": {"requests_per_month": 7}}
    }
    assert estimate([backfill], "eu-west-1", usage)["resources"][0]["items"][0]["quantity"] == 7 / 1_000_000


def test_unknown_region_and_instance_type_are_noted() -> None:
    result = estimate([_res("aws:ec2/instance:Instance", "i", {"instanceType": "x9.huge"})], "mars-1", {})
    assert result["notes"] == [
        "no price for instance type x9.huge; counted as 0",
        "region mars-1 is not in the price table; us-east-1 prices used",
    ]


@pytest.mark.parametrize("stack,low,high", [("dev", 50, 1500), ("staging", 100, 4000), ("prod", 200, 15000)])
def test_shipped_stacks_are_estimated_under_their_budgets(stack: str, low: float, high: float) -> None:
    plan = shipped_plan(stack).to_json()
    usage = plan["config"]["hybrid-ai-platform:usage"]
    result = estimate(plan["resources"], plan["config"]["aws:region"], usage)
    assert low < result["total_monthly"] < high
    assert result["total_monthly"] == round(sum(r["monthly"] for r in result["resources"]), 2)
    assert [r["urn"] for r in result["resources"]] == sorted(r["urn"] for r in result["resources"])


@given(st.sampled_from(sorted(GPUS_PER_INSTANCE)), st.integers(min_value=0, max_value=50))
def test_gpu_counts_are_positive_for_gpu_families(instance_type: str, nodes: int) -> None:
    assert gpus_per_instance(instance_type) >= 1
    assert nodes * gpus_per_instance(instance_type) >= nodes
