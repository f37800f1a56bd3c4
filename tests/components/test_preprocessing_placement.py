"""Placement of preprocessing functions (docs/placement.md): ``cluster`` and ``auto`` in the prod plan, the
size-split rules under EventBridge numeric semantics, and the worker's grants equal to the Lambda role's."""

from __future__ import annotations

import copy
import datetime
import json
import re
from typing import Any

import pytest
from hybrid_ai_platform.components.preprocessing import LAMBDA_PLATFORM_SIDS

from hybrid_ai_platform.cli.checks import run_checks
from hybrid_ai_platform.cli.checks.size_split import matching_rules, partition_problems
from hybrid_ai_platform.cli.synth import PROJECT_ROOT, Plan
from hybrid_ai_platform.config import PreprocessingFunctionConfig
from tests.conftest import PLACED_THRESHOLD, placed_prod_plan, shipped_plan
from tests.plan_helpers import depends_via, named, statements

ACCOUNT = "123456789012"
TODAY = datetime.date(2026, 11, 28)
THRESHOLD = PLACED_THRESHOLD


@pytest.fixture(scope="module")
def placed_plan() -> Plan:
    """prod with ``transactions`` on ``auto`` and ``transactions-backfill`` on ``cluster`` (on the system nodes):
    one synthesis covers both placements (tests/conftest.py)."""
    return placed_prod_plan()


def _pattern(plan: Plan, name: str) -> dict[str, Any]:
    return json.loads(named(plan, name).inputs["eventPattern"])


def test_auto_splits_objects_by_size_at_the_threshold_exactly_once(placed_plan: Plan) -> None:
    # GIVEN auto's two rules, each targeting its own queue
    small, large = "transactions-object-created", "transactions-object-created-large"
    patterns = {small: _pattern(placed_plan, small), large: _pattern(placed_plan, large)}
    assert depends_via(named(placed_plan, "transactions-to-queue"), "arn", named(placed_plan, "transactions-queue"))
    target = named(placed_plan, "transactions-large-to-cluster-queue")
    assert depends_via(target, "arn", named(placed_plan, "transactions-cluster-queue"))
    assert depends_via(target, "rule", named(placed_plan, large))
    # WHEN objects just below, at and above the threshold are matched with EventBridge's numeric semantics
    # THEN up to the threshold goes to Lambda, above it to the cluster, each size to exactly one rule
    assert matching_rules(patterns, THRESHOLD - 1) == [small]
    assert matching_rules(patterns, THRESHOLD) == [small]
    assert matching_rules(patterns, THRESHOLD + 1) == [large]
    assert partition_problems(patterns) == []
    # AND both rules keep the bucket and prefix filter of the Lambda-only rule
    for pattern in patterns.values():
        assert pattern["detail"]["object"]["key"] == [{"prefix": "raw/transactions/"}]
        assert pattern["source"] == ["aws.s3"] and pattern["detail-type"] == ["Object Created"]


def test_spot_workers_get_a_tainted_spot_node_group_sized_for_their_maximum(placed_plan: Plan) -> None:
    group = named(placed_plan, "preprocessing-nodes").inputs
    assert group["capacityType"] == "SPOT"
    assert group["labels"] == {"hybrid-ai/node-pool": "preprocessing"}
    assert group["taints"] == [{"key": "hybrid-ai/node-pool", "value": "preprocessing", "effect": "NO_SCHEDULE"}]
    # transactions (3008 MB, 5 replicas): 5 x ceil(3008/1769 vCPU) = 5 x 1701m = 8505m; the smallest type
    # (m7i.large, 2 vCPU) offers 2000m - 70m kube-reserved = 1930m: ceil(8505 / 1930) = 5 nodes
    assert group["scalingConfig"] == {"minSize": 0, "maxSize": 5, "desiredSize": 0}
    pod = named(placed_plan, "transactions-worker-deployment").inputs["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"hybrid-ai/node-pool": "preprocessing"}
    assert pod["containers"][0]["resources"]["requests"] == {"cpu": "1701m", "memory": "3008Mi"}


def test_auto_cluster_queue_has_the_lambda_queues_semantics_and_its_own_alarms(placed_plan: Plan) -> None:
    lambda_queue, cluster_queue = (
        named(placed_plan, "transactions-queue"),
        named(placed_plan, "transactions-cluster-queue"),
    )
    for key in ("visibilityTimeoutSeconds", "messageRetentionSeconds", "receiveWaitTimeSeconds"):
        assert cluster_queue.inputs[key] == lambda_queue.inputs[key]
    assert depends_via(cluster_queue, "redrivePolicy", named(placed_plan, "transactions-cluster-dlq"))
    assert (
        json.loads(cluster_queue.inputs["redrivePolicy"])["maxReceiveCount"]
        == (json.loads(lambda_queue.inputs["redrivePolicy"])["maxReceiveCount"])
    )
    modes = {(m["component"], m["failure_mode"]) for m in placed_plan.outputs["failure_modes"] if m["alarm"]}
    for key in ("cluster-queue-age", "cluster-dlq-not-empty", "cluster-dlq-age"):
        assert ("pipeline/transactions", key) in modes
    # the Lambda path stays: its event source mapping consumes the Lambda queue
    assert depends_via(named(placed_plan, "transactions-queue-trigger"), "eventSourceArn", lambda_queue)


def test_cluster_placement_hands_the_queue_to_a_keda_scaled_worker(placed_plan: Plan) -> None:
    # GIVEN the backfill on placement: cluster
    names = {r.name for r in placed_plan.resources}
    # THEN no Lambda function, role, log group or event source mapping; a worker Deployment consumes the
    # queue, scaled from zero on its depth
    for lambda_part in ("queue-trigger", "function", "role", "role-policy", "logs"):
        assert f"transactions-backfill-{lambda_part}" not in names
    assert "transactions-backfill" not in placed_plan.outputs["preprocessing_functions"]
    deployment = named(placed_plan, "transactions-backfill-worker-deployment")
    pod = deployment.inputs["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert depends_via(deployment, "spec", named(placed_plan, "transactions-backfill-queue"))
    assert env["QUEUE_URL"].endswith("/" + named(placed_plan, "transactions-backfill-queue").id.rsplit("/", 1)[1])
    assert env["POWERTOOLS_SERVICE_NAME"] == "transactions-backfill"
    assert env["WORKER_TIMEOUT_SECONDS"] == str(
        named(placed_plan, "transactions-backfill-queue").inputs["visibilityTimeoutSeconds"] // 6
    )
    assert pod["nodeSelector"] == {"hybrid-ai/node-pool": "system"}
    assert pod["terminationGracePeriodSeconds"] >= 20 + int(env["WORKER_TIMEOUT_SECONDS"]) + 10
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["livenessProbe"]["exec"]["command"][-1] == "--probe"
    assert "readinessProbe" not in container
    # AND Pulumi neither waits for a ready pod (only a queued message brings one) nor owns the replica count
    assert deployment.inputs["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
    assert "replicas" not in deployment.inputs["spec"]
    scaled = named(placed_plan, "transactions-backfill-worker-scaledobject").inputs["spec"]
    assert scaled["minReplicaCount"] == 0
    [trigger] = scaled["triggers"]
    assert trigger["type"] == "aws-sqs-queue"
    assert trigger["metadata"]["queueURLFromEnv"] == "QUEUE_URL"
    assert trigger["metadata"]["queueLength"] == env["WORKER_MAX_MESSAGES"]
    auth = named(placed_plan, "transactions-backfill-worker-trigger-auth")
    assert auth.inputs["spec"] == {"podIdentity": {"provider": "aws"}}
    assert trigger["authenticationRef"]["name"] == auth.inputs["metadata"]["name"]
    # AND the KEDA operator may read exactly the workers' queues' depth
    keda = statements(named(placed_plan, "keda-identity-policy").inputs["policy"])
    [depth] = [s for s in keda if s.get("Sid") == "ReadQueueDepth"]
    assert depth["Action"] == "sqs:GetQueueAttributes"
    queue_arns = {
        f"arn:aws:sqs:eu-central-1:{ACCOUNT}:{named(placed_plan, q).id.rsplit('/', 1)[1]}"
        for q in ("transactions-cluster-queue", "transactions-backfill-queue")
    }
    assert set(depth["Resource"]) == queue_arns


def test_worker_role_has_the_lambda_roles_grants_on_its_own_queue(placed_plan: Plan) -> None:
    fn, worker_queue, lambda_queue = "transactions", "transactions-cluster-queue", "transactions-queue"

    def arn(queue: str) -> str:
        return f"arn:aws:sqs:eu-central-1:{ACCOUNT}:{named(placed_plan, queue).id.rsplit('/', 1)[1]}"

    lambda_grants = statements(named(placed_plan, f"{fn}-role-policy").inputs["policy"])
    worker_grants = statements(named(placed_plan, f"{fn}-worker-identity-policy").inputs["policy"])
    # THEN the worker's grants are the Lambda role's, without the Lambda platform's statements, with the
    # consumed queue being the worker's
    expected = json.loads(
        json.dumps([s for s in lambda_grants if s.get("Sid") not in LAMBDA_PLATFORM_SIDS]).replace(
            f'"Resource": "{arn(lambda_queue)}"}}', f'"Resource": "{arn(worker_queue)}"}}'
        )
    )
    sweep = [s for s in expected if s.get("Sid") == "SweepEnqueuesOnOwnQueue"]
    assert worker_grants == expected
    assert all(s["Resource"] == arn(worker_queue) for s in sweep)
    assert {s["Sid"] for s in lambda_grants} - {s["Sid"] for s in worker_grants} == set(LAMBDA_PLATFORM_SIDS)


def test_placed_plan_passes_the_system_checks(placed_plan: Plan) -> None:
    # GIVEN the plan with both placements WHEN the system checks run (triggers and the size split,
    # the worker's calls against its Pod Identity role, capacity, reachability, the KEDA manifests
    # against the vendored CRD schemas) THEN none finds anything the shipped prod plan does not
    def blocking(doc: dict[str, Any]) -> set[tuple[str, str]]:
        return {(v["policy"], v["message"]) for v in run_checks(doc, PROJECT_ROOT, TODAY)["violations"]}

    shipped = {policy for policy, _ in blocking(shipped_plan("prod").to_json())}
    new = {(p, m) for p, m in blocking(placed_plan.to_json()) if p not in shipped or "worker" in m}
    assert new == set()


def test_a_gap_or_an_overlap_between_size_rules_is_a_finding(placed_plan: Plan) -> None:
    doc = copy.deepcopy(placed_plan.to_json())
    large = next(r for r in doc["resources"] if r["name"] == "transactions-object-created-large" and r["custom"])
    pattern = json.loads(large["inputs"]["eventPattern"])
    for condition, problem in (([">", THRESHOLD + 1], "a gap"), ([">=", THRESHOLD], "processed twice")):
        pattern["detail"]["object"]["size"] = [{"numeric": condition}]
        large["inputs"]["eventPattern"] = json.dumps(pattern)
        found = [
            v
            for v in run_checks(doc, PROJECT_ROOT, TODAY)["violations"]
            if v["policy"] == "system-lambda-trigger-accepted"
        ]
        assert len(found) == 1 and problem in found[0]["message"], found


def _alarm_value(alarm: dict[str, Any], matched: dict[str, int]) -> int:
    """The alarm's metric-math value when each rule (by physical name) matched ``matched[name]`` events."""
    queries = alarm["inputs"]["metricQueries"]
    values = {q["id"]: matched[q["metric"]["dimensions"]["RuleName"]] for q in queries if "metric" in q}
    [expression] = [q["expression"] for q in queries if q.get("returnData")]
    total, sign = 0, 1
    for token in expression.replace("FILL(", "").replace(", 0)", "").split():
        if token in ("+", "-"):
            sign = 1 if token == "+" else -1
        else:
            total += sign * values[token]
    return total


def test_an_object_beyond_the_documented_numeric_range_routed_nowhere_raises_the_unrouted_alarm(
    placed_plan: Plan,
) -> None:
    doc = placed_plan.to_json()
    by_name = {r["name"]: r for r in doc["resources"] if r["custom"]}
    small, large, every = (
        by_name[f"transactions-object-created{suffix}"] for suffix in ("", "-large", "-any")
    )  # fmt: skip
    routes = {small["name"]: json.loads(small["inputs"]["eventPattern"])}
    routes[large["name"]] = json.loads(large["inputs"]["eventPattern"])
    # GIVEN the unsplit rule: the size rules' pattern without the size, and no target (it delivers nothing)
    unsplit = copy.deepcopy(routes[small["name"]])
    del unsplit["detail"]["object"]["size"]
    assert json.loads(every["inputs"]["eventPattern"]) == unsplit
    targeted = {r["inputs"]["rule"] for r in doc["resources"] if r["type"] == "aws:cloudwatch/eventTarget:EventTarget"}
    assert every["id"] not in targeted and {small["id"], large["id"]} <= targeted
    # AND the unrouted-objects alarm on the three rules' TriggeredRules (per RuleName), naming the function's setting
    [alarm] = [
        r
        for r in doc["resources"]
        if r["type"] == "aws:cloudwatch/metricAlarm:MetricAlarm" and "unrouted-objects" in r["name"]
    ]
    assert alarm["inputs"]["comparisonOperator"] == "GreaterThanThreshold" and alarm["inputs"]["threshold"] == 0
    terms = [q["metric"] for q in alarm["inputs"]["metricQueries"] if q.get("metric")]
    assert {(t["namespace"], t["metricName"], tuple(t["dimensions"])) for t in terms} == {
        ("AWS/Events", "TriggeredRules", ("RuleName",))
    }
    assert re.search(r"Config: preprocessing\.functions\[\d+\]\.placement\b", alarm["inputs"]["alarmDescription"])
    for size, legacy, routed_to, alarmed in (
        (1_000, True, [small["name"]], False),
        (THRESHOLD + 1, True, [large["name"]], False),
        # event-ruler 1.8.0+: every float64 compares, the large rule matches
        (5_500_000_000, False, [large["name"]], False),
        # event-ruler up to 1.7.4 (EventBridge's documented range): no numeric condition matches 5.5e9
        (5_500_000_000, True, [], True),
    ):
        # WHEN an object of that size lands, matched as that matcher does
        matched = matching_rules(routes, size, legacy=legacy)
        assert matched == routed_to, (size, legacy)
        counts = {
            every["id"]: 1,
            small["id"]: int(small["name"] in matched),
            large["id"]: int(large["name"] in matched),
        }
        # THEN the alarm fires exactly when no size rule routed it
        assert (_alarm_value(alarm, counts) > alarm["inputs"]["threshold"]) is alarmed, (size, legacy)


def test_size_rules_that_may_route_large_objects_nowhere_need_the_counting_rule(placed_plan: Plan) -> None:
    def findings(doc: dict[str, Any]) -> list[str]:
        return [
            v["message"]
            for v in run_checks(doc, PROJECT_ROOT, TODAY)["violations"]
            if v["policy"] == "system-lambda-trigger-accepted" and "size-split" in v["message"]
        ]

    # GIVEN the placed plan (with the unsplit counting rule) THEN no finding
    assert findings(copy.deepcopy(placed_plan.to_json())) == []
    # WHEN the counting rule is gone THEN objects above 5.0e9 may be lost silently: a finding
    doc = copy.deepcopy(placed_plan.to_json())
    doc["resources"] = [r for r in doc["resources"] if r["name"] != "transactions-object-created-any"]
    [message] = findings(doc)
    assert "5000000001 bytes may match none of them" in message and "unrouted-objects" in message


def test_partition_check_probes_every_region_of_the_bounds() -> None:
    def rule(*conditions: list[Any]) -> dict[str, Any]:
        return {"detail": {"object": {"size": [{"numeric": c} for c in conditions]}}}

    assert partition_problems({"a": rule(["<", 10]), "b": rule([">=", 10])}) == []
    assert partition_problems({"a": rule(["<=", 10]), "b": rule([">", 10, "<", 100]), "c": rule([">=", 100])}) == []
    assert (
        "no rule matches objects of 100 bytes" in partition_problems({"a": rule(["<", 100]), "b": rule([">", 100])})[0]
    )
    assert "objects of 10 bytes match 2 rules" in partition_problems({"a": rule(["<=", 10]), "b": rule([">=", 10])})[0]
    # a value that is not a number never matches a numeric condition (EventBridge matches JSON numbers only)
    assert matching_rules({"a": rule([">=", 0])}, "12") == []  # type: ignore[arg-type]


def test_derived_threshold_is_a_quarter_of_what_fits_the_timeout_and_the_memory() -> None:
    base = {"name": "fn-a", "feature_set": "transactions", "landing_prefix": "raw/", "placement": "auto"}
    worker = {"image_tag": "t1"}
    # 1024 MB, 120 s, 10 MB/s per vCPU (the measured default): time allows 10e6 * 1024/1769 * 120 = 0.69e9
    # bytes, memory 2^30: the time bound wins, a quarter of it
    default = PreprocessingFunctionConfig(**base, worker=worker)
    assert default.effective_size_threshold_bytes() == int(10_000_000 * 1024 / 1769 * 120 / 4) == 173_657_433
    # 900 s: time allows 5.2e9 bytes, the memory bound wins: a quarter of 2^30
    long = PreprocessingFunctionConfig(**base, worker=worker, timeout_seconds=900)
    assert long.effective_size_threshold_bytes() == 2**30 // 4
    # a measured 40 MB/s at 120 s: 2.78e9 bytes, the memory bound again
    fast = PreprocessingFunctionConfig(**base, worker=worker, throughput_bytes_per_vcpu_second=40_000_000)
    assert fast.effective_size_threshold_bytes() == 2**30 // 4
    assert (
        PreprocessingFunctionConfig(**base, worker=worker, size_threshold_bytes=7).effective_size_threshold_bytes() == 7
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"placement": "cluster"}, "placement 'cluster' needs worker"),
        ({"size_threshold_bytes": 10}, "size_threshold_bytes only applies to placement: auto"),
        (
            {"placement": "auto", "worker": {"image_tag": "t"}, "schedule": "rate(1 day)"},
            "schedule cannot be combined with placement: auto",
        ),
    ],
)
def test_placement_config_errors_name_the_field_and_the_fix(changes: dict[str, Any], message: str) -> None:
    from pydantic import ValidationError

    base = {"name": "fn-a", "feature_set": "transactions", "landing_prefix": "raw/"}
    with pytest.raises(ValidationError) as caught:
        PreprocessingFunctionConfig(**base, **changes)
    assert message in str(caught.value)


def test_checks_judge_the_worker_as_the_code_it_runs(placed_plan: Plan) -> None:
    # GIVEN the backfill worker's role without its queue grant, and auto's large rule delivering another shape
    doc = copy.deepcopy(placed_plan.to_json())
    policy = next(r for r in doc["resources"] if r["name"] == "transactions-backfill-worker-identity-policy")
    grants = json.loads(policy["inputs"]["policy"])
    grants["Statement"] = [s for s in grants["Statement"] if s.get("Sid") != "ConsumeOwnQueue"]
    policy["inputs"]["policy"] = json.dumps(grants)
    large = next(r for r in doc["resources"] if r["name"] == "transactions-object-created-large")
    pattern = json.loads(large["inputs"]["eventPattern"])
    pattern["detail-type"] = ["Object Deleted"]
    large["inputs"]["eventPattern"] = json.dumps(pattern)
    # WHEN the system checks run
    violations = run_checks(doc, PROJECT_ROOT, TODAY)["violations"]
    # THEN the permission check evaluates the worker's declared calls (WORKLOADS["worker"]) against its role
    denied = [v for v in violations if v["policy"] == "system-workload-permissions"]
    assert denied and all(
        "worker preprocessing-transactions-backfill/transactions-backfill" in v["message"] for v in denied
    )
    assert {v["message"].split(": ", 1)[1].split(" on ", 1)[0] for v in denied} >= {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    }
    # AND the trigger check follows the cluster queue to the worker, which does not accept Object Deleted
    # (and the two rules no longer split one event stream: each alone leaves a gap)
    triggers = [v["message"] for v in violations if v["policy"] == "system-lambda-trigger-accepted"]
    assert any("Object Deleted" in m and "worker preprocessing-transactions/transactions" in m for m in triggers)
    assert any("a gap" in m for m in triggers)
