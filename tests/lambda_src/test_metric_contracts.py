"""Every alarm and dashboard widget on the preprocessing namespace names a metric the handler really emits.

CloudWatch matches namespace, name and the *exact* dimension set. So for each function of each shipped
plan, the real handler runs in a fresh interpreter with that function's environment from the plan (Powertools
reads it at import), against moto S3: one landing object that succeeds and one record that fails. Its EMF
output is the set of metrics that exist; every alarm (single-metric or metric-math query) and every
dashboard widget metric in the handler's namespace for that function must be one of them, dimension names
and values included.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from lambda_support import PROJECT_ROOT

from tests.conftest import SHIPPED_STACKS, shipped_plan
from tests.plan_helpers import of_type

_RUN_HANDLER = """
import json, os, sys
import boto3
from moto import mock_aws
from esm_harness import FakeLambdaContext, body_of, eventbridge_s3_object_created, sqs_lambda_record

with mock_aws():
    s3 = boto3.client("s3", region_name="eu-west-1")
    landing, features = os.environ["LANDING_BUCKET"], os.environ["FEATURE_BUCKET"]
    for bucket in (landing, features):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_versioning(Bucket=landing, VersioningConfiguration={"Status": "Enabled"})
    key = os.environ["LANDING_PREFIX"] + "2024/05/03/sample.csv"
    body = open(sys.argv[1], "rb").read()
    put = s3.put_object(Bucket=landing, Key=key, Body=body)
    event = eventbridge_s3_object_created(landing, key, version_id=put["VersionId"], etag=put["ETag"].strip('"'),
                                          size=len(body))
    from preprocessing.handler import lambda_handler
    records = [sqs_lambda_record(body_of(event), message_id="ok"), sqs_lambda_record("not an event", message_id="bad")]
    print(json.dumps({"response": lambda_handler({"Records": records}, FakeLambdaContext())}))
"""


def emitted(environment: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str, dict[str, str]]]]:
    """Run the handler with ``environment``; return its response and the (namespace, metric, dimensions) it emitted."""
    env = {
        **{k: str(v) for k, v in environment.items()},
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{PROJECT_ROOT / 'lambda_src'}:{PROJECT_ROOT / 'tests' / 'lambda_src'}",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "CRITICAL",
    }
    sample = PROJECT_ROOT / "lambda_src" / "samples" / "transactions_sample.csv"
    result = subprocess.run(
        [sys.executable, "-c", _RUN_HANDLER, str(sample)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    response = next(line["response"] for line in lines if "response" in line)
    metrics = []
    for blob in (line for line in lines if "_aws" in line):
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    dims = {name: blob[name] for name in dimension_set}
                    metrics.append((directive["Namespace"], metric["Name"], dims))
    return response, metrics


def alarm_metrics(inputs: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(namespace, metric, dimensions) of a MetricAlarm: its single metric or each metric query's."""
    if inputs.get("metricName"):
        yield inputs["namespace"], inputs["metricName"], inputs.get("dimensions") or {}
    for query in inputs.get("metricQueries") or []:
        metric = (query.get("metric") or None) and query["metric"]
        if metric:
            yield metric["namespace"], metric["metricName"], metric.get("dimensions") or {}


def widget_metrics(body: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(namespace, metric, dimensions) of every explicit metric in a dashboard body."""
    for widget in body["widgets"]:
        for row in (widget.get("properties") or {}).get("metrics") or []:
            if isinstance(row[0], dict):  # an expression (SEARCH), not a metric
                continue
            names = [part for part in row[2:] if not isinstance(part, dict)]
            yield row[0], row[1], dict(zip(names[::2], names[1::2], strict=True))


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_alarms_and_widgets_on_handler_metrics_match_its_emf_exactly(stack: str) -> None:
    plan = shipped_plan(stack)
    alarms = [r.inputs for r in of_type(plan, "aws:cloudwatch/metricAlarm:MetricAlarm")]
    (dashboard,) = of_type(plan, "aws:cloudwatch/dashboard:Dashboard")
    referenced = [m for a in alarms for m in alarm_metrics(a)] + list(
        widget_metrics(json.loads(dashboard.inputs["dashboardBody"]))
    )
    for function in of_type(plan, "aws:lambda/function:Function"):
        environment = function.inputs["environment"]["variables"]
        namespace, service = environment["POWERTOOLS_METRICS_NAMESPACE"], environment["POWERTOOLS_SERVICE_NAME"]
        # GIVEN the handler run with this function's environment on one good object and one bad record
        response, metrics = emitted(environment)
        assert response == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
        emitted_names = {name for _, name, _ in metrics}
        assert {"ObjectsProcessed", "FeatureLagSeconds", "RecordsFailed"} <= emitted_names
        # WHEN collecting what the plan alarms on and graphs for this function
        mine = [m for m in referenced if m[0] == namespace and m[2].get("service") == service]
        assert {name for _, name, _ in mine} >= {"ObjectsProcessed", "RecordsFailed", "FeatureLagSeconds"}
        # THEN each is a metric the handler emitted: same namespace, name, dimension names and values
        for reference in mine:
            assert reference in metrics, f"{stack}/{service}: {reference} matches nothing the handler emits"
    # AND nothing in the namespace refers to a service no function has
    services = {
        f.inputs["environment"]["variables"]["POWERTOOLS_SERVICE_NAME"]
        for f in of_type(plan, "aws:lambda/function:Function")
    }
    for ns, name, dims in referenced:
        if ns.startswith("HybridAiPlatform/Preprocessing"):
            assert dims.get("service") in services and set(dims) == {"service", "FeatureSet"}, (name, dims)


def test_a_subset_of_the_dimensions_is_caught() -> None:
    # GIVEN prod's real RecordsFailed alarm of its first function, and the handler's real EMF
    plan = shipped_plan("prod")
    function = of_type(plan, "aws:lambda/function:Function")[0]
    service = function.inputs["environment"]["variables"]["POWERTOOLS_SERVICE_NAME"]
    _, metrics = emitted(function.inputs["environment"]["variables"])
    alarm = next(
        a.inputs
        for a in of_type(plan, "aws:cloudwatch/metricAlarm:MetricAlarm")
        if any(n == "RecordsFailed" and d.get("service") == service for _, n, d in alarm_metrics(a.inputs))
    )
    [reference] = [m for m in alarm_metrics(alarm) if m[1] == "RecordsFailed"]
    assert reference in metrics  # as planned, the alarm matches what the handler emits
    # WHEN a copy of the alarm names FeatureSet only (the service dimension dropped)
    broken = json.loads(json.dumps(alarm))
    for query in broken.get("metricQueries") or []:
        (query.get("metric") or {}).get("dimensions", {}).pop("service", None)
    broken.get("dimensions", {}).pop("service", None)
    [subset] = [m for m in alarm_metrics(broken) if m[1] == "RecordsFailed"]
    # THEN the contract comparison of the main test refuses it: it matches nothing the handler emits
    assert subset != reference
    assert subset not in metrics
