"""The S3 -> EventBridge -> SQS envelope, parsed with Powertools' parser models.

Each SQS record body is the JSON of an EventBridge event (``source: aws.s3``, ``detail-type: Object
Created``). :class:`S3EventBridgeSqsRecord` is handed to Powertools' ``BatchProcessor`` so a body that is not
such an event fails model validation and is reported in ``batchItemFailures`` without reaching our code.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.parser.models import (
    S3EventNotificationEventBridgeModel,
    SqsRecordModel,
)
from pydantic import Json

S3_SOURCE = "aws.s3"
OBJECT_CREATED = "Object Created"


class S3EventBridgeSqsRecord(SqsRecordModel):
    """An SQS record whose body is an EventBridge event for an S3 object notification."""

    body: Json[S3EventNotificationEventBridgeModel]


class NotAnObjectCreatedEventError(ValueError):
    """The message is a valid EventBridge S3 event, but not an ``Object Created`` event from ``aws.s3``."""


@dataclass(frozen=True)
class SourceObject:
    """One landing object version named by an event.

    ``etag`` is unquoted (as EventBridge delivers it); ``version_id`` is ``None`` for unversioned buckets.
    """

    bucket: str
    key: str
    version_id: str | None
    etag: str
    size: int | None
    sequencer: str | None

    @property
    def uri(self) -> str:
        """``s3://bucket/key`` (without the version)."""
        return f"s3://{self.bucket}/{self.key}"

    def key_candidates(self) -> tuple[str, ...]:
        """Keys to try, in order: the key as delivered, then its URL-decoded form if that differs.

        S3 URL-encodes keys in its classic notifications; EventBridge delivers them as stored. Trying the
        decoded form second keeps the function correct for either.
        """
        decoded = unquote_plus(self.key)
        return (self.key,) if decoded == self.key else (self.key, decoded)


def source_object_from_record(record: S3EventBridgeSqsRecord) -> SourceObject:
    """Extract the object reference from a parsed record.

    Raises:
        NotAnObjectCreatedEventError: source is not ``aws.s3`` or detail-type not ``Object Created``.
    """
    event = record.body
    if event.source != S3_SOURCE or event.detail_type != OBJECT_CREATED:
        raise NotAnObjectCreatedEventError(
            f"expected source={S3_SOURCE!r} detail-type={OBJECT_CREATED!r}, "
            f"got source={event.source!r} detail-type={event.detail_type!r}"
        )
    obj = event.detail.object
    version_id = obj.version_id if obj.version_id not in (None, "", "null") else None
    return SourceObject(
        bucket=event.detail.bucket.name,
        key=obj.key,
        version_id=version_id,
        etag=obj.etag.strip('"'),
        size=int(obj.size) if obj.size is not None else None,
        sequencer=obj.sequencer,
    )
