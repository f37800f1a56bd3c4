"""Encryption key, alarms and budget of the shipped stacks."""

from __future__ import annotations

import fnmatch
import json

from hybrid_ai_platform.cli.synth import Plan, synthesize
from tests.plan_helpers import depends_via, named, of_type, statements


def test_stack_key_rotates_is_single_region_and_scoped(prod_plan: Plan) -> None:
    key = named(prod_plan, "stack-key-key")
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["multiRegion"] is False
    assert key.inputs["deletionWindowInDays"] == 30
    policy = {s["Sid"]: s for s in statements(key.inputs["policy"])}
    assert policy["AccountAdministersKeyThroughIam"]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    logs = policy["CloudWatchLogsForThisAccount"]
    assert logs["Principal"] == {"Service": "logs.eu-central-1.amazonaws.com"}
    assert logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] == (
        "arn:aws:logs:eu-central-1:123456789012:log-group:*"
    )
    services = policy["ServicesOnBehalfOfThisAccount"]
    assert services["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    assert named(prod_plan, "stack-key-alias").inputs["name"] == "alias/hybrid-ai-platform-prod"


def test_bring_your_own_key_creates_no_key() -> None:
    byok = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    plan = synthesize("dev", overrides={"hybrid-ai-platform:encryption": {"key_arn": byok}})
    assert of_type(plan, "aws:kms/key:Key") == []
    sse = named(plan, "landing-encryption").inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert sse["kmsMasterKeyId"] == byok


def test_alarms_watch_dlq_age_errors_and_throttles_for_each_function(prod_plan: Plan) -> None:
    topic = named(prod_plan, "alerts-topic")
    assert depends_via(topic, "kmsMasterKeyId", named(prod_plan, "stack-key-key"))
    alarms = {a.name: a for a in of_type(prod_plan, "aws:cloudwatch/metricAlarm:MetricAlarm")}
    for fn in ("transactions", "transactions-backfill"):
        dlq = alarms[f"alerts-{fn}-dlq-not-empty"].inputs
        assert (dlq["metricName"], dlq["comparisonOperator"], dlq["threshold"]) == (
            "ApproximateNumberOfMessagesVisible",
            "GreaterThanThreshold",
            0,
        )
        assert depends_via(alarms[f"alerts-{fn}-dlq-not-empty"], "dimensions", named(prod_plan, f"{fn}-dlq"))
        age = alarms[f"alerts-{fn}-queue-age"].inputs
        assert age["metricName"] == "ApproximateAgeOfOldestMessage" and age["threshold"] == 900
        assert alarms[f"alerts-{fn}-errors"].inputs["metricName"] == "Errors"
        assert alarms[f"alerts-{fn}-throttles"].inputs["metricName"] == "Throttles"
        # partial batch responses hide failures from Errors: the handler's own failed-records metric is watched,
        # with the function's full dimension set (tests/lambda_src/test_lambda_alarm_contract.py runs the handler)
        failed = alarms[f"alerts-{fn}-records-failed"].inputs
        assert (failed["namespace"], failed["metricName"]) == ("HybridAiPlatform/Preprocessing", "RecordsFailed")
        env = named(prod_plan, f"{fn}-function").inputs["environment"]["variables"]
        assert failed["dimensions"] == {"service": env["POWERTOOLS_SERVICE_NAME"], "FeatureSet": env["FEATURE_SET"]}
    declared = {m["alarm"] for m in prod_plan.outputs["failure_modes"]}
    for alarm in alarms.values():
        if alarm.name in declared:
            assert alarm.inputs["alarmActions"] == [topic.id] and alarm.inputs["okActions"] == [topic.id]
        else:  # an SLO's burn-rate window: its composite alarm (declared) notifies instead
            assert alarm.name.rsplit("-", 2)[0] in declared and not alarm.inputs.get("alarmActions"), alarm.name
    publishers = statements(named(prod_plan, "alerts-topic-policy").inputs["policy"])
    allow = next(s for s in publishers if s["Effect"] == "Allow")
    assert allow["Principal"] == {"Service": ["budgets.amazonaws.com", "cloudwatch.amazonaws.com"]}


def test_budget_is_monthly_filtered_by_stack_tags_and_alerts(prod_plan: Plan) -> None:
    budget = of_type(prod_plan, "aws:budgets/budget:Budget")
    assert len(budget) == 1
    inputs = budget[0].inputs
    assert (inputs["budgetType"], inputs["timeUnit"], inputs["limitAmount"], inputs["limitUnit"]) == (
        "COST",
        "MONTHLY",
        "15000.00",
        "USD",
    )
    filters = inputs["filterExpression"]["ands"]
    assert {f["tags"]["key"]: f["tags"]["values"] for f in filters} == {
        "cost-center": ["cc-4711"],
        "environment": ["prod"],
    }
    got = sorted((n["notificationType"], n["threshold"]) for n in inputs["notifications"])
    assert got == [("ACTUAL", 50), ("ACTUAL", 80), ("ACTUAL", 100), ("FORECASTED", 90), ("FORECASTED", 100)]
    topic = named(prod_plan, "alerts-topic")
    for notification in inputs["notifications"]:
        assert notification["subscriberSnsTopicArns"] == [topic.id]
        assert notification["subscriberEmailAddresses"] == ["ml-platform-finops@example.com"]
    assert json.dumps(inputs).count("PERCENTAGE") == 5


def test_budget_is_created_after_the_topic_policy_that_lets_budgets_publish(prod_plan: Plan) -> None:
    # GIVEN the budget that notifies the alerts topic, and the topic policy admitting budgets.amazonaws.com
    budget = of_type(prod_plan, "aws:budgets/budget:Budget")[0]
    policy = named(prod_plan, "alerts-topic-policy")
    allow = next(s for s in statements(policy.inputs["policy"]) if s["Effect"] == "Allow")
    assert "budgets.amazonaws.com" in allow["Principal"]["Service"]
    # THEN the engine creates the budget only once that policy exists (a dependency, not just the topic ARN)
    assert policy.urn in budget.dependencies


def test_eventbridge_may_use_the_key_for_this_accounts_rules_the_queue_policies_admit(prod_plan: Plan) -> None:
    # GIVEN the key policy WHEN looking for what events.amazonaws.com may do
    policy = statements(named(prod_plan, "stack-key-key").inputs["policy"])
    events = [s for s in policy if "events.amazonaws.com" in json.dumps(s.get("Principal", {}))]
    # THEN one statement names it, conditioned on this account and on its rules: aws:SourceArn of an
    # EventBridge delivery is the rule (the resource making the request), as in the queue policies
    assert len(events) == 1
    assert sorted(events[0]["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    condition = events[0]["Condition"]
    assert condition["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    pattern = condition["ArnLike"]["aws:SourceArn"]
    assert pattern == "arn:aws:events:eu-central-1:123456789012:rule/*"
    # AND every rule ARN a queue policy admits (the same request context SQS evaluates) satisfies it,
    # so the key never refuses a delivery the queue accepts
    admitted = []
    for queue_policy in of_type(prod_plan, "aws:sqs/queuePolicy:QueuePolicy"):
        for statement in statements(queue_policy.inputs["policy"]):
            for operator in ("ArnEquals", "ArnLike"):
                value = statement.get("Condition", {}).get(operator, {}).get("aws:SourceArn")
                admitted.extend([value] if isinstance(value, str) else value or [])
    assert admitted, "no queue policy admits an EventBridge rule"
    for arn in admitted:
        assert fnmatch.fnmatchcase(arn, pattern), arn
