"""BP-SYS-007 GPU capacity, judged on the plan: the components' real output is edited (an HPA floor, a
node group's maxSize, a lost toleration, an oversized pod) and the plan must block."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hybrid_ai_platform.cli.checks.capacity import Group, _memory, _surge, may_land_on
from hybrid_ai_platform.cli.diff import is_blocking
from tests.checks.check_helpers import document, findings, named, resources

CHECK = "system-gpu-capacity"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def _pod(record: dict[str, Any]) -> dict[str, Any]:
    spec = record["inputs"]["spec"]
    if record["type"].endswith("CronJob"):
        spec = spec["jobTemplate"]["spec"]
    pod: dict[str, Any] = spec["template"]["spec"]
    return pod


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_shipped_stacks_fit_their_gpu_groups(stack: str) -> None:
    assert findings(document(stack), CHECK) == []


def test_an_hpa_floor_above_what_the_group_holds_blocks_on_the_node_group() -> None:
    # GIVEN prod (gpu-l4: maxSize 13 x 1 GPU) whose fraud-scorer HPA floor a component raised to 10
    doc = document("prod")
    named(doc, "fraud-scorer-scaledobject")["inputs"]["spec"]["minReplicaCount"] = 10
    # WHEN checked: 10 + 1 surge + churn-predictor 2 + 1 + the nightly job 1 = 15 GPUs
    [finding] = findings(doc, CHECK)
    # THEN it blocks on the node group and its max_size
    assert is_blocking(finding)
    assert finding["urn"] == named(doc, "gpu-l4-nodes")["urn"]
    assert finding["field"] == "cluster.gpu_node_groups[0].max_size"
    assert "GPU demand 15 exceeds" in finding["message"] and "(13)" in finding["message"]
    assert "Deployment fraud-scorer: 10 autoscaler minimum + 1 surge x 1 GPU" in finding["message"]


def test_the_demand_at_exactly_the_supply_fits() -> None:
    doc = document("prod")
    named(doc, "fraud-scorer-scaledobject")["inputs"]["spec"]["minReplicaCount"] = 8  # 9 + 3 + 1 = 13
    assert findings(doc, CHECK) == []


def test_a_node_group_whose_max_size_dropped_blocks() -> None:
    # GIVEN dev (fraud-scorer 1 + 1 surge, the nightly job 1) with gpu-small wired to maxSize 2
    doc = document("dev")
    group = named(doc, "gpu-small-nodes")
    group["inputs"]["scalingConfig"]["maxSize"] = 2
    [finding] = findings(doc, CHECK)
    assert is_blocking(finding) and finding["urn"] == group["urn"]
    assert "GPU demand 3 exceeds" in finding["message"]


def test_a_gpu_pod_that_tolerates_no_gpu_taint_blocks_naming_the_workload() -> None:
    # GIVEN prod whose churn-predictor lost its toleration of the GPU nodes' taint
    doc = document("prod")
    deployment = named(doc, "churn-predictor-deployment")
    _pod(deployment)["tolerations"] = []
    [finding] = findings(doc, CHECK)
    assert is_blocking(finding)
    assert finding["urn"] == deployment["urn"]
    assert finding["field"] == "inference.models[1].resources"
    assert "may land on no GPU node group" in finding["message"]


def test_a_batch_pod_selecting_a_label_no_group_has_blocks_on_the_job() -> None:
    doc = document("dev")
    cronjob = named(doc, "nightly-fraud-scores-cronjob")
    _pod(cronjob)["nodeSelector"] = {"hybrid-ai/node-pool": "gpu-large"}
    [finding] = findings(doc, CHECK)
    assert finding["urn"] == cronjob["urn"] and finding["field"] == "inference.batch_jobs[0].model"


def test_a_pod_larger_than_one_node_blocks_on_its_resources() -> None:
    # GIVEN dev's fraud-scorer asking for more memory than a g4dn.xlarge (16 GiB) offers
    doc = document("dev")
    deployment = named(doc, "fraud-scorer-deployment")
    _pod(deployment)["containers"][0]["resources"]["requests"]["memory"] = "16Gi"
    [finding] = findings(doc, CHECK)
    assert is_blocking(finding) and finding["urn"] == deployment["urn"]
    assert finding["field"] == "inference.models[0].resources"
    assert "more than one node of g4dn.xlarge offers" in finding["message"]


def test_a_cronjob_that_allows_concurrent_runs_counts_two() -> None:
    doc = document("dev")  # max 3 GPUs: 1 + 1 surge + 1 job
    named(doc, "nightly-fraud-scores-cronjob")["inputs"]["spec"]["concurrencyPolicy"] = "Allow"
    [finding] = findings(doc, CHECK)
    assert "GPU demand 4 exceeds" in finding["message"]


def test_an_indexed_batch_job_counts_parallelism_pods() -> None:
    # GIVEN dev (max 3 GPUs: 1 + 1 surge + 1 job) whose batch Job runs 2 indexes at once
    doc = document("dev")
    job = named(doc, "nightly-fraud-scores-cronjob")["inputs"]["spec"]["jobTemplate"]["spec"]
    assert job["completionMode"] == "Indexed" and job["parallelism"] == 1
    job.update(completions=4, parallelism=2)
    # WHEN checked THEN the job's demand is 2 pods x 1 GPU and the group cannot hold it
    [finding] = findings(doc, CHECK)
    assert is_blocking(finding)
    assert "GPU demand 4 exceeds" in finding["message"]
    assert "CronJob nightly-fraud-scores: 1 concurrent run(s) x 2 pod(s) x 1 GPU" in finding["message"]


def test_pods_pinned_to_one_group_are_judged_against_that_group_alone() -> None:
    # GIVEN prod with a second, large GPU group that only churn-predictor may use (its own label)
    doc = document("prod")
    big = copy.deepcopy(named(doc, "gpu-l4-nodes"))
    big["urn"] += "-big"
    big["name"] = "gpu-big-nodes"
    big["inputs"].update(nodeGroupName="gpu-big", labels={**big["inputs"]["labels"], "hybrid-ai/node-pool": "gpu-big"})
    big["inputs"]["scalingConfig"]["maxSize"] = 50
    doc["resources"].append(big)
    for record in resources(doc, "kubernetes:apps/v1:Deployment") + resources(doc, "kubernetes:batch/v1:CronJob"):
        if record["name"] != "churn-predictor-deployment":
            _pod(record)["nodeSelector"] = {"hybrid-ai/node-pool": "gpu-l4"}
    named(doc, "gpu-l4-nodes")["inputs"]["scalingConfig"]["maxSize"] = 4
    # WHEN fraud-scorer (2 + 1) and the job (1) need 4 on gpu-l4: it fits
    assert findings(doc, CHECK) == []
    # AND with one replica more they do not, although the pool as a whole has 53 GPUs
    named(doc, "fraud-scorer-scaledobject")["inputs"]["spec"]["minReplicaCount"] = 3
    [finding] = findings(doc, CHECK)
    assert finding["urn"] == named(doc, "gpu-l4-nodes")["urn"]


def test_scheduling_semantics() -> None:
    group = Group({}, "g", ("g6.xlarge",), 1, {"a": "1"}, (("nvidia.com/gpu", "true", "NoSchedule"),))
    tolerate = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert may_land_on({"tolerations": tolerate}, group)
    assert may_land_on({"tolerations": [{"operator": "Exists"}]}, group)  # tolerates everything
    assert not may_land_on({"tolerations": [{"key": "nvidia.com/gpu", "value": "false"}]}, group)
    assert not may_land_on({"tolerations": tolerate, "nodeSelector": {"a": "2"}}, group)
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "a", "operator": "In", "values": ["2"]}]},
        {"matchExpressions": [{"key": "a", "operator": "Exists"}]},
    ]}}}  # fmt: skip
    assert may_land_on({"tolerations": tolerate, "affinity": affinity}, group)  # terms are ORed
    affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"].pop()
    assert not may_land_on({"tolerations": tolerate, "affinity": affinity}, group)


@pytest.mark.parametrize(
    ("strategy", "replicas", "surge"),
    [({}, 4, 1), ({}, 5, 2), ({"rollingUpdate": {"maxSurge": 1}}, 9, 1),
     ({"rollingUpdate": {"maxSurge": "50%"}}, 3, 2), ({"type": "Recreate"}, 3, 0)],
)  # fmt: skip
def test_rolling_update_surge(strategy: dict[str, Any], replicas: int, surge: int) -> None:
    # the API default maxSurge is 25%, rounded up
    assert _surge(strategy, replicas) == surge


@pytest.mark.parametrize(("quantity", "mib"), [("8Gi", 8192), ("512Mi", 512), ("1G", 1e9 / 2**20), ("1048576", 1)])
def test_memory_quantities(quantity: str, mib: float) -> None:
    assert _memory(quantity) == pytest.approx(mib)
