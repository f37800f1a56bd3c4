"""Lambda failures land somewhere: SQS partial batch failures + DLQ, or an async failure destination."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, StackPolicy
from hybrid_ai_platform.policies.props import as_list, get, skip_unknown
from hybrid_ai_platform.policies.stack import StackIndex
from pulumi_policy import Severity, StackValidationArgs

from ._sqs import redrive_target

META = Meta(
    id="BP-LMB-002",
    name="lambda-failure-handling",
    description="Each Lambda function handles failures: every SQS event source reports batch item failures "
    "and its queue has a DLQ; other functions have an on-failure destination or dead_letter_config.",
    severity=Severity.MEDIUM,
    category="security",
    resource_types=("aws:lambda/function:Function", "aws:lambda/eventSourceMapping:EventSourceMapping"),
    remediation="For SQS triggers set function_response_types=['ReportBatchItemFailures'] and a redrive policy "
    "on the queue; otherwise add an aws.lambda_.FunctionEventInvokeConfig with destination_config.on_failure "
    "or dead_letter_config on the function.",
    equivalents=Equivalents(checkov=("CKV_AWS_116",)),
)


def check(args: StackValidationArgs, config: Mapping[str, Any], report: Callable[..., None]) -> None:
    """Join functions to their event source mappings and invoke configs via ``functionName``."""
    index = StackIndex(args.resources)
    for function in index.of_type("aws:lambda/function:Function"):
        with skip_unknown():
            mappings = index.dependents(function, "aws:lambda/eventSourceMapping:EventSourceMapping", "functionName")
            sqs_mappings = [m for m in mappings if ":sqs:" in str(get(m.props, "eventSourceArn") or "")]
            for mapping in sqs_mappings:
                if "ReportBatchItemFailures" not in [
                    str(t) for t in as_list(get(mapping.props, "functionResponseTypes"))
                ]:
                    report(
                        f"function '{function.name}': SQS trigger '{mapping.name}' does not report batch item "
                        "failures, so one bad message retries the whole batch",
                        mapping.urn,
                    )
                queues = [
                    q for q in index.sources(mapping, "eventSourceArn") if q.resource_type == "aws:sqs/queue:Queue"
                ]
                for queue in queues:
                    if redrive_target(queue) is None:
                        report(
                            f"function '{function.name}': its queue '{queue.name}' has no dead-letter queue",
                            mapping.urn,
                        )
            if sqs_mappings:
                continue
            invoke_configs = index.dependents(
                function, "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig", "functionName"
            )
            has_destination = any(get(c.props, "destinationConfig.onFailure.destination") for c in invoke_configs)
            if not has_destination and not get(function.props, "deadLetterConfig.targetArn"):
                report(
                    f"function '{function.name}' has no failure destination and no dead-letter config; failed "
                    "asynchronous invocations are dropped",
                    function.urn,
                )


POLICY = StackPolicy(META, check)
