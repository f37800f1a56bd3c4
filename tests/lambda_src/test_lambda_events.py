"""The message shapes the handler accepts, checked against AWS's documented examples (``fixtures/``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from esm_harness import documented_event, eventbridge_s3_object_created, scheduled_event
from preprocessing.events import (
    ACCEPTED_EVENTS,
    SWEEP_REASON,
    NotAnObjectCreatedEventError,
    S3Event,
    ScheduledEvent,
    SourceObject,
    object_created_message,
    parse_message,
    source_object_from_event,
    sweep_window,
)
from pydantic import ValidationError

DOCUMENTED_OBJECT = SourceObject(
    bucket="amzn-s3-demo-bucket1",
    key="example-key",
    version_id="IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
    etag="b1946ac92492d2347c6235b4d2611184",
    size=5,
    sequencer="617f08299329d189",
)


def _source(event: dict) -> SourceObject:
    message = parse_message(json.dumps(event))
    assert isinstance(message, S3Event)
    return source_object_from_event(message)


def test_the_documented_object_created_event_names_its_object_version() -> None:
    # GIVEN the Object Created example of AWS's S3 EventBridge docs, as is
    # THEN every documented object field reaches the SourceObject
    assert _source(documented_event("s3_object_created_aws_doc")) == DOCUMENTED_OBJECT


def test_fields_aws_adds_to_the_detail_are_ignored() -> None:
    # GIVEN the documented event with a field some versions of the page show (detail.event-version)
    event = documented_event("s3_object_created_aws_doc")
    event["detail"]["event-version"] = "1.0"
    assert _source(event) == DOCUMENTED_OBJECT


def test_moto_spelling_etag_is_read_as_the_same_etag() -> None:
    # GIVEN the documented event with moto's field name eTag instead of AWS's etag
    event = documented_event("s3_object_created_aws_doc")
    event["detail"]["object"]["eTag"] = event["detail"]["object"].pop("etag")
    # THEN the ETag (part of every output name) is the same, so both deliveries map to one output
    assert _source(event) == DOCUMENTED_OBJECT


def test_the_test_builder_makes_the_documented_shape() -> None:
    # GIVEN the harness's builder for the same object WHEN compared field by field with the documented example
    built = eventbridge_s3_object_created(
        "amzn-s3-demo-bucket1", "example-key", version_id=DOCUMENTED_OBJECT.version_id, etag='"b1946ac9"', size=5
    )
    documented = documented_event("s3_object_created_aws_doc")
    # THEN it uses exactly the documented field names, at every level
    assert set(built) == set(documented)
    assert set(built["detail"]) == set(documented["detail"])
    assert set(built["detail"]["object"]) == set(documented["detail"]["object"])


def test_the_documented_scheduled_event_is_accepted_and_fixes_the_swept_day() -> None:
    message = parse_message(json.dumps(documented_event("scheduled_event_aws_doc")))
    assert isinstance(message, ScheduledEvent)
    assert message.resources == ["arn:aws:events:us-east-1:123456789012:rule/SampleRule"]
    # the window is the previous UTC calendar day of the event's time, however late the delivery
    assert sweep_window(message.time) == (datetime(2016, 12, 29, tzinfo=UTC), datetime(2016, 12, 30, tzinfo=UTC))


def test_only_the_declared_shapes_are_accepted() -> None:
    assert ACCEPTED_EVENTS == (("aws.s3", "Object Created"), ("aws.events", "Scheduled Event"))
    # another source, another aws.events detail type, and a body that is not JSON are validation errors
    other_source = documented_event("s3_object_created_aws_doc", source="aws.ec2")
    other_schedule_type = documented_event("scheduled_event_aws_doc", **{"detail-type": "Schema Created"})
    for body in (json.dumps(other_source), json.dumps(other_schedule_type), "not json"):
        with pytest.raises(ValidationError):
            parse_message(body)
    # an aws.s3 event of another type parses, and is refused by name
    deleted = documented_event("s3_object_created_aws_doc", **{"detail-type": "Object Deleted"})
    with pytest.raises(NotAnObjectCreatedEventError, match="Object Deleted"):
        _source(deleted)
    # a documented field with the wrong type is named
    with pytest.raises(ValidationError, match="size"):
        parse_message(json.dumps(documented_event("s3_object_created_aws_doc", **{"detail.object.size": "five"})))


def test_the_declaration_the_planner_reads_is_what_the_parser_accepts() -> None:
    # GIVEN preprocessing.accepts.ACCEPTS (the data blueprint's trigger check loads from the archive)
    from preprocessing.accepts import ACCEPTS

    documented = {
        ("aws.s3", "Object Created"): "s3_object_created_aws_doc",
        ("aws.events", "Scheduled Event"): "scheduled_event_aws_doc",
    }
    # THEN every declared path is an SQS delivery of a documented shape that the parser takes as it is
    assert {entry["via"] for entry in ACCEPTS} == {"sqs"}
    declared = {(entry["source"], entry["detail-type"]) for entry in ACCEPTS}
    assert declared == set(ACCEPTED_EVENTS) == set(documented)
    for (source, detail_type), fixture in documented.items():
        message = parse_message(json.dumps(documented_event(fixture)))
        assert (message.source, message.detail_type) == (source, detail_type)


def test_a_sweep_message_has_the_documented_shape_and_a_stable_id() -> None:
    # GIVEN the message a sweep enqueues for the documented object
    kwargs = {
        "bucket": DOCUMENTED_OBJECT.bucket,
        "key": DOCUMENTED_OBJECT.key,
        "version_id": DOCUMENTED_OBJECT.version_id,
        "etag": f'"{DOCUMENTED_OBJECT.etag}"',
        "size": 5,
        "account": "111122223333",
        "region": "ca-central-1",
        "event_time": datetime(2021, 11, 12, tzinfo=UTC),
        "requester": "prod-transactions-backfill",
    }
    message = object_created_message(**kwargs)  # type: ignore[arg-type]
    documented = documented_event("s3_object_created_aws_doc")
    # THEN it uses documented field names only, names the same object, and says it came from a sweep
    assert set(message) == set(documented)
    assert set(message["detail"]["object"]) == set(documented["detail"]["object"]) - {"sequencer"}
    source = _source(message)
    assert (source.bucket, source.key, source.version_id, source.etag, source.size) == (
        DOCUMENTED_OBJECT.bucket,
        DOCUMENTED_OBJECT.key,
        DOCUMENTED_OBJECT.version_id,
        DOCUMENTED_OBJECT.etag,
        5,
    )
    assert message["detail"]["reason"] == SWEEP_REASON
    assert object_created_message(**kwargs)["id"] == message["id"]  # type: ignore[arg-type]


def test_the_harness_scheduled_event_keeps_the_documented_fields() -> None:
    event = scheduled_event("arn:aws:events:eu-west-1:123456789012:rule/r", datetime(2026, 11, 28, 3, tzinfo=UTC))
    assert set(event) == set(documented_event("scheduled_event_aws_doc"))
