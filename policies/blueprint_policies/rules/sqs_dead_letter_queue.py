"""Work queues move poison messages to a dead-letter queue."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, StackPolicy
from hybrid_ai_platform.policies.props import skip_unknown
from hybrid_ai_platform.policies.stack import StackIndex
from pulumi_policy import Severity, StackValidationArgs

from ._sqs import redrive_target

QUEUE = "aws:sqs/queue:Queue"

META = Meta(
    id="BP-SQS-002",
    name="sqs-dead-letter-queue",
    description="Every SQS queue that is not itself a dead-letter queue has a redrivePolicy to a DLQ.",
    severity=Severity.MEDIUM,
    category="security",
    resource_types=(QUEUE,),
    remediation="Set redrive_policy={deadLetterTargetArn, maxReceiveCount} on the queue (PreprocessingPipeline "
    "creates the DLQ).",
    equivalents=Equivalents(cdk_nag=("AwsSolutions-SQS3",)),
)


def dead_letter_queues(index: StackIndex) -> set[str]:
    """URNs of queues used as a DLQ (a redrive target, or with a RedriveAllowPolicy)."""
    dlqs: set[str] = set()
    for queue in index.of_type(QUEUE):
        for source in index.sources(queue, "redrivePolicy"):
            dlqs.add(source.urn)
    for allow in index.of_type("aws:sqs/redriveAllowPolicy:RedriveAllowPolicy"):
        dlqs.update(r.urn for r in index.sources(allow, "queueUrl"))
    return dlqs


def check(args: StackValidationArgs, config: Mapping[str, Any], report: Callable[..., None]) -> None:
    """Report work queues without a redrive policy."""
    index = StackIndex(args.resources)
    dlqs = dead_letter_queues(index)
    for queue in index.of_type(QUEUE):
        if queue.urn in dlqs:
            continue
        with skip_unknown():
            if redrive_target(queue) is None:
                report(f"queue '{queue.name}' has no dead-letter queue (redrivePolicy)", queue.urn)


POLICY = StackPolicy(META, check)
