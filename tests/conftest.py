"""Shared fixtures: offline plans of the shipped stacks, synthesized once per session."""

from __future__ import annotations

import functools

import pytest
from hypothesis import settings

from hybrid_ai_platform.cli.synth import Plan, synthesize

SHIPPED_STACKS = ("dev", "staging", "prod")

# Property tests assert what holds for every generated input, never how fast one example runs: Hypothesis's
# default 200 ms deadline per example turns a loaded CI machine into a failure (seen at load average 14).
settings.register_profile("blueprint", deadline=None)
settings.load_profile("blueprint")


@functools.cache
def shipped_plan(stack: str) -> Plan:
    """The plan of a shipped stack (cached: synthesis runs once per stack per session)."""
    return synthesize(stack)


@pytest.fixture(params=SHIPPED_STACKS)
def any_stack_plan(request: pytest.FixtureRequest) -> Plan:
    """Each shipped stack's plan in turn."""
    return shipped_plan(request.param)


@pytest.fixture
def prod_plan() -> Plan:
    """The prod stack's plan."""
    return shipped_plan("prod")


@pytest.fixture
def dev_plan() -> Plan:
    """The dev stack's plan."""
    return shipped_plan("dev")


PLACED_THRESHOLD = 10_000
"""``transactions``' size threshold in :func:`placed_prod_plan` (set, so tests do not restate the derivation;
the shipped samples, 2,829 and 21,523 bytes, fall on both sides of it)."""


@functools.cache
def placed_prod_plan() -> Plan:
    """prod with ``transactions`` on ``auto`` (threshold :data:`PLACED_THRESHOLD`) and ``transactions-backfill``
    on ``cluster`` (on the system nodes): one synthesis covers both placements, shared by the component tests
    and the system test of ``auto`` (cached per process)."""
    import copy

    preprocessing = copy.deepcopy(shipped_plan("prod").config["hybrid-ai-platform:preprocessing"])
    functions = {f["name"]: f for f in preprocessing["functions"]}
    functions["transactions"].update(
        placement="auto", size_threshold_bytes=PLACED_THRESHOLD, worker={"image_tag": "2026-11-28.1"}
    )
    functions["transactions-backfill"].update(
        placement="cluster", worker={"image_tag": "2026-11-28.1", "capacity": "system"}
    )
    return synthesize("prod", overrides={"hybrid-ai-platform:preprocessing": preprocessing})
