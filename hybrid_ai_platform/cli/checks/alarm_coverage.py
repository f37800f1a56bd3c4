"""Alarm coverage: every failure mode a component declares has an alarm that notifies the stack's topic.

The components declare their failure modes as data (:mod:`hybrid_ai_platform.components.observability`); the program
exports the declarations as the stack output ``failure_modes`` (component, failure mode, the config
field that decides its alarm, and the alarm's logical name, or none when the config turned it off) and
the topic as ``alerts_topic_arn``. This check reads both and the plan's alarms: a failure mode without
an alarm, with an alarm the plan does not contain, or with one that does not notify the topic, is a
blocking finding naming the component and the config field. So a stack opts out of no alarm by accident.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..plandoc import Resource
from . import CheckContext, Finding, check

METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPOSITE_ALARM = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
DECLARING_COMPONENTS = (
    "hybrid-ai:preprocessing:PreprocessingPipeline",
    "hybrid-ai:inference:InferenceService",
    "hybrid-ai:inference:BatchScoringJob",
    "hybrid-ai:compute:GpuNodeGroup",
)
"""Component types that declare failure modes: a plan holding one but no ``failure_modes`` output lost
its declarations."""


def _component_record(context: CheckContext, component: str) -> Resource | None:
    """The plan record of the declaring component (``pipeline/transactions`` → the pipeline named so)."""
    name = component.split("/", 1)[-1]
    for record in context.document.resources:
        if not record.custom and record.name == name and record.type in DECLARING_COMPONENTS:
            return record
    return None


@check(
    name="system-alarm-coverage",
    id="BP-SYS-010",
    description=(
        "Every failure mode a component declares (pipeline health, feature freshness, model SLOs) has a "
        "CloudWatch alarm that notifies the stack's alerts topic, so no failure is silent."
    ),
    remediation=(
        "Set the config field the finding names (a threshold or window instead of null), or restore the alarm "
        "that components/alarms.py creates for the failure mode; docs/observability.md lists every alarm."
    ),
    severity="high",
    resource_types=(METRIC_ALARM, COMPOSITE_ALARM),
)
def alarm_coverage(context: CheckContext) -> Iterator[Finding]:
    """Mandatory for a missing, absent or unrouted alarm of a declared failure mode."""
    outputs = context.document.outputs or {}
    modes = outputs.get("failure_modes")
    if modes is None:
        declaring = [r for r in context.document.resources if r.type in DECLARING_COMPONENTS]
        if declaring:
            yield Finding(
                "the plan has components that declare failure modes but no failure_modes stack output, so no "
                "alarm coverage can be judged",
                resource=declaring[0],
            )
        return
    topic = outputs.get("alerts_topic_arn")
    alarms = {r.name: r for r in context.resources(METRIC_ALARM, COMPOSITE_ALARM)}
    for mode in modes:
        component, key, config_field = mode.get("component"), mode.get("failure_mode"), mode.get("field")
        alarm_name = mode.get("alarm")
        if alarm_name is None:
            yield Finding(
                f"{component}: failure mode '{key}' ({mode.get('meaning')}) has no alarm: {config_field} turns it off",
                field=config_field,
                resource=_component_record(context, str(component)),
            )
            continue
        alarm = alarms.get(alarm_name)
        if alarm is None:
            yield Finding(
                f"{component}: failure mode '{key}' names alarm {alarm_name}, which the plan does not contain",
                field=config_field,
                resource=_component_record(context, str(component)),
            )
            continue
        actions = alarm.inputs.get("alarmActions") or []
        if topic is None or topic not in actions:
            yield Finding(
                f"{component}: the alarm {alarm_name} of failure mode '{key}' does not notify the stack's alerts "
                f"topic (its actions: {actions or 'none'})",
                field=config_field,
                resource=alarm,
            )
