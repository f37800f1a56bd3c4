"""End to end: landing object -> EventBridge-shaped event -> real SQS queue with a DLQ -> our event source
mapping harness -> handler -> Parquet in the feature bucket, all against a moto server on 127.0.0.1."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from esm_harness import REGION, SqsEventSourceMapping, body_of, eventbridge_s3_object_created, scheduled_event
from lambda_support import FEATURE_BUCKET, LANDING_BUCKET, SAMPLES
from moto.server import ThreadedMotoServer

MAX_RECEIVE_COUNT = 3


@pytest.fixture
def moto_endpoint(lambda_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto server on an ephemeral loopback port; boto3 in the handler reaches it via AWS_ENDPOINT_URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto's backends are process-wide: start every test from an empty account
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    from preprocessing.storage import s3_client

    s3_client.cache_clear()
    try:
        yield endpoint
    finally:
        s3_client.cache_clear()
        server.stop()


@pytest.mark.e2e
def test_sqs_delivery_with_retries_and_dlq_loses_and_duplicates_nothing(
    moto_endpoint: str, handler_module: Any, tmp_path: Path
) -> None:
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint)
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto_endpoint)
    # GIVEN a versioned landing bucket, the feature bucket and a queue that dead-letters after 3 receives
    for bucket in (LANDING_BUCKET, FEATURE_BUCKET):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=LANDING_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    dlq_url = sqs.create_queue(QueueName="preprocessing-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName="preprocessing",
        Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    # AND two good objects whose events are delivered (one of them twice, as EventBridge may do),
    # plus a poison event for an object that does not exist and a body that is not an event at all
    inputs = {
        "raw/transactions/2024/05/03/transactions_sample.csv": SAMPLES / "transactions_sample.csv",
        "raw/transactions/2024/05/04/transactions_sample.jsonl.gz": SAMPLES / "transactions_sample.jsonl.gz",
    }
    bodies = []
    for key, path in inputs.items():
        put = s3.put_object(Bucket=LANDING_BUCKET, Key=key, Body=path.read_bytes())
        event = eventbridge_s3_object_created(
            LANDING_BUCKET, key, version_id=put["VersionId"], etag=put["ETag"], size=path.stat().st_size
        )
        bodies.append(body_of(event))
    bodies.append(bodies[0])  # duplicate delivery of the CSV event
    poison = body_of(
        eventbridge_s3_object_created(
            LANDING_BUCKET, "raw/transactions/never-uploaded.csv", version_id="v0", etag="00", size=10
        )
    )
    garbage = '{"hello": "not an S3 event"}'
    for body in [*bodies, poison, garbage]:
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)

    # WHEN our event source mapping drains the queue (batch size 2 so batches mix good and bad messages)
    esm = SqsEventSourceMapping(sqs, queue_url, queue_arn, handler_module.lambda_handler, batch_size=2)
    polls = esm.drain(deadline_seconds=15)

    # THEN the two unprocessable messages were retried until SQS dead-lettered them, and nothing else was
    assert all(p.invocation_error is None for p in polls)
    dlq_bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            break
        dlq_bodies += [m["Body"] for m in got]
        sqs.delete_message_batch(
            QueueUrl=dlq_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
        )
    assert sorted(dlq_bodies) == sorted([poison, garbage])
    failures_per_message = Counter(mid for p in polls for mid in p.failed)
    assert sorted(failures_per_message.values()) == [MAX_RECEIVE_COUNT, MAX_RECEIVE_COUNT]
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"

    # AND the feature store, read as a Hive-partitioned dataset, holds every valid row exactly once
    local = tmp_path / "store"
    listing = s3.list_objects_v2(Bucket=FEATURE_BUCKET, Prefix="transactions/")["Contents"]
    for obj in listing:
        target = local / obj["Key"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3.get_object(Bucket=FEATURE_BUCKET, Key=obj["Key"])["Body"].read())
    table = pq.read_table(local / "transactions")  # _quarantine/ and _manifests/ are skipped by the reader
    ids = table.column("transaction_id").to_pylist()
    assert len(ids) == len(set(ids)) == 292 + 117
    assert sorted(set(table.column("dt").to_pylist())) == [
        "2024-05-03",
        "2024-05-04",
        "2024-05-05",
        "2024-05-06",
    ]

    # AND good rows + quarantined rows == input rows, for each object
    manifests = [json.loads(p.read_text()) for p in sorted((local / "transactions" / "_manifests").glob("*.json"))]
    assert len(manifests) == 2
    input_rows = {"transactions_sample.csv": 300, "transactions_sample.jsonl.gz": 120}
    for manifest in manifests:
        quarantine_lines = (local / manifest["quarantine"]["key"]).read_text().splitlines()
        written = sum(pq.read_metadata(local / o["key"]).num_rows for o in manifest["outputs"])
        assert written + len(quarantine_lines) == input_rows[manifest["source"]["key"].rsplit("/", 1)[1]]


@pytest.mark.e2e
def test_a_schedule_tick_on_the_queue_sweeps_the_previous_day_end_to_end(
    moto_endpoint: str, handler_module: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from preprocessing.config import get_settings
    from preprocessing.sweep import sqs_client

    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint)
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto_endpoint)
    # GIVEN the buckets, the function's queue with its DLQ, and SWEEP_QUEUE_URL naming that queue
    for bucket in (LANDING_BUCKET, FEATURE_BUCKET):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=LANDING_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    dlq_url = sqs.create_queue(QueueName="backfill-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName="backfill",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})},
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    monkeypatch.setenv("SWEEP_QUEUE_URL", queue_url)
    get_settings.cache_clear()
    sqs_client.cache_clear()
    # AND two objects that landed without their events ever reaching the queue
    keys = ["raw/transactions/late/transactions_sample.csv", "raw/transactions/late/transactions_sample.jsonl.gz"]
    samples = (SAMPLES / "transactions_sample.csv", SAMPLES / "transactions_sample.jsonl.gz")
    for key, path in zip(keys, samples, strict=True):
        s3.put_object(Bucket=LANDING_BUCKET, Key=key, Body=path.read_bytes())
    landed = s3.head_object(Bucket=LANDING_BUCKET, Key=keys[0])["LastModified"]
    # WHEN the schedule rule delivers its Scheduled Event to the queue the next day, and the ESM drains it
    tick = scheduled_event(f"arn:aws:events:{REGION}:123456789012:rule/backfill-schedule", landed + timedelta(days=1))
    sqs.send_message(QueueUrl=queue_url, MessageBody=body_of(tick))
    esm = SqsEventSourceMapping(sqs, queue_url, queue_arn, handler_module.lambda_handler, batch_size=1)
    polls = esm.drain(deadline_seconds=20)
    try:
        # THEN the tick and the two messages it enqueued were each processed once, none failed
        assert [p.failed for p in polls] == [[], [], []]
        manifests = s3.list_objects_v2(Bucket=FEATURE_BUCKET, Prefix="transactions/_manifests/")["Contents"]
        sources = sorted(
            json.loads(s3.get_object(Bucket=FEATURE_BUCKET, Key=m["Key"])["Body"].read())["source"]["key"]
            for m in manifests
        )
        assert sources == sorted(keys)
        assert sqs.receive_message(QueueUrl=dlq_url).get("Messages", []) == []
    finally:
        get_settings.cache_clear()
        sqs_client.cache_clear()
