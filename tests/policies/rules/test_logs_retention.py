"""logs-retention: a retention CloudWatch accepts, within the configured bounds."""

from __future__ import annotations

import pytest
from hybrid_ai_platform.policies.testing import UNKNOWN, resource_args

from tests.policies.rules.support import assert_waived, check

NAME = "logs-retention"


def _group(days: object = 90, config: dict | None = None):
    props = {} if days is None else {"retentionInDays": days}
    return resource_args("aws:cloudwatch/logGroup:LogGroup", props, name="lg", config=config)


@pytest.mark.parametrize("days", [1, 14, 90, 365, 3653])
def test_accepted_retention_passes(days: int) -> None:
    assert check(NAME, _group(days)).passed


@pytest.mark.parametrize("days", [None, 0])
def test_forever_fails(days: object) -> None:
    assert check(NAME, _group(days)).messages == ["log group 'lg' keeps events forever (no retentionInDays)"]


def test_value_cloudwatch_rejects_fails() -> None:
    assert "not a value CloudWatch Logs accepts" in check(NAME, _group(100)).messages[0]


def test_bounds_from_config() -> None:
    assert check(NAME, _group(14, {"minDays": 30})).messages == ["log group 'lg' keeps events 14 days; at least 30"]
    assert check(NAME, _group(731, {"maxDays": 400})).messages == ["log group 'lg' keeps events 731 days; at most 400"]


def test_not_applicable_to_other_types_and_unknown_values() -> None:
    assert check(NAME, resource_args("aws:cloudwatch/metricAlarm:MetricAlarm", {})).not_applicable
    assert check(NAME, _group(UNKNOWN)).not_applicable


def test_exception_waives(exceptions_file) -> None:
    assert_waived(NAME, lambda config: _group(None, config), exceptions_file)
