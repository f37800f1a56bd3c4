"""PreprocessingPipeline: rule → queue (DLQ, redrive) → event source mapping → function, least privilege."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybrid_ai_platform.cli.synth import Plan, synthesize
from hybrid_ai_platform.config import parse_platform_config
from tests.plan_helpers import depends_via, link_stack_program, named, of_type, statements

ACCOUNT = "123456789012"


def prod_function_config(plan: Plan, name: str) -> dict:
    config = parse_platform_config(
        {k.split(":", 1)[1]: v for k, v in plan.config.items() if k.startswith("hybrid-ai-platform:")}
        | {"region": plan.config["aws:region"]},
        plan.stack,
    )
    return next(f for f in config.preprocessing.functions if f.name == name).model_dump()


@pytest.mark.parametrize("fn", ["transactions", "transactions-backfill"])
def test_rule_matches_object_created_for_the_landing_prefix(prod_plan: Plan, fn: str) -> None:
    cfg = prod_function_config(prod_plan, fn)
    rule = named(prod_plan, f"{fn}-object-created")
    landing = named(prod_plan, "landing-bucket")
    assert json.loads(rule.inputs["eventPattern"]) == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [landing.id]}, "object": {"key": [{"prefix": cfg["landing_prefix"]}]}},
    }
    assert depends_via(rule, "eventPattern", landing)
    target = named(prod_plan, f"{fn}-to-queue")
    assert depends_via(target, "arn", named(prod_plan, f"{fn}-queue"))
    assert depends_via(target, "rule", rule)


@pytest.mark.parametrize("fn", ["transactions", "transactions-backfill"])
def test_queue_is_encrypted_redrives_to_dlq_and_outlasts_the_function(prod_plan: Plan, fn: str) -> None:
    cfg = prod_function_config(prod_plan, fn)
    key = named(prod_plan, "stack-key-key")
    queue, dlq = named(prod_plan, f"{fn}-queue"), named(prod_plan, f"{fn}-dlq")
    for q in (queue, dlq):
        assert depends_via(q, "kmsMasterKeyId", key)
    assert queue.inputs["visibilityTimeoutSeconds"] == 6 * cfg["timeout_seconds"]
    redrive = json.loads(queue.inputs["redrivePolicy"])
    assert redrive == {
        "deadLetterTargetArn": f"arn:aws:sqs:eu-central-1:{ACCOUNT}:{dlq.id.rsplit('/', 1)[1]}",
        "maxReceiveCount": cfg["max_receive_count"],
    }
    assert depends_via(queue, "redrivePolicy", dlq)
    assert dlq.inputs["messageRetentionSeconds"] == 1_209_600


def _rule_arn(rule) -> str:
    return f"arn:aws:events:eu-central-1:{ACCOUNT}:rule/{rule.id}"


@pytest.mark.parametrize(
    ("fn", "rules"), [("transactions", ["object-created"]), ("transactions-backfill", ["object-created", "schedule"])]
)
@pytest.mark.parametrize("policy_name", ["queue-policy", "dlq-policy"])
def test_only_the_functions_own_rules_may_send_and_only_over_tls(
    prod_plan: Plan, fn: str, rules: list[str], policy_name: str
) -> None:
    # GIVEN the queue (or DLQ) policy and the rules whose targets deliver (or dead-letter) into it
    expected = sorted(_rule_arn(named(prod_plan, f"{fn}-{r}")) for r in rules)
    policy = named(prod_plan, f"{fn}-{policy_name}")
    stmts = statements(policy.inputs["policy"])
    deny = next(s for s in stmts if s["Effect"] == "Deny")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    allow = [s for s in stmts if s["Effect"] == "Allow"]
    # THEN EventBridge may send only on behalf of exactly those rules: a failed scheduled delivery can be
    # parked in the DLQ, and no other rule can write to the queue
    assert len(allow) == 1
    assert allow[0]["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow[0]["Action"] == "sqs:SendMessage"
    assert sorted(allow[0]["Condition"]["ArnEquals"]["aws:SourceArn"]) == expected
    for rule in rules:
        assert depends_via(policy, "policy", named(prod_plan, f"{fn}-{rule}"))
    # AND every target that names this queue as its target or dead-letter queue belongs to one of those rules
    queue = named(prod_plan, f"{fn}-{'queue' if policy_name == 'queue-policy' else 'dlq'}")
    targets = [
        t
        for t in of_type(prod_plan, "aws:cloudwatch/eventTarget:EventTarget")
        if depends_via(t, "arn", queue) or depends_via(t, "deadLetterConfig", queue)
    ]
    assert sorted(t.name for t in targets) == sorted(
        f"{fn}-{'to-queue' if r == 'object-created' else 'schedule-target'}" for r in rules
    )


@pytest.mark.parametrize("fn", ["transactions", "transactions-backfill"])
def test_event_source_mapping_reports_partial_failures_and_caps_concurrency(prod_plan: Plan, fn: str) -> None:
    cfg = prod_function_config(prod_plan, fn)
    esm = named(prod_plan, f"{fn}-queue-trigger")
    assert esm.inputs["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert esm.inputs["scalingConfig"] == {"maximumConcurrency": cfg["maximum_concurrency"]}
    assert esm.inputs["batchSize"] == cfg["batch_size"]
    assert esm.inputs["maximumBatchingWindowInSeconds"] == cfg["batching_window_seconds"]
    assert depends_via(esm, "eventSourceArn", named(prod_plan, f"{fn}-queue"))
    assert depends_via(esm, "functionName", named(prod_plan, f"{fn}-function"))


@pytest.mark.parametrize("fn", ["transactions", "transactions-backfill"])
def test_function_limits_tracing_logs_and_environment(prod_plan: Plan, fn: str) -> None:
    cfg = prod_function_config(prod_plan, fn)
    function = named(prod_plan, f"{fn}-function")
    inputs = function.inputs
    assert inputs["reservedConcurrentExecutions"] == cfg["reserved_concurrency"]
    assert inputs["memorySize"] == cfg["memory_mb"] and inputs["timeout"] == cfg["timeout_seconds"]
    assert inputs["tracingConfig"] == {"mode": "Active"}
    assert inputs["architectures"] == [cfg["architecture"]]
    assert inputs["handler"] == "preprocessing.handler.lambda_handler"
    assert inputs["code"]["archive"]["path"] == f"build/lambda/{cfg['architecture']}/function.zip"
    log_group = named(prod_plan, f"{fn}-logs")
    assert log_group.inputs["name"] == f"/aws/lambda/{inputs['name']}"
    assert log_group.inputs["retentionInDays"] == cfg["log_retention_days"]
    assert inputs["loggingConfig"]["logGroup"] == log_group.inputs["name"]
    env = inputs["environment"]["variables"]
    assert env["LANDING_BUCKET"] == named(prod_plan, "landing-bucket").id
    assert env["FEATURE_BUCKET"] == named(prod_plan, "feature-store-bucket").id
    assert env["LANDING_PREFIX"] == cfg["landing_prefix"]
    assert env["FEATURE_SET"] == cfg["feature_set"]
    assert env["QUARANTINE_PREFIX"] == f"{cfg['feature_set']}/_quarantine/"
    assert len(env["CODE_VERSION"]) == 64
    assert not [k for k in env if any(w in k.lower() for w in ("secret", "password", "token", "key"))]


@pytest.mark.parametrize("fn", ["transactions", "transactions-backfill"])
def test_role_is_least_privilege_with_exact_arns(prod_plan: Plan, fn: str) -> None:
    cfg = prod_function_config(prod_plan, fn)
    role = named(prod_plan, f"{fn}-role")
    trust = statements(role.inputs["assumeRolePolicy"])
    assert trust == [
        {
            "Sid": "AssumeFromService",
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": ["sts:AssumeRole"],
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }
    ]
    policy = {s["Sid"]: s for s in statements(named(prod_plan, f"{fn}-role-policy").inputs["policy"])}
    landing = f"arn:aws:s3:::{named(prod_plan, 'landing-bucket').id}"
    features = f"arn:aws:s3:::{named(prod_plan, 'feature-store-bucket').id}"
    queue = named(prod_plan, f"{fn}-queue")
    assert policy["ReadLanding0"]["Resource"] == f"{landing}/{cfg['landing_prefix']}*"
    assert policy["WriteOwnFeatures0"]["Resource"] == f"{features}/{cfg['feature_set']}/*"
    assert "s3:PutObject" not in json.dumps(policy["ReadLanding0"])
    # HeadObject needs an unconditioned ListBucket to see 404 for a missing key, in both buckets
    for sid, bucket in (("ReadLanding1", landing), ("ReadOwnFeatures1", features)):
        assert policy[sid] == {"Sid": sid, "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket}
    assert policy["ConsumeOwnQueue"]["Resource"].endswith(queue.id.rsplit("/", 1)[1])
    key_arn = named(prod_plan, "stack-key-key")
    assert policy["UseStackKey"]["Resource"] == f"arn:aws:kms:eu-central-1:{ACCOUNT}:key/{key_arn.id}"
    # no statement grants a data action on "*"
    for sid, statement in policy.items():
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if any(a.split(":")[0] in {"s3", "kms", "sqs"} for a in actions):
            assert statement["Resource"] != "*", sid
        assert not any(a.endswith(":*") or a == "*" for a in actions), sid


def test_the_schedule_sends_its_event_to_the_functions_queue_and_never_invokes_the_function(prod_plan: Plan) -> None:
    # GIVEN the backfill's schedule rule
    schedule = named(prod_plan, "transactions-backfill-schedule")
    assert schedule.inputs["scheduleExpression"] == "cron(0 3 * * ? *)"
    target = named(prod_plan, "transactions-backfill-schedule-target")
    # THEN its target is the function's own queue (the handler answers a Scheduled Event with a sweep),
    # with the Scheduled Event unchanged (its time fixes the swept day) and failed deliveries parked in the DLQ
    assert depends_via(target, "rule", schedule)
    assert depends_via(target, "arn", named(prod_plan, "transactions-backfill-queue"))
    assert "input" not in target.inputs and "inputTransformer" not in target.inputs
    assert depends_via(target, "deadLetterConfig", named(prod_plan, "transactions-backfill-dlq"))
    # AND nothing lets EventBridge invoke an SQS-shaped handler directly
    assert of_type(prod_plan, "aws:lambda/permission:Permission") == []
    assert of_type(prod_plan, "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig") == []
    # AND the function knows where to enqueue, while a function without a schedule gets neither rule nor URL
    env = named(prod_plan, "transactions-backfill-function").inputs["environment"]["variables"]
    assert env["SWEEP_QUEUE_URL"] == named(prod_plan, "transactions-backfill-queue").id
    assert "SWEEP_QUEUE_URL" not in named(prod_plan, "transactions-function").inputs["environment"]["variables"]
    assert [r.name for r in of_type(prod_plan, "aws:cloudwatch/eventRule:EventRule") if "schedule" in r.name] == [
        "transactions-backfill-schedule"
    ]


def test_the_sweep_may_list_only_its_landing_prefix_and_send_only_to_its_own_queue(prod_plan: Plan) -> None:
    # GIVEN the role policies of a function with and without a schedule
    sweeping = {s["Sid"]: s for s in statements(named(prod_plan, "transactions-backfill-role-policy").inputs["policy"])}
    plain = {s["Sid"]: s for s in statements(named(prod_plan, "transactions-role-policy").inputs["policy"])}
    landing = f"arn:aws:s3:::{named(prod_plan, 'landing-bucket').id}"
    queue = named(prod_plan, "transactions-backfill-queue")
    # THEN the sweep's ListObjectVersions is limited to its prefix and its SendMessage to its own queue ARN
    assert sweeping["SweepListsLandingVersions"] == {
        "Sid": "SweepListsLandingVersions",
        "Effect": "Allow",
        "Action": "s3:ListBucketVersions",
        "Resource": landing,
        "Condition": {"StringLike": {"s3:prefix": ["raw/transactions-backfill/*"]}},
    }
    assert sweeping["SweepEnqueuesOnOwnQueue"]["Action"] == "sqs:SendMessage"
    assert sweeping["SweepEnqueuesOnOwnQueue"]["Resource"] == (
        f"arn:aws:sqs:eu-central-1:{ACCOUNT}:{queue.id.rsplit('/', 1)[1]}"
    )
    # AND a function without a schedule has neither, and no function may send to its DLQ any more
    assert not {"SweepListsLandingVersions", "SweepEnqueuesOnOwnQueue"} & set(plain)
    assert "ParkFailedAsyncInvocations" not in sweeping and "ParkFailedAsyncInvocations" not in plain


def test_missing_package_is_a_clear_error(tmp_path) -> None:
    from hybrid_ai_platform.components.preprocessing import LambdaPackage, PackageError

    with pytest.raises(PackageError, match="Run `make package`"):
        LambdaPackage.from_manifest(tmp_path / "arm64" / "manifest.json")


def _functions_with(plan: Plan, index: int, **changes: object) -> list[dict]:
    functions = [dict(f) for f in plan.config["hybrid-ai-platform:preprocessing"]["functions"]]
    functions[index].update(changes)
    return functions


def test_a_feature_set_the_package_does_not_contain_is_a_config_error(prod_plan: Plan) -> None:
    from hybrid_ai_platform.config import ConfigError

    # GIVEN prod with the backfill asking for a feature set no module of lambda_src implements
    functions = _functions_with(prod_plan, 1, feature_set="transactions_daily")
    # WHEN synthesized THEN it is rejected before any resource, naming the field, the value and what exists
    with pytest.raises(ConfigError) as caught:
        synthesize("prod", overrides={"hybrid-ai-platform:preprocessing": {"functions": functions}})
    assert caught.value.problems == [
        "preprocessing.functions[1].feature_set: 'transactions_daily' is not a feature set of the Lambda package "
        "build/lambda/arm64 (available: transactions); use one of those, or add "
        "lambda_src/preprocessing/feature_sets/transactions_daily.py and run `make package`"
    ]


def test_blueprint_plan_exits_2_without_a_traceback_for_an_unknown_feature_set(tmp_path, capsys) -> None:
    import shutil

    import yaml

    from hybrid_ai_platform.cli.main import main

    # GIVEN a copy of the project whose prod backfill names an unknown feature set
    repo = Path(__file__).resolve().parents[2]
    root = tmp_path / "project"
    shutil.copytree(repo / "stacks", root / "stacks", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    shutil.copy(repo / "Pulumi.yaml", root / "Pulumi.yaml")
    link_stack_program(root)
    stack_file = root / "stacks" / "Pulumi.prod.yaml"
    document = yaml.safe_load(stack_file.read_text())
    document["config"]["hybrid-ai-platform:preprocessing"]["functions"][1]["feature_set"] = "transactions_daily"
    stack_file.write_text(yaml.safe_dump(document))
    # WHEN planned
    code = main(["--root", str(root), "plan", "--stack", "prod"])
    out, err = capsys.readouterr()
    # THEN exit 2 with the field named, and no traceback
    assert code == 2 and out == ""
    assert "preprocessing.functions[1].feature_set: 'transactions_daily'" in err
    assert "Traceback" not in err


def test_the_shipped_backfill_produces_the_feature_set_a_batch_job_reads(any_stack_plan: Plan) -> None:
    # GIVEN every preprocessing function and batch job of the stack
    config = any_stack_plan.config
    functions = config["hybrid-ai-platform:preprocessing"]["functions"]
    jobs = config.get("hybrid-ai-platform:inference", {}).get("batch_jobs", [])
    package = json.loads((Path(__file__).resolve().parents[2] / "build/lambda/arm64/manifest.json").read_text())
    # THEN each function's feature set is shipped in the package, and every scheduled (backfill) function
    # feeds a feature set some batch job consumes
    for fn in functions:
        assert fn["feature_set"] in package["feature_sets"], fn["name"]
        if fn.get("schedule") and jobs:
            assert fn["feature_set"] in {j["feature_set"] for j in jobs}, fn["name"]


def test_a_manifest_without_its_feature_sets_must_be_rebuilt(tmp_path) -> None:
    from hybrid_ai_platform.components.preprocessing import LambdaPackage, PackageError

    manifest = tmp_path / "arm64" / "manifest.json"
    manifest.parent.mkdir()
    manifest.write_text(
        json.dumps({"function_zip": "function.zip", "function_base64sha256": "x", "function_sha256": "y"})
    )
    with pytest.raises(PackageError, match=r"missing or invalid 'feature_sets'.*make package"):
        LambdaPackage.from_manifest(manifest)
