"""The placement advisor's figures against hand-computed cases (docs/placement.md, ``## Cost model``).

Common prices (policies/blueprint_policies/data/prices.json, us-east-1, arm64): requests $0.20 per million,
on-demand $0.0000133334 per GB-s, provisioned concurrency $0.0000033334 per GB-s, provisioned duration
$0.0000077778 per GB-s, m7i.large on-demand $0.1008/h; 730 h a month, so S = 2,628,000 s. Cluster
assumptions of these tests: spot price $0.05/h (node month 0.05 x 730 = $36.50), 2 pods per node, 1 request
per pod, utilisation 0.7, fixed share 0.1 node (0.1 x 0.1008 x 730 = $7.3584).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hybrid_ai_platform.policies import placement
from hybrid_ai_platform.policies.placement import (
    ClusterAssumptions,
    FunctionProfile,
    PlacementInputError,
    advise_function,
    calibrate,
)

CLUSTER = ClusterAssumptions(spot_price_per_hour=0.05)
SMALL = FunctionProfile("small", requests_per_month=100_000, duration_ms=200, memory_mb=512, architecture="arm64")
BIG = FunctionProfile("big", requests_per_month=50_000_000, duration_ms=1000, memory_mb=2048, architecture="arm64")


def test_lambda_wins_for_a_small_function() -> None:
    advice = advise_function(SMALL, CLUSTER, "us-east-1")
    # a = 0.2e-6 + 0.2 s x 0.5 GB x 0.0000133334 = 0.00000153334 per request; x 100,000 = $0.153334
    assert advice.monthly["lambda"] == pytest.approx(0.153334, rel=1e-9)
    # peak rate 100,000 / 2,628,000 = 0.03805/s; x 0.2 s = 0.0076 busy; pods ceil(0.0076/0.7) = 1, nodes 1:
    # 1 x 36.50 + 7.3584 = $43.8584
    assert advice.monthly["cluster"] == pytest.approx(43.8584, rel=1e-9)
    # PC ceil(0.0076) = 1: 1 x 0.5 GB x 2,628,000 s x 0.0000033334 = 4.3800876; invocations
    # 100,000 x 0.2 x 0.5 x 0.0000077778 = 0.077778; requests 0.02: $4.4778656
    assert advice.monthly["lambda-provisioned"] == pytest.approx(4.4778656, rel=1e-9)
    assert advice.cheapest == "lambda"
    assert advice.current == "lambda"
    assert advice.overspend_percent == 0


def test_cluster_wins_for_a_busy_function() -> None:
    advice = advise_function(BIG, CLUSTER, "us-east-1")
    # a = 0.2e-6 + 1 s x 2 GB x 0.0000133334 = 0.0000268668; x 50,000,000 = $1,343.34
    assert advice.monthly["lambda"] == pytest.approx(1343.34, rel=1e-9)
    # peak rate 50e6 / 2,628,000 = 19.0259/s, busy 19.0259; pods ceil(19.0259/0.7 = 27.18) = 28; nodes 14:
    # 14 x 36.50 + 7.3584 = $518.3584
    assert advice.monthly["cluster"] == pytest.approx(518.3584, rel=1e-9)
    # PC ceil(19.0259) = 20: 20 x 2 x 2,628,000 x 0.0000033334 = 350.407008; invocations
    # 50e6 x 1 x 2 x 0.0000077778 = 777.78; requests 10: $1,138.187008
    assert advice.monthly["lambda-provisioned"] == pytest.approx(1138.187008, rel=1e-9)
    assert advice.cheapest == "cluster"
    # on Lambda today: (1343.34 - 518.3584) / 518.3584 = 159.15% costlier
    assert advice.overspend_percent == pytest.approx((1343.34 - 518.3584) / 518.3584 * 100, rel=1e-9)
    entry = advice.to_json()
    assert entry["cluster"] == {"node_type": "m7i.large", "nodes": 14, "pods": 28, "spot_hour": 0.05}
    assert entry["provisioned_concurrency"] == 20


def test_break_even_rate_is_where_lambda_meets_the_first_node_step() -> None:
    advice = advise_function(BIG, CLUSTER, "us-east-1")
    # one node carries 2 pods x 0.7 x 1 x 2,628,000 s / (1 x 1 s) = 3,679,200 requests a month; the first step
    # costs 36.50 + 7.3584 = 43.8584, met by the line a R at R = 43.8584 / 0.0000268668 = 1,632,438.55 <= 3,679,200
    assert advice.break_even_requests == pytest.approx(43.8584 / 0.0000268668, rel=1e-9)
    assert advice.break_even_requests == pytest.approx(1_632_438.55, abs=0.01)
    at = placement.replace(BIG, requests_per_month=advice.break_even_requests)
    prices = advice.prices
    assert placement.lambda_on_demand(at, prices) == pytest.approx(placement.cluster_cost(at, CLUSTER, prices))
    below = placement.replace(BIG, requests_per_month=1_600_000)
    assert placement.lambda_on_demand(below, prices) < placement.cluster_cost(below, CLUSTER, prices)


def test_cluster_cost_is_a_step_function_of_the_rate() -> None:
    prices = placement.prices_for("us-east-1", "arm64", CLUSTER)
    # at 3,679,200 requests: peak 1.4/s x 1 s = 1.4 busy; pods ceil(1.4/0.7) = 2 -> 1 node ($43.8584);
    # one more request needs a third pod -> 2 nodes: 2 x 36.50 + 7.3584 = $80.3584
    full = placement.replace(BIG, requests_per_month=3_679_200)
    over = placement.replace(BIG, requests_per_month=3_679_201)
    assert placement.cluster_nodes(full, CLUSTER, prices) == 1
    assert placement.cluster_cost(full, CLUSTER, prices) == pytest.approx(43.8584, rel=1e-9)
    assert placement.cluster_nodes(over, CLUSTER, prices) == 2
    assert placement.cluster_cost(over, CLUSTER, prices) == pytest.approx(80.3584, rel=1e-9)
    # no traffic still keeps one pod on one node
    idle = placement.replace(BIG, requests_per_month=0)
    assert placement.cluster_pods(idle, CLUSTER, prices) == 1


def test_no_break_even_when_a_node_costs_more_than_lambda_for_its_capacity() -> None:
    advice = advise_function(SMALL, CLUSTER, "us-east-1")
    # one node carries 2 x 0.7 x 2,628,000 / 0.2 = 18,396,000 requests, which cost 18,396,000 x 0.00000153334 =
    # $28.21 on Lambda < $36.50 a node: the cluster never catches up
    assert advice.break_even_requests is None
    assert advice.side_of_break_even() == "lambda"


def test_burst_shape_scales_the_cluster_and_provisioned_concurrency() -> None:
    bursty = placement.replace(BIG, peak_to_mean=3)
    prices = placement.prices_for("us-east-1", "arm64", CLUSTER)
    # peak 3 x 19.0259 = 57.0776/s; pods ceil(57.0776 / 0.7 = 81.54) = 82; nodes 41; PC ceil(57.0776) = 58
    assert placement.cluster_nodes(bursty, CLUSTER, prices) == 41
    assert placement.provisioned_concurrency(bursty, prices) == 58
    hourly = placement.profiles_from_config(
        {
            "p:preprocessing": {"functions": [{"name": "f", "placement": "cluster"}]},
            "p:usage": {"functions": {"f": {"hourly_profile": [1] * 12 + [3] * 12}}},
        },
        "p",
    )
    # weights mean 2, max 3: peak-to-mean 1.5; defaults 1024 MB arm64, 100,000 requests of 2,000 ms
    assert hourly[0].peak_to_mean == 1.5
    assert (hourly[0].memory_mb, hourly[0].architecture, hourly[0].placement) == (1024, "arm64", "cluster")


def test_default_spot_price_is_the_table_fraction_of_on_demand() -> None:
    prices = placement.prices_for("eu-west-1", "x86_64", ClusterAssumptions())
    # eu-west-1 m7i.large $0.1120/h x 0.40 = $0.0448/h
    assert prices.spot_hour == pytest.approx(0.0448)
    assert prices.gb_second == 0.0000166667
    with pytest.raises(PlacementInputError, match=r"usage\.cluster\.node_type: 'x9\.huge'"):
        placement.prices_for("eu-west-1", "arm64", ClusterAssumptions(node_type="x9.huge"))


POWER_TUNING = {
    "results": {
        "power": "512",
        "cost": 0.0000002083,
        "duration": 180.5,
        "stateMachine": {"executionCost": 0.00045, "lambdaCost": 0.0005252, "visualization": "https://x"},
    }
}


def _cloudwatch() -> dict[str, object]:
    # four 1-hour periods with 100, 300, 100, 300 invocations and 100 ms / 200 ms average durations
    stamps = ["2026-11-01T00:00:00Z", "2026-11-01T01:00:00Z", "2026-11-01T02:00:00Z", "2026-11-01T03:00:00Z"]
    return {
        "MetricDataResults": [
            {"Id": "invocations", "Label": "Invocations", "Timestamps": stamps, "Values": [100, 300, 100, 300]},
            {"Id": "duration", "Label": "Duration", "Timestamps": stamps, "Values": [100, 200, 100, 200]},
        ],
        "Messages": [],
    }


def test_calibrate_from_power_tuning_output() -> None:
    fn = calibrate(SMALL, POWER_TUNING, "tuning.json")
    assert (fn.memory_mb, fn.duration_ms, fn.calibrated_from) == (512, 180.5, ("tuning.json",))
    assert calibrate(SMALL, POWER_TUNING["results"], "bare.json").duration_ms == 180.5


def test_calibrate_from_cloudwatch_export() -> None:
    fn = calibrate(SMALL, _cloudwatch(), "cw.json")
    # 800 invocations in 4 x 3,600 s = 14,400 s; x 2,628,000 / 14,400 = 146,000 a month
    assert fn.requests_per_month == pytest.approx(146_000)
    # (100x100 + 300x200 + 100x100 + 300x200) / 800 = 175 ms
    assert fn.duration_ms == pytest.approx(175)
    # busiest period 300 over mean 200
    assert fn.peak_to_mean == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"results": {"power": "x"}}, "results.power and results.duration are required"),
        ({"MetricDataResults": []}, "no 'Invocations' series"),
        ({"other": 1}, "neither AWS Lambda Power Tuning output"),
    ],
)
def test_calibrate_refuses_other_files_naming_the_field(data: object, message: str) -> None:
    with pytest.raises(PlacementInputError, match=message):
        calibrate(SMALL, data, "m.json")


def test_worked_example_in_docs_matches_the_model() -> None:
    """docs/placement.md's worked example is the BIG case: its figures are the model's."""
    text = (Path(__file__).parents[2] / "docs" / "placement.md").read_text(encoding="utf-8")
    section = text.split("## Cost model", 1)[1]
    advice = advise_function(BIG, CLUSTER, "us-east-1")
    for figure in (
        f"${advice.monthly['lambda']:,.2f}",
        f"${advice.monthly['cluster']:,.2f}",
        f"${advice.monthly['lambda-provisioned']:,.2f}",
        f"{advice.break_even_requests:,.0f}",
    ):
        assert figure in section, figure
    assert not math.isnan(json.loads(json.dumps(advice.to_json()))["monthly"]["lambda"])


def _worker(name: str, memory: str, component: str = "preprocessing-worker") -> dict[str, object]:
    """A worker Deployment's properties as components/preprocessing_worker.py writes them (the parts judged)."""
    labels = {"app.kubernetes.io/component": component, "app.kubernetes.io/name": name}
    container = {"name": "worker", "resources": {"requests": {"cpu": "500m", "memory": memory}}}
    return {"metadata": {"name": name, "labels": labels}, "spec": {"template": {"spec": {"containers": [container]}}}}


def test_placement_cost_policy_judges_a_cluster_worker_against_lambda() -> None:
    from hybrid_ai_platform.policies.rules.placement_cost import POLICY, WORKER_TYPE
    from hybrid_ai_platform.policies.testing import resource_args, run

    config = {
        "usage": {
            "functions": {
                "small": {"requests_per_month": 100_000, "average_duration_ms": 200},
                "big": {"requests_per_month": 50_000_000, "average_duration_ms": 1000},
            },
            "cluster": {"spot_price_per_hour": 0.05},
        }
    }
    # GIVEN SMALL on the cluster (eu-central-1, the test provider's region): one pod, one node, $0.05 x 730 =
    # 36.50 plus 0.1 x m7i.large $0.1210 x 730 = 8.833: $45.33; on Lambda (x86_64, the Deployment does not name
    # the architecture) 100,000 x 0.2 s x 0.5 GB x $0.0000166667 = 0.1667 plus 0.1 M x $0.20: $0.19
    outcome = run(POLICY, resource_args(WORKER_TYPE, _worker("small", "512Mi"), name="small", config=config))
    # THEN the advisory names both figures
    [message] = outcome.messages
    assert "function 'small' costs $45.33/month on the cluster" in message
    assert "more than lambda at $0.19/month (threshold 20%)" in message
    # AND BIG on the cluster (cheapest there) passes, and a Deployment that is not a worker is not judged
    assert run(POLICY, resource_args(WORKER_TYPE, _worker("big", "2Gi"), name="big", config=config)).passed
    other = run(POLICY, resource_args(WORKER_TYPE, _worker("web", "512Mi", "inference"), name="web", config=config))
    assert other.not_applicable is not None and not other.violations
