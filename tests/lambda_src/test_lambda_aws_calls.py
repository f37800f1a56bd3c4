"""``preprocessing/aws_calls.py`` cannot drift from the code: the handler runs every path against a
recording client, every call it makes is declared, and every declaration is made by some path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from esm_harness import ACCOUNT, REGION, FakeLambdaContext, body_of, eventbridge_s3_object_created, scheduled_event
from esm_harness import sqs_lambda_record as record
from lambda_support import LANDING_BUCKET, SAMPLES

from hybrid_ai_platform.cli.checks.permissions import declares

CSV = (SAMPLES / "transactions_sample.csv").read_bytes()

Call = tuple[str, str, dict[str, Any]]


def _recorder(calls: list[Call]) -> Any:
    def hook(params: dict[str, Any], event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        calls.append((service, operation, dict(params)))

    return hook


@pytest.fixture
def recorded(handler_module: Any, s3: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Call]]:
    """The function's own S3 and SQS clients, recording every call they make (the test's client does not)."""
    import boto3
    from preprocessing.config import get_settings
    from preprocessing.storage import s3_client
    from preprocessing.sweep import sqs_client

    queue_url = boto3.client("sqs", region_name=REGION).create_queue(QueueName="transactions-backfill-queue")[
        "QueueUrl"
    ]
    monkeypatch.setenv("SWEEP_QUEUE_URL", queue_url)
    get_settings.cache_clear()
    sqs_client.cache_clear()
    calls: list[Call] = []
    for client in (s3_client(), sqs_client()):
        client.meta.events.register("provide-client-params", _recorder(calls))
    yield calls
    sqs_client.cache_clear()
    get_settings.cache_clear()


def _invoke(handler_module: Any, *records: dict[str, Any]) -> dict[str, Any]:
    return handler_module.lambda_handler({"Records": list(records)}, FakeLambdaContext())


def _large_object_with_a_concurrent_writer(handler_module: Any, s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A landing object processed as a large one (spilled, outputs uploaded in parts), while a concurrent
    writer creates one of its outputs (that upload loses its conditional completion and is aborted)."""
    from preprocessing import pipeline, storage

    monkeypatch.setattr(pipeline, "IN_MEMORY_BYTES", 0)
    monkeypatch.setattr(storage, "PART_BYTES", 4096)
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", 1024)
    put = s3.put_object(Bucket=LANDING_BUCKET, Key="raw/transactions/large.csv", Body=CSV * 4)
    event = eventbridge_s3_object_created(
        LANDING_BUCKET, "raw/transactions/large.csv", version_id=put["VersionId"], etag=put["ETag"], size=len(CSV) * 4
    )
    client = storage.s3_client()

    def concurrent_writer(params: dict[str, Any], **_: Any) -> None:
        client.meta.events.unregister("provide-client-params.s3.CompleteMultipartUpload", concurrent_writer)
        s3.put_object(Bucket=params["Bucket"], Key=params["Key"], Body=b"written by another attempt")

    client.meta.events.register_first("provide-client-params.s3.CompleteMultipartUpload", concurrent_writer)
    assert _invoke(handler_module, record(body_of(event))) == {"batchItemFailures": []}


def test_every_call_the_handler_makes_is_declared_and_every_declaration_is_made(
    handler_module: Any, s3: Any, recorded: list[Call], monkeypatch: pytest.MonkeyPatch
) -> None:
    from preprocessing.aws_calls import WORKLOADS

    # GIVEN a landing object, and one whose delivered key is URL-encoded (the first GetObject answers 404)
    put = s3.put_object(Bucket=LANDING_BUCKET, Key="raw/transactions/a b.csv", Body=CSV)
    encoded = eventbridge_s3_object_created(
        LANDING_BUCKET, "raw/transactions/a+b.csv", version_id=put["VersionId"], etag=put["ETag"], size=len(CSV)
    )
    # WHEN the handler processes it twice (the second delivery is a duplicate) and a schedule fires tomorrow
    assert _invoke(handler_module, record(body_of(encoded))) == {"batchItemFailures": []}
    assert _invoke(handler_module, record(body_of(encoded))) == {"batchItemFailures": []}
    landed = s3.head_object(Bucket=LANDING_BUCKET, Key="raw/transactions/a b.csv")["LastModified"]
    rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/schedule"
    assert _invoke(handler_module, record(body_of(scheduled_event(rule, landed + timedelta(days=1))))) == {
        "batchItemFailures": []
    }
    # AND a large object is processed while another attempt writes one of its outputs
    _large_object_with_a_concurrent_writer(handler_module, s3, monkeypatch)
    # THEN every call was declared ...
    env = dict(os.environ)
    declared = WORKLOADS["handler"]
    assert recorded, "the recording client saw no call"
    undeclared = [
        (s, o, p.get("Key") or p.get("Prefix"))
        for s, o, p in recorded
        if not any(declares(d, s, o, p, env) for d in declared)
    ]
    assert undeclared == []
    # ... and every declaration was made by some path
    unused = [
        d["call"] + " " + d["resource"] for d in declared if not any(declares(d, s, o, p, env) for s, o, p in recorded)
    ]
    assert unused == []
    # AND the recorder sees what the declaration says about the calls (a VersionId, a conditional write)
    assert any(o == "GetObject" and p.get("VersionId") for _, o, p in recorded)
    assert any(o == "PutObject" and p.get("IfNoneMatch") == "*" for _, o, p in recorded)
    assert any(o == "CompleteMultipartUpload" and p.get("IfNoneMatch") == "*" for _, o, p in recorded)


def test_an_undeclared_call_is_caught() -> None:
    # GIVEN the declaration WHEN the code deleted an object or wrote outside the feature prefix THEN no entry covers it
    from preprocessing.aws_calls import WORKLOADS

    env = {"FEATURE_BUCKET": "f", "FEATURE_PREFIX": "tx/", "LANDING_BUCKET": "l", "LANDING_PREFIX": "raw/"}
    declared = WORKLOADS["handler"]
    assert any(
        declares(d, "s3", "PutObject", {"Bucket": "f", "Key": "tx/dt=1/a", "IfNoneMatch": "*"}, env) for d in declared
    )
    assert not any(declares(d, "s3", "DeleteObject", {"Bucket": "f", "Key": "tx/a"}, env) for d in declared)
    assert not any(
        declares(d, "s3", "PutObject", {"Bucket": "f", "Key": "other/a", "IfNoneMatch": "*"}, env) for d in declared
    )
    assert not any(
        declares(d, "s3", "GetObject", {"Bucket": "f", "Key": "tx/a", "VersionId": "1"}, env) for d in declared
    )
