"""The observability plane's vocabulary: metrics, failure modes and SLOs, declared by the components as data.

Each component that can fail in production declares, next to its resources, *what* it emits
(:class:`Metric`: namespace, name and the exact dimension set the emitting code writes) and *how* it
fails (:class:`FailureMode`: a meaning, a first response, the config field that decides its alarm, and
the :class:`AlarmRule` or :class:`BurnRateSlo` that detects it, or None when the config turned the
alarm off). :class:`~hybrid_ai_platform.components.alarms.Alarms`
turns the declarations into CloudWatch alarms, composite
alarms and one dashboard; the stack exports them (``failure_modes``, ``slos``) and the
``system-alarm-coverage`` check (``blueprint/checks/alarm_coverage.py``) fails a plan in which a
declared failure mode has no alarm routed to the stack's topic.

CloudWatch matches a metric by namespace, name and the *exact* dimension set: an alarm that names
a subset of the dimensions watches a metric that never has data
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#Dimension).
So a :class:`Metric` always carries every dimension the emitter writes, and the contract tests
(``tests/components/test_metric_contracts.py``) run the emitting code and compare.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi

Comparison = Literal[
    "GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"
]
MissingData = Literal["breaching", "notBreaching", "ignore", "missing"]


@dataclass(frozen=True)
class Metric:
    """A metric as its emitter writes it to CloudWatch."""

    namespace: str
    """CloudWatch namespace (``AWS/Lambda``, ``HybridAiPlatform/Preprocessing``, ...). Required."""
    name: str
    """Metric name. Required."""
    dimensions: Mapping[str, pulumi.Input[str]]
    """The exact dimension set (names and values) the emitter writes. Required."""
    unit: str | None = None
    """Unit the emitter uses, for the dashboard's axis label. Defaults to none."""

    def with_dimensions(self, **dimensions: pulumi.Input[str]) -> Metric:
        """The same metric with other dimension values (same names)."""
        return Metric(self.namespace, self.name, {**self.dimensions, **dimensions}, self.unit)


@dataclass(frozen=True)
class AlarmRule:
    """When a single metric breaches."""

    metric: Metric
    """The metric watched. Required."""
    statistic: str
    """``Sum``, ``Maximum``, ``Average``, ``SampleCount``, ``Minimum`` or an extended statistic (``p99``). Required."""
    comparison: Comparison
    """How the statistic is compared with ``threshold``. Required."""
    threshold: float
    """The threshold. Required."""
    period: int = 300
    """Seconds per datapoint. Defaults to 300."""
    evaluation_periods: int = 1
    """Datapoints evaluated (all must breach). Defaults to 1."""
    treat_missing_data: MissingData = "notBreaching"
    """Missing data. Defaults to ``notBreaching``: an idle component is healthy. A freshness alarm uses
    ``breaching``: silence is the failure."""
    summed_with: tuple[Metric, ...] = ()
    """Further metrics added to ``metric`` before the comparison (metric math ``FILL(m, 0)`` summed),
    e.g. every function that writes one feature set. Defaults to none."""
    subtracted: tuple[Metric, ...] = ()
    """Metrics subtracted from that sum before the comparison (``FILL(m, 0)`` each), e.g. the events two
    rules matched taken from the events a third matched. Defaults to none."""

    @property
    def metrics(self) -> tuple[Metric, ...]:
        """Every metric the rule reads (the added ones first, then :attr:`subtracted`)."""
        return (self.metric, *self.summed_with, *self.subtracted)


@dataclass(frozen=True)
class QueryRule:
    """When a CloudWatch Metrics Insights query breaches: for metrics whose dimension values are only known at
    run time, such as a GPU node's instance id (alarms on Metrics Insights queries:
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Create_Metrics_Insights_Alarm.html)."""

    query: pulumi.Input[str]
    """A ``SELECT ...`` returning one time series. Required."""
    comparison: Comparison
    """How the query's value is compared with ``threshold``. Required."""
    threshold: float
    """The threshold. Required."""
    metric: Metric
    """The metric the query reads, with the dimension names of its schema (for the contract tests). Required."""
    period: int = 300
    """Seconds per datapoint. Defaults to 300."""
    evaluation_periods: int = 1
    """Datapoints evaluated (all must breach). Defaults to 1."""


@dataclass(frozen=True)
class BurnWindow:
    """One window pair of a multi-window, multi-burn-rate alert (Google SRE workbook, chapter 5)."""

    name: str
    """``fast`` (pages on a sudden outage) or ``slow`` (catches a steady leak). Required."""
    long_seconds: int
    """The long window: the burn rate over it says the budget is really being spent. Required."""
    short_seconds: int
    """The short window (1/12 of the long): it says the burn is still going on, so the alert resets
    quickly after a fix. Required."""
    budget_fraction: float
    """Share of the whole SLO window's error budget that, spent within ``long_seconds``, fires the alert
    (2% in 1 h, 5% in 6 h). Required."""

    def burn_rate(self, slo_window_days: int) -> float:
        """The burn-rate threshold: budget fraction x SLO window / long window (14.4 for 2% in 1 h of 30 days)."""
        return round(self.budget_fraction * slo_window_days * 86400 / self.long_seconds, 4)


BURN_WINDOWS = (
    BurnWindow("fast", 3600, 300, 0.02),
    BurnWindow("slow", 21600, 1800, 0.05),
)
"""The workbook's two pairs: 2% of the budget in 1 h (5 min short window) and 5% in 6 h (30 min
short window), i.e. burn rates 14.4 and 6 for a 30-day SLO
(https://sre.google/workbook/alerting-on-slos/, "Multiwindow, Multi-Burn-Rate Alerts")."""


@dataclass(frozen=True)
class BurnRateSlo:
    """An SLO alerted on by its error-budget burn rate: bad events / all events, over the error budget."""

    sli: str
    """``availability`` or ``latency``. Required."""
    objective: float
    """Target share of good events (0.999). Required."""
    window_days: int
    """The SLO's rolling window. Required."""
    total: Metric
    """All events (requests), summed. Required."""
    bad: Metric
    """Bad events (5xx answers, or answers slower than the latency target), summed. Required."""
    description: str
    """What the objective promises, in words. Required."""

    @property
    def error_budget(self) -> float:
        """The share of events allowed to be bad: ``1 - objective``."""
        return 1 - self.objective


@dataclass(frozen=True)
class FailureMode:
    """One way a component fails, and how the plane detects it."""

    component: str
    """The component, as ``<kind>/<name>`` (``pipeline/transactions``, ``model/fraud-scorer``). Required."""
    key: str
    """Short id, unique within the component (``dlq-not-empty``). Required."""
    meaning: str
    """What it means when the alarm fires. Required."""
    first_response: str
    """What the on-call engineer does first. Required."""
    field: str
    """The stack-config field that decides the alarm (its threshold, or the switch that turned it off). Required."""
    detector: AlarmRule | QueryRule | BurnRateSlo | None
    """How it is detected; None when the config turned the alarm off (a blocking finding of the
    alarm-coverage check). Required."""

    @property
    def alarm_name(self) -> str:
        """Logical name of the alarm that notifies the topic: ``alerts-<pipeline>-<key>`` for a pipeline (the
        names its first alarms had), ``alerts-<kind>-<name>-<key>`` for every other component."""
        kind, name = self.component.split("/", 1)
        return f"alerts-{name}-{self.key}" if kind == "pipeline" else f"alerts-{kind}-{name}-{self.key}"

    def record(self) -> dict[str, str | None]:
        """The plan record of the declaration (stack output ``failure_modes``), read by the alarm-coverage check."""
        return {
            "component": self.component,
            "failure_mode": self.key,
            "field": self.field,
            "alarm": self.alarm_name if self.detector is not None else None,
            "meaning": self.meaning,
        }


@dataclass(frozen=True)
class Widget:
    """A dashboard graph: a title and the metrics it plots (with the statistic to plot each with)."""

    title: str
    metrics: Sequence[tuple[Metric, str]]
    """``(metric, statistic)`` pairs. Required."""
    width: int = 8
    """Grid columns out of 24. Defaults to 8 (three per row)."""


@dataclass(frozen=True)
class DashboardRow:
    """A dashboard row: one component's widgets under a title."""

    title: str
    widgets: Sequence[Widget] = field(default_factory=tuple)
    search_widgets: Sequence[tuple[str, str]] = field(default_factory=tuple)
    """``(title, SEARCH expression)`` pairs, for metrics whose dimension values are only known at run
    time (a GPU node's instance id). Defaults to none."""
