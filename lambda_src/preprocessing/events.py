"""The messages the function's SQS queue carries, and the objects they name.

The queue receives exactly two shapes, both EventBridge events serialised as the SQS body
(:data:`ACCEPTED_EVENTS`); anything else fails the record (it is retried, then dead-lettered):

- ``aws.s3`` / ``Object Created``: S3 -> EventBridge rule -> queue, one per new object version; also what
  a scheduled sweep enqueues for each object it finds (``detail.reason`` is :data:`SWEEP_REASON` then).
  Fields as AWS documents them (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html):
  ``detail.bucket.name``, ``detail.object.key``/``size``/``etag``/``version-id``/``sequencer``,
  ``detail.request-id``, ``detail.requester``, ``detail.source-ip-address``, ``detail.reason``. Unknown
  fields (e.g. ``detail.event-version``) are ignored. ``eTag`` is accepted as well as ``etag``: moto's
  EventBridge delivery spells it that way.
- ``aws.events`` / ``Scheduled Event``: the function's schedule rule targets this queue with the event
  unchanged (https://docs.aws.amazon.com/eventbridge/latest/userguide/event-reference.html shows
  its shape: ``resources`` holds the rule ARN, ``detail`` is ``{}``). Its ``time`` fixes the sweep window
  (:func:`sweep_window`), so a late or repeated delivery sweeps the same day.

Parsing is strict about the envelope (``source``, ``detail-type``, ``time``, the object fields) and uses
pydantic, so a body that is not one of these shapes raises :class:`pydantic.ValidationError` with the field
that is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import unquote_plus

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, TypeAdapter

from preprocessing.accepts import ACCEPTS

S3_SOURCE = "aws.s3"
OBJECT_CREATED = "Object Created"
ACCEPTED_EVENTS: tuple[tuple[str, str], ...] = tuple(
    (entry["source"], entry["detail-type"]) for entry in ACCEPTS if entry["via"] == "sqs"
)
"""``(source, detail-type)`` pairs the handler processes (from :data:`preprocessing.accepts.ACCEPTS`, the
declaration ``blueprint plan`` checks every trigger against); every other message fails its record."""
SWEEP_REASON = "ScheduledSweep"
"""``detail.reason`` of the ``Object Created`` messages a scheduled sweep enqueues."""


class _Lenient(BaseModel):
    """Ignore fields AWS may add; never coerce an envelope into something it is not."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class S3ObjectModel(_Lenient):
    """``detail.object`` of an S3 EventBridge event."""

    key: str = Field(min_length=1)
    size: int | None = Field(default=None, ge=0)
    etag: str = Field(default="", validation_alias=AliasChoices("etag", "eTag"))
    version_id: str | None = Field(default=None, validation_alias=AliasChoices("version-id", "version_id"))
    sequencer: str | None = None


class S3BucketModel(_Lenient):
    """``detail.bucket`` of an S3 EventBridge event."""

    name: str = Field(min_length=1)


class S3DetailModel(_Lenient):
    """``detail`` of an S3 EventBridge event (the fields this function reads or logs)."""

    version: str | None = None
    bucket: S3BucketModel
    object_: S3ObjectModel = Field(validation_alias=AliasChoices("object", "object_"))
    request_id: str | None = Field(default=None, validation_alias=AliasChoices("request-id", "request_id"))
    requester: str | None = None
    source_ip_address: str | None = Field(
        default=None, validation_alias=AliasChoices("source-ip-address", "source_ip_address")
    )
    reason: str | None = None


class _EventBridgeEnvelope(_Lenient):
    version: str = "0"
    id: str
    detail_type: str = Field(validation_alias=AliasChoices("detail-type", "detail_type"))
    account: str
    time: datetime
    region: str
    resources: list[str] = Field(default_factory=list)


class S3Event(_EventBridgeEnvelope):
    """An ``aws.s3`` EventBridge event."""

    source: Literal["aws.s3"]
    detail: S3DetailModel


class ScheduledEvent(_EventBridgeEnvelope):
    """An ``aws.events`` ``Scheduled Event`` (the function's schedule rule firing)."""

    source: Literal["aws.events"]
    detail_type: Literal["Scheduled Event"] = Field(validation_alias=AliasChoices("detail-type", "detail_type"))
    detail: dict[str, Any] = Field(default_factory=dict)


QueueMessage = Annotated[S3Event | ScheduledEvent, Field(discriminator="source")]
_QUEUE_MESSAGE: TypeAdapter[S3Event | ScheduledEvent] = TypeAdapter(QueueMessage)


def parse_message(body: str) -> S3Event | ScheduledEvent:
    """Parse one SQS body into one of the :data:`ACCEPTED_EVENTS` shapes.

    Raises:
        pydantic.ValidationError: not JSON, or not one of the accepted shapes (the error names the field).
    """
    return _QUEUE_MESSAGE.validate_json(body)


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
        decoded form second keeps the function correct for either (the role's unconditioned
        ``s3:ListBucket`` makes the first, absent key answer 404 rather than 403, so the fallback runs).
        """
        decoded = unquote_plus(self.key)
        return (self.key,) if decoded == self.key else (self.key, decoded)


def source_object_from_event(event: S3Event) -> SourceObject:
    """Extract the object reference from a parsed S3 event.

    Raises:
        NotAnObjectCreatedEventError: detail-type is not ``Object Created``.
    """
    if event.detail_type != OBJECT_CREATED:
        raise NotAnObjectCreatedEventError(
            f"expected source={S3_SOURCE!r} detail-type={OBJECT_CREATED!r}, "
            f"got source={event.source!r} detail-type={event.detail_type!r}"
        )
    obj = event.detail.object_
    version_id = obj.version_id if obj.version_id not in (None, "", "null") else None
    return SourceObject(
        bucket=event.detail.bucket.name,
        key=obj.key,
        version_id=version_id,
        etag=obj.etag.strip('"'),
        size=obj.size,
        sequencer=obj.sequencer,
    )


def sweep_window(scheduled_time: datetime) -> tuple[datetime, datetime]:
    """The window a schedule firing at ``scheduled_time`` sweeps: the previous UTC calendar day.

    ``[D-1 00:00Z, D 00:00Z)`` where ``D`` is the UTC date of ``scheduled_time`` (a naive time is UTC).
    """
    moment = scheduled_time if scheduled_time.tzinfo else scheduled_time.replace(tzinfo=UTC)
    end = datetime.combine(moment.astimezone(UTC).date(), time(0), tzinfo=UTC)
    return end - timedelta(days=1), end


def object_created_message(
    *,
    bucket: str,
    key: str,
    version_id: str | None,
    etag: str,
    size: int,
    account: str,
    region: str,
    event_time: datetime,
    requester: str,
) -> dict[str, Any]:
    """An ``Object Created`` event, shaped as S3 sends it to EventBridge, for an object a sweep found.

    ``id`` is derived from the object version so that one version always yields the same message;
    ``detail.reason`` is :data:`SWEEP_REASON` and ``detail.requester`` the sweeping function.
    """
    import hashlib
    import uuid

    identity = "\n".join((bucket, key, version_id or "null", etag.strip('"')))
    obj: dict[str, Any] = {"key": key, "size": size, "etag": etag.strip('"')}
    if version_id is not None:
        obj["version-id"] = version_id
    return {
        "version": "0",
        "id": str(uuid.UUID(hashlib.sha256(identity.encode()).hexdigest()[:32])),
        "detail-type": OBJECT_CREATED,
        "source": S3_SOURCE,
        "account": account,
        "time": event_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": obj,
            "requester": requester,
            "reason": SWEEP_REASON,
        },
    }
