"""The handler on the shapes AWS really sends, its failure log, and the scheduled sweep (moto ``mock_aws``)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from esm_harness import (
    ACCOUNT,
    REGION,
    FakeLambdaContext,
    body_of,
    documented_event,
    eventbridge_s3_object_created,
    scheduled_event,
    sqs_lambda_record,
)
from lambda_support import FEATURE_BUCKET, LANDING_BUCKET, SAMPLES

CSV = (SAMPLES / "transactions_sample.csv").read_bytes()
RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/prod-transactions-backfill-schedule"


def invoke(handler_module: Any, *records: dict[str, Any]) -> dict[str, Any]:
    return handler_module.lambda_handler({"Records": list(records)}, FakeLambdaContext())


def put_landing(s3: Any, key: str, body: bytes = CSV) -> dict[str, Any]:
    response = s3.put_object(Bucket=LANDING_BUCKET, Key=key, Body=body)
    return {"version_id": response["VersionId"], "etag": response["ETag"].strip('"'), "size": len(body)}


def feature_keys(s3: Any) -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=FEATURE_BUCKET)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


@pytest.fixture
def logs(handler_module: Any) -> Iterator[io.StringIO]:
    """The handler's structured log lines (Powertools Logger's own handler, pointed at a buffer)."""
    stream = io.StringIO()
    handler = handler_module.logger.registered_handler
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous)


def log_entries(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


# -- item 13: the documented S3 EventBridge shape, and moto's eTag spelling --------------------------------


def test_the_documented_event_shape_is_processed(handler_module: Any, s3: Any) -> None:
    # GIVEN a landing object and the AWS-documented Object Created event, with only its values pointed at it
    key = "raw/transactions/2024/05/03/documented.csv"
    info = put_landing(s3, key)
    event = documented_event(
        "s3_object_created_aws_doc",
        **{
            "resources": [f"arn:aws:s3:::{LANDING_BUCKET}"],
            "detail.bucket.name": LANDING_BUCKET,
            "detail.object.key": key,
            "detail.object.size": info["size"],
            "detail.object.etag": info["etag"],
            "detail.object.version-id": info["version_id"],
        },
    )
    # WHEN handled THEN it is processed (outputs and a manifest), not failed
    assert invoke(handler_module, sqs_lambda_record(body_of(event), message_id="doc")) == {"batchItemFailures": []}
    keys = feature_keys(s3)
    assert [k for k in keys if k.startswith("transactions/_manifests/documented-")]
    # AND the same object announced with moto's eTag spelling is recognised as the same version (no new files)
    moto_shaped = eventbridge_s3_object_created(
        LANDING_BUCKET, key, version_id=info["version_id"], etag=info["etag"], size=info["size"], etag_field="eTag"
    )
    assert "etag" not in moto_shaped["detail"]["object"]
    assert invoke(handler_module, sqs_lambda_record(body_of(moto_shaped), message_id="moto")) == {
        "batchItemFailures": []
    }
    assert feature_keys(s3) == keys


# -- item 12: every failed record is logged with its reason ----------------------------------------------


def test_each_failed_record_is_logged_with_its_reason_and_source(
    handler_module: Any, s3: Any, logs: io.StringIO
) -> None:
    # GIVEN a batch with an event for an object that does not exist and a body that is no event
    missing = eventbridge_s3_object_created(
        LANDING_BUCKET, "raw/transactions/never-uploaded.csv", version_id="v0", etag="00", size=1
    )
    records = [
        sqs_lambda_record(body_of(missing), message_id="m-missing"),
        sqs_lambda_record("this is not an event", message_id="m-garbage"),
    ]
    # WHEN handled
    response = invoke(handler_module, *records)
    assert {f["itemIdentifier"] for f in response["batchItemFailures"]} == {"m-missing", "m-garbage"}
    # THEN each failure has one structured ERROR line with the exception type and message, and the source
    # object when the body named one
    failures = {e["message_id"]: e for e in log_entries(logs) if e["level"] == "ERROR"}
    assert set(failures) == {"m-missing", "m-garbage"}
    missing_line = failures["m-missing"]
    assert missing_line["error_type"] == "SourceObjectNotFoundError"
    assert "raw/transactions/never-uploaded.csv" in missing_line["error"]
    assert (missing_line["source_bucket"], missing_line["source_key"], missing_line["source_version_id"]) == (
        LANDING_BUCKET,
        "raw/transactions/never-uploaded.csv",
        "v0",
    )
    assert missing_line["receive_count"] == "1"
    garbage_line = failures["m-garbage"]
    assert garbage_line["error_type"] == "ValidationError" and "json" in garbage_line["error"].lower()
    assert garbage_line.get("source_key") is None


# -- item 8: a schedule sweeps the previous UTC day onto the function's own queue ------------------------


@pytest.fixture
def sweep_queue(s3: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    """The function's own queue in moto, named by SWEEP_QUEUE_URL (as the component sets it with a schedule)."""
    import boto3
    from preprocessing.config import get_settings
    from preprocessing.sweep import sqs_client

    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="transactions-backfill-queue")["QueueUrl"]
    monkeypatch.setenv("SWEEP_QUEUE_URL", url)
    get_settings.cache_clear()
    sqs_client.cache_clear()
    yield sqs, url
    get_settings.cache_clear()
    sqs_client.cache_clear()


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        messages += got
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
        )
    return messages


def test_a_scheduled_event_enqueues_the_previous_days_landing_objects(
    handler_module: Any, s3: Any, sweep_queue: tuple[Any, str]
) -> None:
    sqs, url = sweep_queue
    # GIVEN two objects under the prefix (one overwritten: two versions), one outside it, landed today
    first = put_landing(s3, "raw/transactions/a.csv")
    second = put_landing(s3, "raw/transactions/a.csv", CSV.replace(b"\n", b"\r\n"))
    other = put_landing(s3, "raw/transactions/b.csv")
    s3.put_object(Bucket=LANDING_BUCKET, Key="raw/elsewhere/c.csv", Body=CSV)
    # WHEN the schedule fires tomorrow (the Scheduled Event, as the rule delivers it to the queue)
    landed = s3.head_object(Bucket=LANDING_BUCKET, Key="raw/transactions/b.csv")["LastModified"]
    tomorrow = landed + timedelta(days=1)
    tick = sqs_lambda_record(body_of(scheduled_event(RULE_ARN, tomorrow.replace(hour=3))), message_id="tick")
    assert invoke(handler_module, tick) == {"batchItemFailures": []}
    # THEN one Object Created message per version under the prefix is on the function's own queue
    messages = drain(sqs, url)
    events = [json.loads(m["Body"]) for m in messages]
    assert {(e["source"], e["detail-type"], e["detail"]["reason"]) for e in events} == {
        ("aws.s3", "Object Created", "ScheduledSweep")
    }
    assert sorted((e["detail"]["object"]["key"], e["detail"]["object"]["version-id"]) for e in events) == sorted(
        [
            ("raw/transactions/a.csv", first["version_id"]),
            ("raw/transactions/a.csv", second["version_id"]),
            ("raw/transactions/b.csv", other["version_id"]),
        ]
    )
    # AND processing them writes the features; processing them again (or a second sweep) writes nothing new
    records = [sqs_lambda_record(m["Body"], message_id=f"swept-{i}") for i, m in enumerate(messages)]
    assert invoke(handler_module, *records) == {"batchItemFailures": []}
    written = feature_keys(s3)
    assert len([k for k in written if k.startswith("transactions/_manifests/")]) == 3
    assert invoke(handler_module, *records) == {"batchItemFailures": []}
    assert feature_keys(s3) == written


def test_a_sweep_covers_only_the_previous_utc_day(handler_module: Any, s3: Any, sweep_queue: tuple[Any, str]) -> None:
    sqs, url = sweep_queue
    # GIVEN an object landed today WHEN the schedule fires two days from now (it sweeps tomorrow)
    put_landing(s3, "raw/transactions/today.csv")
    later = s3.head_object(Bucket=LANDING_BUCKET, Key="raw/transactions/today.csv")["LastModified"] + timedelta(days=2)
    tick = sqs_lambda_record(body_of(scheduled_event(RULE_ARN, later)), message_id="tick")
    # THEN the sweep succeeds and enqueues nothing
    assert invoke(handler_module, tick) == {"batchItemFailures": []}
    assert drain(sqs, url) == []


def test_a_scheduled_event_for_a_function_without_a_schedule_fails_and_says_why(
    handler_module: Any, s3: Any, logs: io.StringIO
) -> None:
    # GIVEN a function without SWEEP_QUEUE_URL (no schedule) WHEN a Scheduled Event reaches it
    tick = sqs_lambda_record(body_of(scheduled_event(RULE_ARN, datetime.now(UTC))), message_id="tick")
    # THEN the record fails (and will be dead-lettered) with the reason logged
    assert invoke(handler_module, tick) == {"batchItemFailures": [{"itemIdentifier": "tick"}]}
    (line,) = [e for e in log_entries(logs) if e["level"] == "ERROR"]
    assert line["error_type"] == "SweepNotConfiguredError" and "SWEEP_QUEUE_URL" in line["error"]
