"""A synthesis does not walk the Python stack for each resource (issue 17, goal 4): the plan has no use for the
source positions the SDK collects for the engine's messages."""

from __future__ import annotations

import contextlib
import traceback
from pathlib import Path

import pulumi
import pytest
from pulumi.runtime import resource as pulumi_resource

from hybrid_ai_platform.cli.synth import no_source_positions, record_program


def _program() -> None:
    pulumi.CustomResource("test:index:Thing", "first", {"size": 1})
    pulumi.CustomResource("test:index:Thing", "second", {"size": 2})


def test_a_recorded_program_registers_without_stack_walks_and_the_sdk_is_restored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    walks: list[int] = []
    real_extract = traceback.extract_stack

    def counting_extract(*args: object, **kwargs: object) -> traceback.StackSummary:
        walks.append(1)
        return real_extract(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pulumi_resource.traceback, "extract_stack", counting_extract)
    original = pulumi_resource._get_stack_trace
    # GIVEN the SDK walks the stack once per registration outside a plan
    pulumi_resource._get_stack_trace()
    assert walks == [1]
    walks.clear()
    # WHEN a program is recorded
    recording = record_program(_program, project="p", stack="s", config={}, root=tmp_path)
    # THEN both resources are recorded with their inputs, no stack was walked, and the SDK's function is back
    things = {r.name: r.inputs for r in recording.monitor.recorded.values() if r.type == "test:index:Thing"}
    assert things == {"first": {"size": 1}, "second": {"size": 2}}
    assert walks == []
    assert pulumi_resource._get_stack_trace is original


def test_overlapping_blocks_restore_the_sdk_after_the_last_one() -> None:
    original = pulumi_resource._get_stack_trace
    with contextlib.ExitStack() as outer:
        outer.enter_context(no_source_positions())
        with contextlib.ExitStack() as inner:
            inner.enter_context(no_source_positions())
            outer.pop_all().close()  # the first block ends while the second still runs
            assert pulumi_resource._get_stack_trace is not original
            assert list(pulumi_resource._get_stack_trace().frames) == []
    assert pulumi_resource._get_stack_trace is original
