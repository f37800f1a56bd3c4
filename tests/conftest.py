"""Shared fixtures: offline plans of the shipped stacks, synthesized once per session."""

from __future__ import annotations

import functools

import pytest

from hybrid_ai_platform.cli.synth import Plan, synthesize

SHIPPED_STACKS = ("dev", "staging", "prod")


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
