"""The scheduled sweep: what a preprocessing function does when its schedule fires.

A schedule does not process anything itself. Its rule delivers the EventBridge ``Scheduled Event`` to the
function's own SQS queue; on that message the function lists the landing object versions under
``LANDING_PREFIX`` whose ``LastModified`` falls in the previous UTC day (:func:`~preprocessing.events.sweep_window`
of the event's ``time``) and enqueues, on the same queue, one ``Object Created`` message per version, shaped
exactly as S3 sends it to EventBridge. Each is then processed like any S3 event, one record at a time, with
the usual retries and dead-lettering.

Re-processing is a no-op: output names derive from (bucket, key, version id, ETag, feature set, schema
version), and an object version whose manifest exists is skipped (``DuplicateDeliveries``). So a sweep picks
up what the event path missed (an event lost, a message dead-lettered and purged, objects copied in before
the rule existed) and costs one ``HeadObject`` for everything else. A sweep that fails half-way is retried
as a whole; the messages it already sent are then sent again, which is harmless for the same reason.

Calls (and so the IAM the function needs): ``ListObjectVersions`` (``s3:ListBucketVersions``, conditioned on
``s3:prefix``) on the landing bucket, ``SendMessageBatch`` (``sqs:SendMessage``) on its own queue.
Delete markers are skipped. ``LastModified`` is S3's: for a multipart upload it is the upload's start.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from preprocessing.events import ScheduledEvent, object_created_message, sweep_window

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

    from preprocessing.config import Settings

SQS_BATCH = 10
"""``SendMessageBatch`` takes at most 10 entries."""


class SweepNotConfiguredError(RuntimeError):
    """A ``Scheduled Event`` reached a function without ``SWEEP_QUEUE_URL`` (it has no schedule)."""


class SweepEnqueueError(RuntimeError):
    """SQS refused some entries of a batch; the sweep message is retried as a whole."""


@dataclass(frozen=True)
class ObjectVersion:
    """One landing object version found in the window."""

    key: str
    version_id: str | None
    etag: str
    size: int
    last_modified: datetime


@dataclass(frozen=True)
class SweepResult:
    """What one sweep did."""

    window_start: datetime
    window_end: datetime
    objects_found: int
    messages_sent: int


@lru_cache(maxsize=1)
def sqs_client() -> SQSClient:
    """The process-wide SQS client (created on first use; tests reset it with ``cache_clear()``)."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=30)
    return boto3.session.Session().client("sqs", config=config)


def versions_in_window(
    client: S3Client, bucket: str, prefix: str, start: datetime, end: datetime
) -> Iterator[ObjectVersion]:
    """Object versions (not delete markers) under ``prefix`` with ``start <= LastModified < end``."""
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for version in page.get("Versions", []):
            modified = version["LastModified"]
            if not start <= modified < end:
                continue
            version_id = version.get("VersionId")
            yield ObjectVersion(
                key=version["Key"],
                version_id=None if version_id in (None, "", "null") else version_id,
                etag=str(version.get("ETag", "")).strip('"'),
                size=int(version.get("Size", 0)),
                last_modified=modified,
            )


def send_messages(client: SQSClient, queue_url: str, bodies: Sequence[str]) -> int:
    """Send ``bodies`` in batches of 10; return how many were sent.

    Raises:
        SweepEnqueueError: SQS reported failed entries (their ids and codes are in the message).
    """
    sent = 0
    for offset in range(0, len(bodies), SQS_BATCH):
        chunk = bodies[offset : offset + SQS_BATCH]
        response = client.send_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(chunk)]
        )
        failed = response.get("Failed", [])
        if failed:
            details = ", ".join(f"{f['Id']}: {f.get('Code')} {f.get('Message', '')}".strip() for f in failed)
            raise SweepEnqueueError(f"SQS refused {len(failed)} of {len(chunk)} sweep messages ({details})")
        sent += len(chunk)
    return sent


def sweep(
    event: ScheduledEvent, *, settings: Settings, s3: S3Client, sqs: SQSClient, requester: str | None = None
) -> SweepResult:
    """Enqueue one ``Object Created`` message per landing object version of the previous UTC day.

    ``requester`` (recorded in ``detail.requester``) defaults to ``AWS_LAMBDA_FUNCTION_NAME``.

    Raises:
        SweepNotConfiguredError: the function has no ``SWEEP_QUEUE_URL``.
        SweepEnqueueError, botocore.exceptions.ClientError: the record is retried.
    """
    if not settings.sweep_queue_url:
        raise SweepNotConfiguredError(
            "received a Scheduled Event but SWEEP_QUEUE_URL is not set: this function has no schedule"
        )
    start, end = sweep_window(event.time)
    found = list(versions_in_window(s3, settings.landing_bucket, settings.landing_prefix, start, end))
    who = requester or os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "preprocessing")
    bodies = [_body(event, settings.landing_bucket, version, who) for version in found]
    sent = send_messages(sqs, settings.sweep_queue_url, bodies)
    return SweepResult(window_start=start, window_end=end, objects_found=len(found), messages_sent=sent)


def _body(event: ScheduledEvent, bucket: str, version: ObjectVersion, requester: str) -> str:
    import json

    message: dict[str, Any] = object_created_message(
        bucket=bucket,
        key=version.key,
        version_id=version.version_id,
        etag=version.etag,
        size=version.size,
        account=event.account,
        region=event.region,
        event_time=version.last_modified,
        requester=requester,
    )
    return json.dumps(message, sort_keys=True)
