"""Lambda entry point: ``preprocessing.handler.lambda_handler``.

SQS (fed by an EventBridge rule on S3 ``Object Created``) invokes the function with a batch; the event
source mapping uses ``ReportBatchItemFailures``. Each record is handled independently by Powertools'
``BatchProcessor``: a record whose body is not an S3 EventBridge event, names an object outside the
landing prefix, or whose object cannot be read raises, and is returned in ``batchItemFailures`` so SQS
redelivers it (and dead-letters it after ``maxReceiveCount``); the other records of the batch succeed.
Invalid *rows* never fail a record: they are written to the quarantine prefix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from preprocessing.config import get_settings
from preprocessing.events import S3EventBridgeSqsRecord, source_object_from_record

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
metrics = Metrics()
tracer = Tracer()
# raise_on_entire_batch_failure=False: a batch in which every record fails is still answered record by
# record, so the response always lists exactly what failed (SQS semantics are the same either way).
processor = BatchProcessor(event_type=EventType.SQS, model=S3EventBridgeSqsRecord, raise_on_entire_batch_failure=False)


@tracer.capture_method
def record_handler(record: S3EventBridgeSqsRecord) -> dict[str, Any]:
    """Process the object named by one SQS record; raise to have the record retried.

    Returns a summary (status, keys, row counts) that Powertools keeps as the record's success result.
    """
    from preprocessing.feature_sets import get_feature_set
    from preprocessing.pipeline import process_object
    from preprocessing.storage import s3_client

    settings = get_settings()
    source = source_object_from_record(record)
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


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Handle one SQS batch and return ``{"batchItemFailures": [{"itemIdentifier": <messageId>}, ...]}``.

    The environment is validated first: a misconfigured function raises ``ConfigurationError`` and the
    whole batch is retried. A batch in which every record fails is reported record by record too.
    """
    settings = get_settings()
    metrics.add_dimension(name="FeatureSet", value=settings.feature_set)
    response = process_partial_response(
        event=event,
        record_handler=record_handler,
        processor=processor,
        context=context,
    )
    failures = response.get("batchItemFailures", [])
    if failures:
        metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=len(failures))
        logger.warning("records failed and will be retried", extra={"failed": [f["itemIdentifier"] for f in failures]})
    return dict(response)
