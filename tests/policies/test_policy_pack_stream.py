"""``PolicyPackProcess.stream``: resources analyzed while the program registers them (issue 17, goal 4).

The engine sends each resource to the analyzer as its registration arrives; the CLI does the same while the
stack program runs, and the final analysis of the plan document reuses a streamed diagnostic only for a
resource (and provider) equal to the one the plan shows, under the same configuration.
"""

from __future__ import annotations

import copy
import queue
import threading
from typing import Any

import pytest

from hybrid_ai_platform.cli.analyzer import PolicyPackProcess, load_policy_config
from hybrid_ai_platform.cli.analyzer.config import engine_config
from hybrid_ai_platform.cli.synth import PROJECT_ROOT
from tests.conftest import shipped_plan


def _log_group_document() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A two-resource dev document (a log group and its provider), the log group and the provider."""
    document = copy.deepcopy(shipped_plan("dev").to_json())
    log_group = next(r for r in document["resources"] if r["name"] == "cluster-control-plane-logs")
    provider = next(r for r in document["resources"] if r["urn"] == log_group["provider"].rsplit("::", 1)[0])
    document["resources"] = [provider, log_group]
    return document, log_group, provider


def _untagged(resource: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(resource)
    del changed["inputs"]["tags"]
    return changed


def _stack_config(document: dict[str, Any]) -> dict[str, str]:
    return engine_config(document["config"])


class _Counting:
    """Counts the ``Analyze`` calls a pack process makes, by thread."""

    def __init__(self, pack: PolicyPackProcess, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: dict[str, int] = {}
        for sender in ("_call", "_start"):  # waiting for the answer, or not (the stream pipelines its calls)
            monkeypatch.setattr(pack, sender, self._counted(getattr(pack, sender)))

    def _counted(self, send: Any) -> Any:
        def counted(method: str, request: Any) -> Any:
            if method == "Analyze":
                name = threading.current_thread().name
                self.calls[name] = self.calls.get(name, 0) + 1
            return send(method, request)

        return counted


def _tags_required(section: dict[str, Any]) -> list[str]:
    return [v["message"] for v in section["violations"] if v["policy"] == "tags-required"]


def test_streamed_diagnostics_are_reused_only_for_the_resources_the_plan_shows_unchanged(
    pack_process: PolicyPackProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    document, log_group, provider = _log_group_document()
    config, config_file = load_policy_config("dev", PROJECT_ROOT)
    expected = pack_process.analyze(document, "dev", config, config_file)
    counting = _Counting(pack_process, monkeypatch)
    # GIVEN the log group streamed without its tags (as a program might register it and then differ), its
    # provider streamed as the plan shows it
    items = [(provider, None, None), (_untagged(log_group), provider, None)]
    pack_process.stream(iter(items), document["project"], "dev", _stack_config(document), config)
    # WHEN the plan document (tags present) is analyzed
    section = pack_process.analyze(document, "dev", config, config_file)
    # THEN the result is the document's own: the untagged version's findings are not reused, the log group is
    # analyzed again and the provider is not
    assert section == expected
    assert _tags_required(section) == []
    assert counting.calls == {"MainThread": 3}  # the stream's two calls, then the changed log group again
    # AND the other way round: streamed as the plan shows it, then the plan drops its tags: the findings appear
    pack_process.stream(
        iter([(log_group, provider, None)]), document["project"], "dev", _stack_config(document), config
    )
    untagged_document = dict(document, resources=[provider, _untagged(log_group)])
    assert len(_tags_required(pack_process.analyze(untagged_document, "dev", config, config_file))) == 5


def test_a_stream_under_another_policy_config_is_not_reused(
    pack_process: PolicyPackProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    document, log_group, provider = _log_group_document()
    config, config_file = load_policy_config("dev", PROJECT_ROOT)
    # GIVEN resources streamed under a config that turns the tag policy off
    disabled = {**config, "tags-required": {**config.get("tags-required", {}), "enforcementLevel": "disabled"}}
    untagged = dict(document, resources=[provider, _untagged(log_group)])
    pack_process.stream(
        iter([(provider, None, None), (untagged["resources"][1], provider, None)]),
        document["project"],
        "dev",
        _stack_config(document),
        disabled,
    )
    counting = _Counting(pack_process, monkeypatch)
    # WHEN the plan is analyzed under the stack's config, THEN the pack is configured again and every resource
    # is analyzed again: the missing tags are reported
    section = pack_process.analyze(untagged, "dev", config, config_file)
    assert len(_tags_required(section)) == 5
    assert counting.calls == {"MainThread": 2}


def test_calls_sent_by_the_producer_are_collected_as_the_streams_own(
    pack_process: PolicyPackProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a stream whose producer sends the log group's call itself once the pack is configured (as the
    # plan's program thread does), and leaves its provider's to the stream
    document, log_group, provider = _log_group_document()
    config, config_file = load_policy_config("dev", PROJECT_ROOT)
    expected = pack_process.analyze(document, "dev", config, config_file)
    offered: queue.SimpleQueue[Any] = queue.SimpleQueue()
    stream = threading.Thread(
        target=pack_process.stream,
        args=(iter(offered.get, None), document["project"], "dev", _stack_config(document), config),
        name="stream",
    )
    counting = _Counting(pack_process, monkeypatch)
    stream.start()
    offered.put((provider, None, None))
    assert pack_process.streaming.wait(timeout=60)
    offered.put((log_group, provider, pack_process.send(log_group, provider)))
    offered.put(None)
    stream.join()
    assert not pack_process.streaming.is_set()
    # THEN the stream sent only the provider's call, the producer's call being used as sent
    assert counting.calls == {"MainThread": 1, "stream": 1}
    # AND when the plan is analyzed, both answers are reused (no Analyze call) and the result is the same
    assert pack_process.analyze(document, "dev", config, config_file) == expected
    assert counting.calls == {"MainThread": 1, "stream": 1}


def test_waivers_of_a_streamed_version_the_plan_changed_are_not_reported(
    pack_process: PolicyPackProcess, exceptions_file: Any
) -> None:
    # GIVEN an exception waiving the log group's missing tags, and the log group streamed without them
    document, log_group, provider = _log_group_document()
    config, config_file = load_policy_config("dev", PROJECT_ROOT)
    waiver = exceptions_file(
        {
            "policy": "tags-required",
            "resource": "cluster-control-plane-logs",
            "reason": "tagged by the logging account's automation",
            "owner": "platform",
            "ticket": "OPS-2",
            "expires": "2099-12-31",
        }
    )
    for policy in ("tags-required", "policy-exceptions"):
        config[policy] = {**config.get(policy, {}), "exceptionsFile": waiver}
    expected = pack_process.analyze(document, "dev", config, config_file)
    assert expected["summary"]["excepted"] == 0
    items = [(provider, None, None), (_untagged(log_group), provider, None)]
    pack_process.stream(iter(items), document["project"], "dev", _stack_config(document), config)
    # WHEN the plan shows the log group tagged (the streamed version's waived violations no longer apply)
    section = pack_process.analyze(document, "dev", config, config_file)
    # THEN nothing is reported as excepted: the resource's latest judgement replaced the streamed one
    assert section == expected
