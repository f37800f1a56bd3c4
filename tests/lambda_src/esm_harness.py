"""Test support for the preprocessing Lambda: AWS-shaped events, a Lambda context and an SQS event source
mapping (ESM) emulator.

Imported by ``conftest.py`` and the tests of this folder (pytest puts this folder on ``sys.path``).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REGION = "eu-west-1"
ACCOUNT = "123456789012"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def eventbridge_s3_object_created(
    bucket: str,
    key: str,
    *,
    version_id: str | None,
    etag: str,
    size: int,
    source: str = "aws.s3",
    detail_type: str = "Object Created",
    etag_field: str = "etag",
) -> dict[str, Any]:
    """The EventBridge event S3 emits for ``Object Created`` (shape as delivered to an SQS target).

    ``etag_field="eTag"`` gives moto's spelling (AWS documents ``etag``); the handler accepts both.
    """
    obj: dict[str, Any] = {
        "key": key,
        "size": size,
        etag_field: etag.strip('"'),
        "sequencer": "0062E99A88DC407460",
    }
    if version_id is not None:
        obj["version-id"] = version_id
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": obj,
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": ACCOUNT,
            "source-ip-address": "203.0.113.15",
            "reason": "PutObject",
        },
    }


def documented_event(name: str, **changes: Any) -> dict[str, Any]:
    """An event fixture from ``fixtures/`` (transcribed from AWS's docs), with values replaced by dotted path.

    ``documented_event("s3_object_created_aws_doc", **{"detail.bucket.name": "b"})``; a path must already
    exist in the documented event, so a test can change values but never invent or rename a field.
    """
    event: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        node = event
        for part in parents:
            node = node[part]
        if leaf not in node:
            raise KeyError(f"{path} is not a field of the documented {name} event")
        node[leaf] = value
    return event


def scheduled_event(rule_arn: str, when: datetime) -> dict[str, Any]:
    """The ``Scheduled Event`` a schedule rule delivers (documented shape), for ``rule_arn`` firing at ``when``."""
    return documented_event(
        "scheduled_event_aws_doc",
        **{
            "id": str(uuid.uuid4()),
            "account": ACCOUNT,
            "region": REGION,
            "time": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "resources": [rule_arn],
        },
    )


def sqs_lambda_record(body: str, *, message_id: str | None = None, receive_count: int = 1) -> dict[str, Any]:
    """One record of the SQS event Lambda's event source mapping passes to the function."""
    now_ms = str(int(time.time() * 1000))
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEB" + uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": now_ms,
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": now_ms,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:preprocessing-queue",
        "awsRegion": REGION,
    }


@dataclass
class FakeLambdaContext:
    """The attributes of ``LambdaContext`` that Powertools' Logger reads."""

    function_name: str = "preprocessing"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:preprocessing"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/preprocessing"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


@dataclass
class PollResult:
    """What one ESM poll did."""

    received: list[str]
    failed: list[str]
    deleted: list[str]
    invocation_error: BaseException | None = None
    receive_counts: dict[str, int] = field(default_factory=dict)


class SqsEventSourceMapping:
    """Emulates Lambda's SQS event source mapping with ``ReportBatchItemFailures``.

    Each :meth:`poll` receives up to ``batch_size`` messages, builds the Lambda SQS event, invokes the
    handler, then deletes every message except those in ``batchItemFailures``. Failed messages are left
    alone: they become visible again after the queue's visibility timeout, and SQS itself moves them to
    the DLQ once ``maxReceiveCount`` is exceeded. If the handler raises, nothing is deleted (as in Lambda).
    """

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        handler: Callable[[dict[str, Any], Any], dict[str, Any]],
        *,
        batch_size: int = 10,
        wait_seconds: int = 0,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.handler = handler
        self.batch_size = batch_size
        self.wait_seconds = wait_seconds
        self.invocations = 0

    def poll(self) -> PollResult:
        """Receive one batch and invoke the handler with it (no-op result if the queue is empty)."""
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return PollResult([], [], [])
        records = []
        for message in messages:
            attrs = message.get("Attributes", {})
            records.append(
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": {
                        "ApproximateReceiveCount": attrs.get("ApproximateReceiveCount", "1"),
                        "SentTimestamp": attrs.get("SentTimestamp", "0"),
                        "SenderId": attrs.get("SenderId", "AIDAEXAMPLE"),
                        "ApproximateFirstReceiveTimestamp": attrs.get("ApproximateFirstReceiveTimestamp", "0"),
                    },
                    "messageAttributes": {},
                    "md5OfBody": message["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": REGION,
                }
            )
        received = [r["messageId"] for r in records]
        counts = {r["messageId"]: int(r["attributes"]["ApproximateReceiveCount"]) for r in records}
        self.invocations += 1
        try:
            result = self.handler({"Records": records}, FakeLambdaContext())
        except Exception as exc:  # the whole batch is retried, as Lambda does
            return PollResult(received, received, [], invocation_error=exc, receive_counts=counts)
        failed = [item["itemIdentifier"] for item in result.get("batchItemFailures", [])]
        to_delete = [r for r in records if r["messageId"] not in failed]
        if to_delete:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(to_delete)],
            )
        return PollResult(received, failed, [r["messageId"] for r in to_delete], receive_counts=counts)

    def drain(self, *, deadline_seconds: float, idle_polls: int = 2, idle_sleep: float = 0.25) -> list[PollResult]:
        """Poll until the queue stays empty for ``idle_polls`` consecutive polls (bounded by the deadline).

        ``idle_sleep`` is waited after an empty poll so messages in their visibility timeout can reappear.
        """
        results: list[PollResult] = []
        idle = 0
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            result = self.poll()
            if result.received:
                results.append(result)
                idle = 0
                continue
            idle += 1
            if idle >= idle_polls and not self._in_flight():
                break
            time.sleep(idle_sleep)
        return results

    def _in_flight(self) -> bool:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"]) > 0


def body_of(event: dict[str, Any]) -> str:
    """JSON-serialise an EventBridge event as the SQS target receives it."""
    return json.dumps(event)
