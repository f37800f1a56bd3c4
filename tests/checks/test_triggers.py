"""BP-SYS-004 triggers: every invoker of a function delivers a shape its handler declares (accepts.py in
the deployed archive). Each defect is re-introduced into a copy of a shipped stack's plan."""

from __future__ import annotations

import copy
import datetime
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from hybrid_ai_platform.cli.checks import run_checks
from hybrid_ai_platform.cli.diff import is_blocking
from hybrid_ai_platform.cli.synth import PROJECT_ROOT
from tests.conftest import SHIPPED_STACKS, shipped_plan

CHECK = "system-lambda-trigger-accepted"
TODAY = datetime.date(2026, 11, 28)


def _document(stack: str) -> dict[str, Any]:
    return copy.deepcopy(shipped_plan(stack).to_json())


def _findings(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in run_checks(document, PROJECT_ROOT, TODAY)["violations"] if v["policy"] == CHECK]


def _record(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in document["resources"] if r["name"] == name and r["custom"])


def _function_index(document: dict[str, Any], name: str) -> int:
    names = [f["name"] for f in document["config"]["hybrid-ai-platform:preprocessing"]["functions"]]
    return names.index(name)


def _with_accepts(tmp_path: Path, document: dict[str, Any], function: str, accepts: str | None) -> None:
    """Point ``function`` at a copy of its archive whose accepts.py says ``accepts`` (None: no accepts.py)."""
    record = _record(document, f"{function}-function")
    source = PROJECT_ROOT / record["inputs"]["code"]["archive"]["path"]
    target = tmp_path / f"{function}.zip"
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            if item.filename == "preprocessing/accepts.py":
                if accepts is not None:
                    new.writestr(item, accepts)
            else:
                new.writestr(item, old.read(item))
    record["inputs"]["code"]["archive"]["path"] = str(target)


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_shipped_stacks_have_no_trigger_finding(stack: str) -> None:
    assert _findings(_document(stack)) == []


def test_a_schedule_on_a_handler_that_does_not_declare_the_scheduled_event_blocks(tmp_path: Path) -> None:
    # GIVEN prod, whose backfill function has a schedule, deploying a handler that accepts only S3 events
    document = _document("prod")
    _with_accepts(
        tmp_path,
        document,
        "transactions-backfill",
        'ACCEPTS = ({"via": "sqs", "source": "aws.s3", "detail-type": "Object Created"},)\n',
    )
    # WHEN checked
    findings = _findings(document)
    # THEN the schedule rule is a blocking finding naming the rule and the schedule field
    rule = _record(document, "transactions-backfill-schedule")
    assert [(f["urn"], is_blocking(f)) for f in findings] == [(rule["urn"], True)]
    index = _function_index(document, "transactions-backfill")
    assert findings[0]["field"] == f"preprocessing.functions[{index}].schedule"
    assert "delivers aws.events / Scheduled Event, which the handler does not declare" in findings[0]["message"]


def test_a_rule_whose_pattern_does_not_pin_source_and_detail_type_blocks() -> None:
    # GIVEN dev's object-created rule matching on the bucket only (no source, no detail-type)
    document = _document("dev")
    rule = _record(document, "transactions-object-created")
    pattern = json.loads(rule["inputs"]["eventPattern"])
    rule["inputs"]["eventPattern"] = json.dumps({"detail": pattern["detail"]})
    # WHEN checked THEN the rule is named with the function's landing_prefix field
    [finding] = _findings(document)
    assert finding["urn"] == rule["urn"] and is_blocking(finding)
    assert finding["field"] == f"preprocessing.functions[{_function_index(document, 'transactions')}].landing_prefix"
    assert "does not constrain source and detail-type" in finding["message"]


def test_a_rule_without_a_pattern_or_schedule_and_a_prefix_matched_source_block() -> None:
    document = _document("dev")
    rule = _record(document, "transactions-object-created")
    del rule["inputs"]["eventPattern"]
    [finding] = _findings(document)
    assert finding["urn"] == rule["urn"] and "neither an event pattern nor a schedule" in finding["message"]
    # a content filter is not an exact value either: aws.s3 and aws.ssm both match {"prefix": "aws.s"}
    rule["inputs"]["eventPattern"] = json.dumps({"source": [{"prefix": "aws.s"}], "detail-type": ["Object Created"]})
    [finding] = _findings(document)
    assert "does not constrain source to exact values" in finding["message"]


def test_a_rule_delivering_another_detail_type_blocks() -> None:
    document = _document("prod")
    rule = _record(document, "transactions-object-created")
    pattern = json.loads(rule["inputs"]["eventPattern"])
    pattern["detail-type"] = ["Object Created", "Object Deleted"]
    rule["inputs"]["eventPattern"] = json.dumps(pattern)
    [finding] = _findings(document)
    assert finding["urn"] == rule["urn"]
    assert "delivers aws.s3 / Object Deleted" in finding["message"]


def test_a_direct_lambda_target_blocks_naming_the_target() -> None:
    # GIVEN prod with an EventBridge target pointing the object-created rule at the function itself
    document = _document("prod")
    queue_target = _record(document, "transactions-to-queue")
    function = _record(document, "transactions-function")
    direct = copy.deepcopy(queue_target)
    direct["name"] = "transactions-direct"
    direct["urn"] = queue_target["urn"].replace("transactions-to-queue", "transactions-direct")
    direct["inputs"] = {
        "rule": queue_target["inputs"]["rule"],
        "arn": f"arn:aws:lambda:eu-central-1:123456789012:function:{function['inputs']['name']}",
    }
    document["resources"].append(direct)
    # WHEN checked THEN the target is a blocking finding naming the function's config entry
    [finding] = _findings(document)
    assert finding["urn"] == direct["urn"] and is_blocking(finding)
    assert finding["field"] == f"preprocessing.functions[{_function_index(document, 'transactions')}]"
    assert "invokes function hybrid-ai-platform-prod-transactions directly" in finding["message"]
    assert "via sqs: aws.s3 / Object Created" in finding["message"]


def test_a_lambda_permission_for_a_service_blocks() -> None:
    document = _document("dev")
    function = _record(document, "transactions-function")
    permission = copy.deepcopy(function)
    permission.update(
        name="transactions-s3-invoke",
        urn=function["urn"].replace(
            "aws:lambda/function:Function::transactions-function",
            "aws:lambda/permission:Permission::transactions-s3-invoke",
        ),
        type="aws:lambda/permission:Permission",
        inputs={
            "action": "lambda:InvokeFunction",
            "function": function["inputs"]["name"],
            "principal": "s3.amazonaws.com",
        },
    )
    document["resources"].append(permission)
    [finding] = _findings(document)
    assert finding["urn"] == permission["urn"] and is_blocking(finding)
    assert "lets s3.amazonaws.com invoke function" in finding["message"]


def test_a_target_that_rewrites_the_event_blocks() -> None:
    document = _document("prod")
    target = _record(document, "transactions-backfill-schedule-target")
    target["inputs"]["input"] = json.dumps({"sweep": True})
    [finding] = _findings(document)
    assert finding["urn"] == target["urn"]
    assert finding["field"].endswith(".schedule") and "rewrites the event (input)" in finding["message"]


def test_a_package_without_the_declaration_blocks(tmp_path: Path) -> None:
    document = _document("dev")
    _with_accepts(tmp_path, document, "transactions", None)
    [finding] = _findings(document)
    assert finding["resource_type"] == "aws:lambda/function:Function" and is_blocking(finding)
    assert "declares no accepted events" in finding["message"] and "preprocessing/accepts.py" in finding["message"]


def test_an_s3_notification_straight_to_the_queue_blocks() -> None:
    # GIVEN dev's landing bucket also sending classic S3 notifications (Records[]) to the function's queue
    document = _document("dev")
    notification = next(r for r in document["resources"] if r["type"] == "aws:s3/bucketNotification:BucketNotification")
    queue_arn = _record(document, "transactions-queue-trigger")["inputs"]["eventSourceArn"]
    notification["inputs"]["queues"] = [{"queueArn": queue_arn, "events": ["s3:ObjectCreated:*"]}]
    [finding] = _findings(document)
    assert finding["urn"] == notification["urn"] and is_blocking(finding)
    assert "sends S3 event notifications (Records[])" in finding["message"]


def test_an_eventbridge_scheduler_schedule_on_the_queue_blocks() -> None:
    # GIVEN prod with an EventBridge Scheduler schedule (not a rule) sending to the backfill function's queue
    document = _document("prod")
    rule = _record(document, "transactions-backfill-schedule")
    queue_arn = _record(document, "transactions-backfill-queue-trigger")["inputs"]["eventSourceArn"]
    schedule = copy.deepcopy(rule)
    schedule.update(
        name="backfill-scheduler",
        urn=rule["urn"].replace(
            "aws:cloudwatch/eventRule:EventRule::transactions-backfill-schedule",
            "aws:scheduler/schedule:Schedule::backfill-scheduler",
        ),
        type="aws:scheduler/schedule:Schedule",
        inputs={"scheduleExpression": "cron(0 3 * * ? *)", "target": {"arn": queue_arn, "input": "{}"}},
    )
    document["resources"].append(schedule)
    [finding] = _findings(document)
    assert finding["urn"] == schedule["urn"] and is_blocking(finding)
    assert finding["field"] == f"preprocessing.functions[{_function_index(document, 'transactions-backfill')}].schedule"
    assert "delivers its target input (not an EventBridge event)" in finding["message"]
