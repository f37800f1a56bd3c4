"""Triggers: every invoker of a function delivers an event shape that its handler declares it accepts.

The handler declares what it accepts in ``<package>/accepts.py`` (``ACCEPTS``: one entry per delivery
path, ``{"via": "sqs", "source": "aws.s3", "detail-type": "Object Created"}``), plain data beside its
code. This check loads that module from the archive the plan deploys (never a copy of it) and walks
every path by which the plan can invoke the function:

- an event source mapping (``via`` = the source's service, ``sqs`` for a queue), and for an SQS queue
  everything that feeds it: EventBridge rules targeting the queue (their event pattern's ``source`` and
  ``detail-type``; a schedule delivers ``aws.events`` / ``Scheduled Event``,
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-run-lambda-schedule.html), a target that
  rewrites the event (``input``, ``inputPath``, ``inputTransformer``), S3 notifications and SNS
  subscriptions delivering their own envelopes to the queue;
- an EventBridge target pointing at the function itself (``via`` = ``eventbridge``);
- an ``aws:lambda/permission:Permission`` (``via`` = the service principal's name).

A rule whose pattern does not pin ``source`` and ``detail-type`` to exact values delivers shapes
nobody declared; anything not declared fails every record it delivers (retried, then dead-lettered).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from ..plandoc import Resource
from . import CheckContext, Finding, check
from .size_split import DOCUMENTED_NUMERIC_MAX, partition_problems, size_condition, undocumented_gaps
from .workload_code import DeclarationError, attribute, lambda_archive, load_from_archive, load_from_source

FUNCTION = "aws:lambda/function:Function"
ESM = "aws:lambda/eventSourceMapping:EventSourceMapping"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
PERMISSION = "aws:lambda/permission:Permission"
NOTIFICATION = "aws:s3/bucketNotification:BucketNotification"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
SCHEDULER = "aws:scheduler/schedule:Schedule"
"""EventBridge Scheduler: delivers its target's ``input`` (not an EventBridge event) to the queue or function."""
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
WORKER_COMPONENT = "preprocessing-worker"
"""``app.kubernetes.io/component`` of a preprocessing worker (``placement: cluster | auto``): it runs the
function's code from the same ``lambda_src/`` and consumes a queue like an event source mapping does."""
WORKER_ACCEPTS = "lambda_src/preprocessing/accepts.py"
"""Where a worker's ``ACCEPTS`` lives when no Lambda function of the same code is planned (the image's source)."""
WORKER_HANDLER = "preprocessing.worker"
DECLARATION = "accepts.py"
"""Module of the handler's package that declares ``ACCEPTS``."""
SCHEDULED = ("aws.events", "Scheduled Event")
"""What a schedule rule delivers to its targets when the target does not rewrite it."""
_REWRITES = ("input", "inputPath", "inputTransformer")


def function_name(reference: str) -> str:
    """A function's name from its name or (qualified) ARN."""
    if ":function:" in reference:
        return reference.split(":function:", 1)[1].split(":", 1)[0]
    return reference


def config_field(context: CheckContext, function: Resource, key: str | None) -> str:
    """``preprocessing.functions[<i>]`` (``.<key>``) of the configured function a Lambda belongs to."""
    variables = (function.inputs.get("environment") or {}).get("variables") or {}
    name = variables.get("POWERTOOLS_SERVICE_NAME")
    functions = (context.config("preprocessing") or {}).get("functions") or []
    index = next(
        (i for i, entry in enumerate(functions) if isinstance(entry, Mapping) and entry.get("name") == name), None
    )
    base = f"preprocessing.functions[{'' if index is None else index}]"
    return f"{base}.{key}" if key else base


def _accepts(context: CheckContext, function: Resource) -> list[dict[str, Any]]:
    inputs = function.inputs
    package = str(inputs.get("handler") or "").split(".", 1)[0]
    archive = lambda_archive(context.root, function)
    if not package or archive is None:
        raise DeclarationError("the function has no handler package or code archive to read ACCEPTS from")
    return _declared(load_from_archive(archive, f"{package}/{DECLARATION}"))


def _declared(module: Any) -> list[dict[str, Any]]:
    declared = attribute(module, "ACCEPTS")
    if not isinstance(declared, tuple | list) or not all(
        isinstance(entry, Mapping) and isinstance(entry.get("via"), str) for entry in declared
    ):
        raise DeclarationError(f"{module.__file__}: ACCEPTS must be a sequence of mappings with a 'via'")
    return [dict(entry) for entry in declared]


def _describe(accepts: list[dict[str, Any]]) -> str:
    return (
        "; ".join(f"via {e['via']}: {e.get('source', '*')} / {e.get('detail-type', '*')}" for e in accepts) or "nothing"
    )


def _accepted(accepts: list[dict[str, Any]], via: str, source: str | None, detail_type: str | None) -> bool:
    return any(e["via"] == via and e.get("source") == source and e.get("detail-type") == detail_type for e in accepts)


def _exact_strings(value: Any) -> list[str] | None:
    """The values of an event-pattern field when it matches exact strings only; None otherwise."""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    return None


def _rule_shapes(rule: Resource) -> tuple[list[tuple[str, str]], str | None]:
    """``(source, detail-type)`` pairs a rule delivers, or a reason why they are not pinned down."""
    inputs = rule.inputs
    raw = inputs.get("eventPattern")
    if raw:
        try:
            pattern = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            return [], "its eventPattern is not JSON"
        if not isinstance(pattern, Mapping):
            return [], "its eventPattern is not a JSON object"
        sources = _exact_strings(pattern.get("source"))
        detail_types = _exact_strings(pattern.get("detail-type"))
        missing = [n for n, v in (("source", sources), ("detail-type", detail_types)) if v is None]
        if missing:
            return [], (
                f"its event pattern does not constrain {' and '.join(missing)} to exact values, "
                "so it delivers events of any shape"
            )
        shapes = [(s, d) for s in sources or () for d in detail_types or ()]
        if inputs.get("scheduleExpression"):
            shapes.append(SCHEDULED)
        return shapes, None
    if inputs.get("scheduleExpression"):
        return [SCHEDULED], None
    return [], "it has neither an event pattern nor a schedule (it matches nothing the check can judge)"


def _rule_field(context: CheckContext, function: Resource, rule: Resource) -> str:
    inputs = rule.inputs
    if inputs.get("scheduleExpression") and not inputs.get("eventPattern"):
        return config_field(context, function, "schedule")
    return config_field(context, function, "landing_prefix")


def _by_physical_name(records: list[Resource]) -> dict[str, Resource]:
    index: dict[str, Resource] = {}
    for record in records:
        for key in (record.id, record.inputs.get("name"), record.name):
            if isinstance(key, str) and key:
                index.setdefault(key, record)
    return index


@check(
    name="system-lambda-trigger-accepted",
    id="BP-SYS-004",
    description=(
        "Every invoker of a function (event source mapping or cluster worker and what feeds its queue, "
        "EventBridge target, lambda.Permission) delivers an event shape the handler declares in its package's "
        "accepts.py; any other shape fails every record it delivers. Rules splitting a prefix by object size "
        "match every size exactly once."
    ),
    remediation=(
        "Pin the rule's event pattern to the declared source and detail-type, deliver through the function's "
        "queue (no direct Lambda target or permission), drop the schedule "
        "(preprocessing.functions[].schedule), or teach the handler the shape and declare it in ACCEPTS."
    ),
    severity="critical",
    resource_types=(FUNCTION, ESM, RULE, TARGET, PERMISSION, NOTIFICATION, SUBSCRIPTION, SCHEDULER, DEPLOYMENT),
)
def triggers_accepted(context: CheckContext) -> Iterator[Finding]:
    """Walk each function's invokers and compare what they deliver with the handler's ``ACCEPTS``; rules that
    split a prefix by object size must cover every size exactly once."""
    yield from _size_split_findings(context)
    functions = list(context.resources(FUNCTION))
    rules = _by_physical_name(list(context.resources(RULE)))
    targets = list(context.resources(TARGET))
    for function in functions:
        inputs = function.inputs
        name = str(inputs.get("name") or function.id or function.name)
        mappings = [m for m in context.resources(ESM) if _targets(m, "functionName", name)]
        direct = [t for t in targets if _targets(t, "arn", name)]
        permissions = [p for p in context.resources(PERMISSION) if _targets(p, "function", name)]
        schedules = [s for s in context.resources(SCHEDULER) if _function_target(s, name) or _queue_target(s, mappings)]
        if not (mappings or direct or permissions or schedules):
            continue
        try:
            accepts = _accepts(context, function)
        except DeclarationError as exc:
            yield Finding(
                f"function {name} has invokers but its handler declares no accepted events: {exc}",
                field=config_field(context, function, None),
                resource=function,
            )
            continue
        declared = _describe(accepts)
        for mapping in mappings:
            yield from _mapping(context, function, name, mapping, accepts, declared, rules, targets)
        for target in direct:
            rule = rules.get(str(target.inputs.get("rule")))
            shapes, _ = _rule_shapes(rule) if rule else ([], None)
            if not shapes or not all(_accepted(accepts, "eventbridge", s, d) for s, d in shapes):
                via_rule = f" (rule {rule.name})" if rule else ""
                yield Finding(
                    f"EventBridge target {target.name} invokes function {name} directly{via_rule}; "
                    f"the handler accepts {declared}",
                    field=config_field(context, function, None),
                    resource=target,
                )
        for schedule in schedules:
            if not any(e["via"] == "scheduler" for e in accepts):
                yield Finding(
                    f"EventBridge Scheduler schedule {schedule.name} delivers its target input (not an "
                    f"EventBridge event) to function {name}; the handler accepts {declared}",
                    field=config_field(context, function, "schedule"),
                    resource=schedule,
                )
        for permission in permissions:
            principal = str(permission.inputs.get("principal") or "")
            via = principal.split(".", 1)[0] if principal.endswith(".amazonaws.com") else principal
            via = "eventbridge" if via == "events" else via
            if not any(e["via"] == via for e in accepts):
                yield Finding(
                    f"lambda.Permission {permission.name} lets {principal or 'an unnamed principal'} "
                    f"invoke function {name} directly; the handler accepts {declared}",
                    field=config_field(context, function, None),
                    resource=permission,
                )
    # The cluster workers run the same handler code on a queue: what feeds that queue must be accepted too.
    for function, label, mapping in _worker_invokers(context, functions):
        try:
            accepts = (
                _accepts(context, function)
                if function.type == FUNCTION
                else _declared(load_from_source(context.root / WORKER_ACCEPTS))
            )
        except DeclarationError as exc:
            yield Finding(f"{label} has invokers but declares no accepted events: {exc}", resource=function)
            continue
        yield from _mapping(context, function, label, mapping, accepts, _describe(accepts), rules, targets)


def queue_arn(url: str) -> str | None:
    """``arn:aws:sqs:<region>:<account>:<name>`` of an SQS queue URL (``https://sqs.<region>.amazonaws.com/...``)."""
    parts = url.split("/")
    host = parts[2].split(".") if len(parts) > 4 else []
    if len(host) < 3 or host[0] != "sqs":
        return None
    return f"arn:aws:sqs:{host[1]}:{parts[3]}:{parts[4]}"


def _worker_invokers(context: CheckContext, functions: list[Resource]) -> Iterator[tuple[Resource, str, Resource]]:
    """(the function whose code a worker runs, a label, a mapping-like record of the queue it consumes)."""
    by_service = {
        ((f.inputs.get("environment") or {}).get("variables") or {}).get("POWERTOOLS_SERVICE_NAME"): f
        for f in functions
    }
    for deployment in context.resources(DEPLOYMENT):
        inputs = deployment.inputs
        if ((inputs.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/component") != WORKER_COMPONENT:
            continue
        containers = (((inputs.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
        env = {str(e.get("name")): str(e.get("value")) for e in (containers[0].get("env") or [])} if containers else {}
        arn = queue_arn(env.get("QUEUE_URL", ""))
        if arn is None:
            continue
        # The function record of the same code (auto), or (cluster: no function) one naming the worker's
        # environment; ACCEPTS then comes from the source tree the worker image is built from.
        function = by_service.get(env.get("POWERTOOLS_SERVICE_NAME")) or Resource(
            urn="",
            type="",
            name=str((inputs.get("metadata") or {}).get("name")),
            inputs={"environment": {"variables": env}, "handler": WORKER_HANDLER},
        )
        name = f"{(inputs.get('metadata') or {}).get('namespace')}/{(inputs.get('metadata') or {}).get('name')}"
        yield (
            function,
            f"worker {name}",
            Resource(urn="", type="", name=f"worker {name}", inputs={"eventSourceArn": arn}),
        )


def _size_split_findings(context: CheckContext) -> Iterator[Finding]:
    """Rules of one component that split the same bucket and key by ``detail.object.size`` (``placement: auto``)
    must together match every size exactly once (:mod:`.size_split`); where sizes above EventBridge's documented
    numeric range may match none of them, a rule of the same pattern without a size condition and without a
    target must count them (the ``unrouted-objects`` alarm compares its matches with the split rules')."""
    groups: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    records: dict[tuple[str, str], Resource] = {}
    counted: set[tuple[str, str]] = set()
    routes = {str(t.inputs.get("rule")) for t in context.resources(TARGET)}
    for rule in context.resources(RULE):
        raw = rule.inputs.get("eventPattern")
        try:
            pattern = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            continue
        if not isinstance(pattern, Mapping):
            continue
        raw_detail = pattern.get("detail")
        detail: Mapping[str, Any] = raw_detail if isinstance(raw_detail, Mapping) else {}
        raw_object = detail.get("object")
        obj = dict(raw_object) if isinstance(raw_object, Mapping) else {}
        obj.pop("size", None)
        key = (
            str(rule.parent or ""),
            json.dumps({**pattern, "detail": {**detail, "object": obj}}, sort_keys=True),
        )
        names = {rule.id, rule.inputs.get("name"), rule.name}
        if not names & routes:
            # no target: not a route (it delivers nothing); without a size condition it counts the objects
            if size_condition(pattern) is None:
                counted.add(key)
            continue
        groups.setdefault(key, {})[str(rule.name)] = dict(pattern)
        records.setdefault(key, rule)
    for key, patterns in groups.items():
        if not any(size_condition(p) is not None for p in patterns.values()):
            continue
        for problem in partition_problems(patterns):
            yield Finding(
                f"size-split rules {', '.join(sorted(patterns))}: {problem}",
                field="preprocessing.functions[].size_threshold_bytes",
                resource=records[key],
            )
        gaps = undocumented_gaps(patterns)
        if gaps and key not in counted:
            yield Finding(
                f"size-split rules {', '.join(sorted(patterns))}: objects of {gaps[0]} bytes may match none of them "
                f"(EventBridge documents numeric matching only up to {DOCUMENTED_NUMERIC_MAX}) and no rule without a "
                "target counts such objects: they would be lost silently; add the unsplit rule and its "
                "unrouted-objects alarm (components/preprocessing.py)",
                field="preprocessing.functions[].placement",
                resource=records[key],
            )


def _scheduler_target(schedule: Resource) -> str:
    return str((schedule.inputs.get("target") or {}).get("arn") or "")


def _function_target(schedule: Resource, name: str) -> bool:
    arn = _scheduler_target(schedule)
    return ":function:" in arn and function_name(arn) == name


def _queue_target(schedule: Resource, mappings: list[Resource]) -> bool:
    arn = _scheduler_target(schedule)
    return bool(arn) and any(m.inputs.get("eventSourceArn") == arn for m in mappings)


def _targets(record: Resource, key: str, name: str) -> bool:
    value = record.inputs.get(key)
    return isinstance(value, str) and (value == name or (":function:" in value and function_name(value) == name))


def _mapping(
    context: CheckContext,
    function: Resource,
    name: str,
    mapping: Resource,
    accepts: list[dict[str, Any]],
    declared: str,
    rules: Mapping[str, Resource],
    targets: list[Resource],
) -> Iterator[Finding]:
    source_arn = str(mapping.inputs.get("eventSourceArn") or "")
    service = source_arn.split(":")[2] if source_arn.count(":") >= 2 else "unknown"
    if not any(e["via"] == service for e in accepts):
        yield Finding(
            f"event source mapping {mapping.name} invokes function {name} with {service} records; "
            f"the handler accepts {declared}",
            field=config_field(context, function, None),
            resource=mapping,
        )
        return
    if service != "sqs":
        return
    for target in targets:
        target_inputs = target.inputs
        if target_inputs.get("arn") != source_arn:
            continue
        rule = rules.get(str(target_inputs.get("rule")))
        where = f"rule {rule.name} → target {target.name} → queue → function {name}" if rule else ""
        rewrites = [k for k in _REWRITES if target_inputs.get(k)]
        if rewrites:
            yield Finding(
                f"EventBridge target {target.name} rewrites the event ({', '.join(rewrites)}) before it "
                f"reaches function {name} through its queue; the handler accepts {declared}",
                field=_rule_field(context, function, rule) if rule else config_field(context, function, None),
                resource=target,
            )
            continue
        if rule is None:
            continue
        shapes, reason = _rule_shapes(rule)
        field = _rule_field(context, function, rule)
        if reason:
            yield Finding(f"{where}: {reason}; the handler accepts {declared}", field=field, resource=rule)
            continue
        for source, detail_type in shapes:
            if not _accepted(accepts, "sqs", source, detail_type):
                yield Finding(
                    f"{where}: delivers {source} / {detail_type}, which the handler does not declare "
                    f"(it accepts {declared})",
                    field=field,
                    resource=rule,
                )
    yield from _other_senders(context, function, name, source_arn, accepts, declared)


def _other_senders(
    context: CheckContext,
    function: Resource,
    name: str,
    queue_arn: str,
    accepts: list[dict[str, Any]],
    declared: str,
) -> Iterator[Finding]:
    """S3 notifications and SNS subscriptions that put their own envelopes on the function's queue."""
    native_s3 = _accepted(accepts, "sqs", "s3-notification", None)
    native_sns = _accepted(accepts, "sqs", "sns", None)
    for notification in context.resources(NOTIFICATION):
        for queue in notification.inputs.get("queues") or []:
            if isinstance(queue, Mapping) and queue.get("queueArn") == queue_arn and not native_s3:
                yield Finding(
                    f"S3 notification {notification.name} sends S3 event notifications (Records[]) to "
                    f"the queue of function {name}; the handler accepts {declared}",
                    field=config_field(context, function, None),
                    resource=notification,
                )
    for subscription in context.resources(SUBSCRIPTION):
        sub = subscription.inputs
        if sub.get("protocol") == "sqs" and sub.get("endpoint") == queue_arn and not native_sns:
            yield Finding(
                f"SNS subscription {subscription.name} delivers SNS messages to the queue of function "
                f"{name}; the handler accepts {declared}",
                field=config_field(context, function, None),
                resource=subscription,
            )
