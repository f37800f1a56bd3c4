"""The failed-records alarm watches the metric the handler really emits (namespace, name, full dimension set).

CloudWatch matches a metric by namespace, name and the *exact* set of dimensions; an alarm naming a subset
(e.g. only ``FeatureSet`` while the handler also emits ``service``) watches a metric that never has data and
never fires. So the handler is run with each function's environment from the plan, in a fresh interpreter
(Powertools reads the environment at import), and its EMF output is compared with the alarm.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from lambda_support import PROJECT_ROOT

from tests.conftest import SHIPPED_STACKS, shipped_plan
from tests.plan_helpers import named, of_type

_RUN_HANDLER = """
import json, sys
from preprocessing.handler import lambda_handler

class Context:
    function_name = "f"; function_version = "$LATEST"; memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:f"; aws_request_id = "r"
    log_group_name = "g"; log_stream_name = "s"
    def get_remaining_time_in_millis(self):
        return 60_000

record = {"messageId": "m1", "receiptHandle": "h", "body": "not an event", "attributes": {
    "ApproximateReceiveCount": "1", "SentTimestamp": "0", "SenderId": "s", "ApproximateFirstReceiveTimestamp": "0"},
    "messageAttributes": {}, "md5OfBody": "x", "eventSource": "aws:sqs",
    "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:q", "awsRegion": "eu-west-1"}
print(json.dumps({"response": lambda_handler({"Records": [record]}, Context())}))
"""


def emitted_metrics(environment: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run the handler on one unprocessable record with ``environment``; return its response and EMF blobs."""
    env = {
        **{k: str(v) for k, v in environment.items()},
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(PROJECT_ROOT / "lambda_src"),
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "CRITICAL",
    }
    result = subprocess.run(
        [sys.executable, "-c", _RUN_HANDLER], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    response = next(line["response"] for line in lines if "response" in line)
    return response, [line for line in lines if "_aws" in line]


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_the_records_failed_alarm_matches_the_handlers_emf_exactly(stack: str) -> None:
    plan = shipped_plan(stack)
    functions = of_type(plan, "aws:lambda/function:Function")
    assert functions
    for function in functions:
        pipeline = function.name.removesuffix("-function")
        # GIVEN the handler run with this function's environment on a record it cannot process
        response, blobs = emitted_metrics(function.inputs["environment"]["variables"])
        assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
        alarm = named(plan, f"alerts-{pipeline}-records-failed").inputs
        # WHEN looking for the EMF directive that carries the alarm's metric
        matching = [
            (directive, blob)
            for blob in blobs
            for directive in blob["_aws"]["CloudWatchMetrics"]
            if alarm["metricName"] in [m["Name"] for m in directive["Metrics"]]
        ]
        assert len(matching) == 1, f"{pipeline}: the handler emitted no {alarm['metricName']}"
        directive, blob = matching[0]
        # THEN namespace, metric and the exact dimension set (names and values) are the alarm's
        assert directive["Namespace"] == alarm["namespace"], pipeline
        assert [sorted(d) for d in directive["Dimensions"]] == [sorted(alarm["dimensions"])], pipeline
        assert {name: blob[name] for name in alarm["dimensions"]} == alarm["dimensions"], pipeline
        assert blob[alarm["metricName"]] == [1.0]
        # AND one failed record is enough to fire it
        assert (alarm["statistic"], alarm["comparisonOperator"], alarm["threshold"]) == (
            "Sum",
            "GreaterThanOrEqualToThreshold",
            1,
        )
        assert alarm["treatMissingData"] == "notBreaching"
