"""``blueprint plan`` starts the policy pack while the program synthesizes (issue 17, goal 4).

The pack's process start-up used to follow synthesis; now it overlaps it, with the same document and
the same error precedence (stack and config errors first, then pack errors).
"""

from __future__ import annotations

import copy
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import hybrid_ai_platform.cli.analyzer as analyzer
import hybrid_ai_platform.cli.main as cli
from hybrid_ai_platform.cli.plandoc import PlanDocument
from hybrid_ai_platform.cli.prcheck import add_policies_and_cost
from hybrid_ai_platform.cli.quotas import add_quotas
from hybrid_ai_platform.cli.synth import PROJECT_ROOT, synthesize
from tests.conftest import shipped_plan
from tests.plan_helpers import link_stack_program


class _Recorder:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started = threading.Event()
        self.processes: list[analyzer.PolicyPackProcess] = []
        recorder = self

        self.started_by: dict[analyzer.PolicyPackProcess, str] = {}
        """The thread that started each process (the helper's is ``policy-pack-helper``)."""
        self.started_calls: list[tuple[analyzer.PolicyPackProcess, str]] = []
        """Calls sent without waiting, with the process they went to."""
        self.analyzed: dict[str, list[str]] = {}
        """URNs sent in ``Analyze`` calls, by the name of the thread that sent them."""

        class Recording(analyzer.PolicyPackProcess):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                recorder.started.set()
                super().__init__(*args, **kwargs)
                recorder.processes.append(self)
                recorder.started_by[self] = threading.current_thread().name

            def _call(self, method: str, request: Any) -> Any:
                self._record(method, request)
                return super()._call(method, request)

            def _start(self, method: str, request: Any) -> Any:
                self._record(method, request)
                recorder.started_calls.append((self, method))
                return super()._start(method, request)

            def _record(self, method: str, request: Any) -> None:
                if method == "Analyze":
                    recorder.analyzed.setdefault(threading.current_thread().name, []).append(request.urn)

        monkeypatch.setattr(analyzer, "PolicyPackProcess", Recording)


def test_the_pack_starts_before_synthesis_ends_and_the_plan_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the stack's plan the sequential way (synthesis, then a pack started for the analysis)
    expected = PlanDocument.from_json(copy.deepcopy(shipped_plan("dev").to_json()))
    add_policies_and_cost(expected, "dev", PROJECT_ROOT)
    add_quotas(expected)
    recorder = _Recorder(monkeypatch)
    seen: dict[str, bool] = {}

    def synthesize_waiting_for_the_pack(*args: Any, **kwargs: Any) -> Any:
        # a pack started only after synthesis would never set the event while synthesis runs; then wait until it
        # is configured, so the program's threads send (on a loaded machine the program could end first)
        seen["pack_started_during_synthesis"] = recorder.started.wait(timeout=60)
        deadline = time.monotonic() + 60 if seen["pack_started_during_synthesis"] else 0
        while time.monotonic() < deadline:  # the process is appended once it is up, then configured
            if recorder.processes and recorder.processes[0].streaming.is_set():
                break
            time.sleep(0.01)
        return synthesize(*args, **kwargs)

    monkeypatch.setattr(cli, "synthesize", synthesize_waiting_for_the_pack)
    batches: list[int] = []
    hand_over = cli.EarlyPolicyPack._hand_over

    def counting_hand_over(self: cli.EarlyPolicyPack, send: bool = True) -> None:
        batches.append(len(self._batch))
        hand_over(self, send)

    monkeypatch.setattr(cli.EarlyPolicyPack, "_hand_over", counting_hand_over)
    # WHEN planned by the CLI's plan_document
    document, notes = cli.plan_document("dev", PROJECT_ROOT)
    # THEN the pack was starting while the program synthesized, the document is the same, the pack is stopped
    assert seen["pack_started_during_synthesis"] is True
    assert document == expected
    assert notes == []
    assert len(recorder.processes) == 1
    assert recorder.processes[0].process.poll() is not None
    # AND every resource was analyzed once as the program registered it (as the engine does in a preview): sent by
    # the program's threads once the pack was configured, by the pack's thread before; none again after synthesis
    # (by the final analysis's thread, policy-pack-dev_0): each resource offered was the one the plan shows
    urns = sorted(r.urn for r in document.resources)
    assert sorted(urn for sent in recorder.analyzed.values() for urn in sent) == urns
    assert not any(thread.startswith("policy-pack-dev_") for thread in recorder.analyzed)  # the final analysis
    assert set(recorder.analyzed) - {"policy-pack-dev"}  # the program's (asyncio executor) threads sent them
    # AND they were handed to the stream's thread in full batches, which the program's threads sent, then the rest
    # once the program ended, which the stream's thread sent
    full, rest = divmod(len(urns), cli.STREAM_BATCH)
    assert batches == [cli.STREAM_BATCH] * full + ([rest] if rest else [])
    assert len(recorder.analyzed.get("policy-pack-dev", [])) == rest
    assert sum(len(sent) for thread, sent in recorder.analyzed.items() if thread != "policy-pack-dev") == full * (
        cli.STREAM_BATCH
    )


def test_a_failing_synthesis_still_stops_the_early_pack(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder(monkeypatch)

    def broken_synthesis(*args: Any, **kwargs: Any) -> Any:
        recorder.started.wait(timeout=60)
        raise cli.PlanError("stacks/Pulumi.dev.yaml: broken")

    monkeypatch.setattr(cli, "synthesize", broken_synthesis)
    # WHEN synthesis fails, THEN its error comes out and no pack process is left running
    with pytest.raises(cli.PlanError, match="broken"):
        cli.plan_document("dev", PROJECT_ROOT)
    assert all(p.process.poll() is not None for p in recorder.processes)


def test_a_pack_that_cannot_start_reports_after_synthesis_as_before(tmp_path: Path) -> None:
    # GIVEN a project whose policies directory is not a pack (it has no PulumiPolicy.yaml)
    root = tmp_path / "project"
    link_stack_program(root)
    (root / "Pulumi.yaml").write_text((PROJECT_ROOT / "Pulumi.yaml").read_text())
    (root / "stacks" / "Pulumi.dev.yaml").write_text((PROJECT_ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    (root / "policies" / "config").mkdir(parents=True)
    (root / "policies" / "config" / "dev.json").write_text("{}")
    # WHEN planned, THEN the same PolicyPackError a pack started after synthesis raises
    with pytest.raises(analyzer.PolicyPackError):
        cli.plan_document("dev", root)
    # AND an unknown stack is still reported as such, not as a pack problem
    with pytest.raises(cli.PlanError, match="unknown stack"):
        cli.plan_document("nope", root)


def test_a_large_stack_starts_a_helper_process_that_shares_analyze_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the dev plan the sequential way, and a helper threshold dev's resources pass
    expected = PlanDocument.from_json(copy.deepcopy(shipped_plan("dev").to_json()))
    add_policies_and_cost(expected, "dev", PROJECT_ROOT)
    add_quotas(expected)
    recorder = _Recorder(monkeypatch)
    monkeypatch.setattr(cli, "HELPER_FROM_RESOURCES", 50)
    # (a loaded machine may take longer than the plan's 2 s to start it; this test is about sharing, not the wait)
    monkeypatch.setattr(cli, "HELPER_WAIT_SECONDS", 120.0)
    # WHEN planned by the CLI
    document, _ = cli.plan_document("dev", PROJECT_ROOT)
    # THEN a second pack process was started, ran AnalyzeStack, was stopped, and the document is the same
    assert len(recorder.processes) == 2
    helper = next(p for p, thread in recorder.started_by.items() if thread == "policy-pack-helper")
    assert (helper, "AnalyzeStack") in recorder.started_calls  # either process may be up first
    assert all(p.process.poll() is not None for p in recorder.processes)
    assert document == expected


def test_overlapping_analyses_restore_the_switch_interval_they_found() -> None:
    # GIVEN two analyses that overlap (pr-check runs stacks in threads), ending in the other order
    from hybrid_ai_platform.cli import prcheck

    before = sys.getswitchinterval()
    first, second = (prcheck._SWITCH_INTERVAL.held(lambda _: 0.0005) for _ in range(2))
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    # THEN the short interval holds while one still runs, and the original one is back after the last
    assert sys.getswitchinterval() == 0.0005
    second.__exit__(None, None, None)
    assert sys.getswitchinterval() == before


class _FakePack:
    """Stands in for a pack process: configured at once, counts the calls sent; ``fail()`` ends its stream as a failed
    call does (``streaming`` cleared)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.streaming = threading.Event()
        self.sent = 0
        self.closed = 0
        self.streamed: list[str] = []

    fail_after: int | None = None
    """Fail the stream (as its thread does on a failed answer) once this many calls were sent."""

    def send(self, resource: dict[str, Any], provider: dict[str, Any] | None) -> Any:
        self.sent += 1
        if self.sent == self.fail_after:
            self.fail()
        return object()

    def stream(self, resources: Any, *args: Any) -> None:
        self.streaming.set()
        for resource, _, _ in resources:
            self.streamed.append(resource["urn"])
        self.streaming.clear()

    def fail(self) -> None:
        self.streaming.clear()

    def close(self) -> None:
        self.closed += 1


def test_a_failed_stream_gets_no_more_calls_and_closing_twice_is_harmless(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN an early pack whose process is configured
    monkeypatch.setattr(analyzer, "PolicyPackProcess", _FakePack)
    pack = cli.EarlyPolicyPack("dev", PROJECT_ROOT)
    deadline = time.monotonic() + 60
    while pack._process is None or not pack._process.streaming.is_set():
        assert time.monotonic() < deadline, "the fake pack was never configured"
        time.sleep(0.01)
    process = pack._process
    resources = [{"urn": f"urn:pulumi:dev::p::t::r{i}"} for i in range(cli.STREAM_BATCH * 2 + 5)]
    # WHEN the stream fails in the middle of the second batch's calls
    process.fail_after = cli.STREAM_BATCH + 8
    for resource in resources:
        pack.offer(resource, None)
    # THEN no call was sent after the failure
    assert process.sent == cli.STREAM_BATCH + 8
    # AND closing twice stops the process once per close, and leaves no stream thread running
    pack.close()
    pack.close()
    assert pack._thread is not None and not pack._thread.is_alive()
    assert process.closed == 1  # the second close finds nothing left to stop
