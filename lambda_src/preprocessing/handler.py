"""Lambda entry point: ``preprocessing.handler.lambda_handler``.

SQS invokes the function with a batch; the event source mapping uses ``ReportBatchItemFailures``. Each
record is handled independently by Powertools' ``BatchProcessor``. A record body is one of
:data:`preprocessing.events.ACCEPTED_EVENTS`:

- ``aws.s3`` / ``Object Created`` (from the EventBridge rule on the landing prefix, or enqueued by a sweep):
  the object version is processed into the feature store;
- ``aws.events`` / ``Scheduled Event`` (the function's schedule rule targets its own queue): the previous
  UTC day's landing objects are enqueued, one ``Object Created`` message each (:mod:`preprocessing.sweep`).

A record whose body is neither, names an object outside the landing prefix, or whose object cannot be read
raises; it is logged with its reason (exception type and message, and the source object when known) and
returned in ``batchItemFailures`` so SQS redelivers it (and dead-letters it after ``maxReceiveCount``); the
other records of the batch succeed. Invalid *rows* never fail a record: they go to the quarantine prefix.

Metrics (EMF, namespace ``POWERTOOLS_METRICS_NAMESPACE``, dimensions ``service`` = ``POWERTOOLS_SERVICE_NAME``
and ``FeatureSet``): ``ObjectsProcessed``, ``RowsValid``, ``RowsQuarantined``, ``DuplicateDeliveries``,
``SweepObjectsEnqueued``, ``FeatureLagSeconds`` (event time to features written) and ``RecordsFailed`` (the
stack alarms on ``RecordsFailed``: with partial batch responses a function failing every record reports no
Lambda ``Errors``; and on ``ObjectsProcessed`` staying at zero for a feature set's freshness window).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from preprocessing.config import get_settings
from preprocessing.events import ScheduledEvent, SourceObject, parse_message, source_object_from_event
from preprocessing.tracing import make_tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
metrics = Metrics()
tracer = make_tracer()  # the X-Ray SDK is imported only when tracing is on
FAILED_RECORDS_METRIC = "RecordsFailed"
"""Name of the metric counting records returned in ``batchItemFailures`` (alarmed on by the stack)."""
FEATURE_LAG_METRIC = "FeatureLagSeconds"
"""Seconds from the landing object's event time to its features being written (freshness lag)."""
FEATURE_SET_DIMENSION = "FeatureSet"
"""Dimension added to every metric, next to Powertools' ``service``."""
_MAX_ERROR_CHARS = 2000


@cache
def batch_processor() -> BatchProcessor:
    """The batch processor, built on first use (Powertools' batch utility is a large import)."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

    # raise_on_entire_batch_failure=False: a batch in which every record fails is still answered record by
    # record, so the response always lists exactly what failed (SQS semantics are the same either way).
    # No parser model: the body is parsed in record_handler, so a malformed body is logged like any failure.
    return BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@tracer.capture_method
def record_handler(record: SQSRecord) -> dict[str, Any]:
    """Handle one SQS record; log the reason and re-raise on failure so the record is retried.

    Returns a summary that Powertools keeps as the record's success result.
    """
    source: SourceObject | None = None
    try:
        message = parse_message(record.body)
        if isinstance(message, ScheduledEvent):
            return _sweep(message)
        source = source_object_from_event(message)
        return _process(source, message.time)
    except Exception as exc:
        logger.error(
            "record failed; SQS redelivers it and dead-letters it after maxReceiveCount",
            extra={
                "message_id": record.message_id,
                "receive_count": record.attributes.approximate_receive_count,
                "error_type": type(exc).__name__,
                "error": str(exc)[:_MAX_ERROR_CHARS],
                "source_bucket": source.bucket if source else None,
                "source_key": source.key if source else None,
                "source_version_id": source.version_id if source else None,
            },
        )
        raise


def _process(source: SourceObject, event_time: datetime) -> dict[str, Any]:
    from preprocessing.feature_sets import get_feature_set
    from preprocessing.pipeline import process_object
    from preprocessing.storage import s3_client

    settings = get_settings()
    logger.append_keys(source_bucket=source.bucket, source_key=source.key, source_version_id=source.version_id)
    try:
        result = process_object(
            source, settings=settings, feature_set=get_feature_set(settings.feature_set), client=s3_client()
        )
    finally:
        logger.remove_keys(["source_bucket", "source_key", "source_version_id"])
    if result.status == "duplicate":
        metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
        logger.info("object version already processed; nothing written", extra={"manifest": result.manifest_key})
    else:
        metrics.add_metric(name="ObjectsProcessed", unit=MetricUnit.Count, value=1)
        # Freshness: how long after its event (S3 Object Created) the object's features became available.
        lag = (datetime.now(UTC) - event_time.astimezone(UTC)).total_seconds()
        metrics.add_metric(name=FEATURE_LAG_METRIC, unit=MetricUnit.Seconds, value=max(lag, 0.0))
        metrics.add_metric(name="RowsValid", unit=MetricUnit.Count, value=result.rows_valid)
        metrics.add_metric(name="RowsQuarantined", unit=MetricUnit.Count, value=result.rows_quarantined)
        logger.info(
            "object processed",
            extra={
                "source": result.source_uri,
                "rows_input": result.rows_input,
                "rows_valid": result.rows_valid,
                "rows_quarantined": result.rows_quarantined,
                "outputs": result.output_keys,
                "quarantine": result.quarantine_key,
                "manifest": result.manifest_key,
            },
        )
    return {
        "status": result.status,
        "manifest": result.manifest_key,
        "outputs": result.output_keys,
        "rows_valid": result.rows_valid,
        "rows_quarantined": result.rows_quarantined,
    }


def _sweep(event: ScheduledEvent) -> dict[str, Any]:
    from preprocessing.storage import s3_client
    from preprocessing.sweep import sqs_client, sweep

    result = sweep(event, settings=get_settings(), s3=s3_client(), sqs=sqs_client())
    metrics.add_metric(name="SweepObjectsEnqueued", unit=MetricUnit.Count, value=result.messages_sent)
    logger.info(
        "scheduled sweep enqueued the window's landing objects",
        extra={
            "schedule": event.resources,
            "window_start": result.window_start.isoformat(),
            "window_end": result.window_end.isoformat(),
            "objects_found": result.objects_found,
            "messages_sent": result.messages_sent,
        },
    )
    return {"status": "swept", "objects_found": result.objects_found, "messages_sent": result.messages_sent}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Handle one SQS batch and return ``{"batchItemFailures": [{"itemIdentifier": <messageId>}, ...]}``.

    The environment is validated first: a misconfigured function raises ``ConfigurationError`` and the
    whole batch is retried. A batch in which every record fails is reported record by record too.
    """
    return process_batch(event, context)


def process_batch(event: dict[str, Any], context: LambdaContext | None = None) -> dict[str, Any]:
    """Process one SQS batch (the Lambda SQS event shape) record by record with :func:`record_handler`.

    Shared by :func:`lambda_handler` and the cluster worker (:mod:`preprocessing.worker`), so both run the
    same records through the same ``BatchProcessor`` and add the same metrics (``FeatureSet`` dimension,
    ``RecordsFailed``). Returns ``{"batchItemFailures": [{"itemIdentifier": <messageId>}, ...]}``. Metrics are
    not flushed here: the Lambda's ``log_metrics`` decorator or the worker does it. ``context`` defaults to
    None (the worker has no Lambda context).
    """
    from aws_lambda_powertools.utilities.batch import process_partial_response

    settings = get_settings()
    metrics.add_dimension(name=FEATURE_SET_DIMENSION, value=settings.feature_set)
    response = process_partial_response(
        event=event,
        record_handler=record_handler,
        processor=batch_processor(),
        context=context,
    )
    failures = response.get("batchItemFailures", [])
    if failures:
        metrics.add_metric(name=FAILED_RECORDS_METRIC, unit=MetricUnit.Count, value=len(failures))
        logger.warning("records failed and will be retried", extra={"failed": [f["itemIdentifier"] for f in failures]})
    return dict(response)
