"""``share_property_conversions``: the pack converts a message's properties once per analyzer call, with the
same answers (issue 17, goal 4).

The pack's real analyzer servicer (``pulumi_policy``'s) and its real policies are driven in-process with the
requests the CLI sends for the shipped prod plan, once as ``pulumi_policy`` ships and once with sharing, and
every response is compared byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf import empty_pb2, json_format
from hybrid_ai_platform.policies import PACK_NAME
from hybrid_ai_platform.policies.conversions import share_property_conversions
from hybrid_ai_platform.policies.framework import pack_policies
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel, policy
from pulumi_policy import proxy as pulumi_proxy
from pulumi_policy.deserialize import SPECIAL_ARCHIVE_SIG, SPECIAL_ASSET_SIG

from hybrid_ai_platform.cli.analyzer import configure_request, reconcile_config, stack_policy_config
from hybrid_ai_platform.cli.analyzer.encoding import _analyze_request, _provider_of, _stack_resource
from hybrid_ai_platform.cli.synth import PROJECT_ROOT
from tests.conftest import shipped_plan


def _requests() -> tuple[list[Any], Any]:
    """The Analyze requests (one per resource, with its provider) and the AnalyzeStack request of prod."""
    resources = shipped_plan("prod").to_json()["resources"]
    by_urn = {r["urn"]: r for r in resources}
    analyze = [_analyze_request(r, _provider_of(r, by_urn)) for r in resources]
    stack = analyzer_pb2.AnalyzeStackRequest(resources=[_stack_resource(r, by_urn) for r in resources])
    return analyze, stack


def _servicer() -> Any:
    """The pack's analyzer servicer with its policies, configured with prod's policy config as the CLI sends it."""
    servicer = policy._PolicyAnalyzerServicer(PACK_NAME, "1.0.0", list(pack_policies()), EnforcementLevel.MANDATORY)
    config, _ = stack_policy_config("prod", dict(shipped_plan("prod").config), PROJECT_ROOT)
    info = servicer.GetAnalyzerInfo(empty_pb2.Empty(), None)
    servicer.Configure(configure_request(reconcile_config(info, config)), None)
    return servicer


def _answers(analyze: list[Any], stack: Any, conversions: list[int]) -> list[bytes]:
    """Every answer of a freshly configured servicer; ``conversions`` counts those of the analyzer calls only."""
    servicer = _servicer()
    conversions[0] = conversions[1] = 0
    responses = [servicer.Analyze(request, None) for request in analyze] + [servicer.AnalyzeStack(stack, None)]
    return [r.SerializeToString(deterministic=True) for r in responses]


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the real ``MessageToDict`` conversions (and, in ``[1]``, the real deserializations of properties
    without an asset or archive); the sharing is undone after the test."""
    count = [0, 0]
    real = json_format.MessageToDict
    real_deserialize = policy.deserialize_properties

    def counting(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return real(*args, **kwargs)

    def counting_deserialize(*args: Any, **kwargs: Any) -> Any:
        count[1] += not _holds_asset(args[0])
        return real_deserialize(*args, **kwargs)

    monkeypatch.setattr(json_format, "MessageToDict", counting)
    monkeypatch.setattr(policy, "deserialize_properties", counting_deserialize)
    for name in ("json_format", "unknown_checking_proxy"):
        monkeypatch.setattr(policy, name, getattr(policy, name))
    for method in ("Analyze", "AnalyzeStack"):
        monkeypatch.setattr(policy._PolicyAnalyzerServicer, method, getattr(policy._PolicyAnalyzerServicer, method))
    return count


def _holds_asset(converted: Any) -> bool:
    """Whether converted properties hold an asset or an archive (the engine's signatures)."""
    text = repr(converted)
    return SPECIAL_ASSET_SIG in text or SPECIAL_ARCHIVE_SIG in text


def test_sharing_gives_every_answer_unchanged_with_one_conversion_per_message(conversions: list[int]) -> None:
    analyze, stack = _requests()
    resources = len(analyze)
    with_provider = sum(1 for r in analyze if r.HasField("provider"))
    with_assets = sum(_holds_asset(json_format.MessageToDict(r.properties)) for r in analyze)
    assert with_assets > 0  # prod's functions ship code archives: each policy deserializes those as it ships
    # GIVEN the answers of pulumi_policy as it ships, which converts and deserializes per policy
    shipped = _answers(analyze, stack, conversions)
    assert min(conversions) > 10 * (resources + with_provider)  # per policy: the waste being removed
    # WHEN the pack shares conversions within a call
    assert share_property_conversions() is True
    shared = _answers(analyze, stack, conversions)
    # THEN every Analyze and AnalyzeStack answer is byte for byte the same
    assert shared == shipped
    # AND each Analyze converted its properties and its provider's once, and AnalyzeStack each resource's
    # properties and provider's once; those without an asset or archive were deserialized once too
    expected = [2 * (resources + with_provider), 2 * (resources + with_provider - with_assets)]
    assert conversions == expected
    # AND calling it again changes nothing more
    assert share_property_conversions() is True
    assert _answers(analyze, stack, conversions) == shipped
    assert conversions == expected


def test_nothing_is_kept_between_calls(conversions: list[int]) -> None:
    # GIVEN sharing, and one request analyzed twice (two calls)
    analyze, _ = _requests()
    share_property_conversions()
    servicer = _servicer()
    request = next(r for r in analyze if r.HasField("provider"))
    servicer.Analyze(request, None)
    conversions[0] = 0
    servicer.Analyze(request, None)
    # THEN the second call converts again (no memo outlives a call), and outside a call nothing is shared
    assert conversions[0] == 2
    first = policy.json_format.MessageToDict(request.properties)
    assert policy.json_format.MessageToDict(request.properties) is not first


def test_another_pulumi_policy_shape_is_left_as_it_ships(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a pulumi_policy whose servicer is not where this was written against
    monkeypatch.delattr(policy, "_PolicyAnalyzerServicer")
    original: Callable[..., Any] = policy.json_format.MessageToDict
    # THEN sharing is not in effect and nothing changed
    assert share_property_conversions() is False
    assert policy.json_format.MessageToDict is original


def test_a_deserializer_that_changes_its_argument_is_not_given_shared_dicts(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a pulumi_policy whose deserialize_properties writes into the dict it is given (sharing would leak
    # one policy's view into the next)
    real = policy.deserialize_properties

    def writes(props: dict[str, Any], *args: Any) -> Any:
        props.setdefault("seen", True)
        return real(props, *args)

    monkeypatch.setattr(policy, "deserialize_properties", writes)
    original: Callable[..., Any] = policy.json_format.MessageToDict
    # THEN sharing is not in effect and nothing changed
    assert share_property_conversions() is False
    assert policy.json_format.MessageToDict is original


def test_a_proxy_that_shares_containers_is_not_given_shared_deserializations(
    monkeypatch: pytest.MonkeyPatch, conversions: list[int]
) -> None:
    # GIVEN a pulumi_policy whose unknown_checking_proxy hands policies the deserialized dict itself (a policy
    # writing into it would change what the next policy sees, were the dict shared)
    monkeypatch.setattr(policy, "unknown_checking_proxy", lambda props: props)
    analyze, _ = _requests()
    request = next(r for r in analyze if r.HasField("provider"))
    # WHEN sharing is set up and a resource analyzed
    assert share_property_conversions() is True
    servicer = _servicer()
    conversions[0] = conversions[1] = 0
    servicer.Analyze(request, None)
    # THEN conversions are shared (two: properties and provider) but every policy deserialized its own, and the
    # proxy, which lazy proxies do not behave as, is left as it is
    assert conversions[0] == 2
    assert conversions[1] > 10 * 2
    assert policy.unknown_checking_proxy({"a": {}}) == {"a": {}}


def test_policies_get_lazy_proxies_within_analyzer_calls_only(conversions: list[int]) -> None:
    # GIVEN sharing, and a policy recording the type of the properties it is given
    from hybrid_ai_platform.policies.proxies import _LazyDictProxy

    assert share_property_conversions() is True
    seen: list[type] = []
    analyze, _ = _requests()
    servicer = _servicer()
    real = policy.ResourceValidationArgs

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append(type(args[1]))
        return real(*args, **kwargs)

    policy.ResourceValidationArgs = recording  # type: ignore[misc,assignment]
    try:
        servicer.Analyze(analyze[1], None)
    finally:
        policy.ResourceValidationArgs = real  # type: ignore[misc]
    # THEN inside Analyze the policies read lazy proxies; outside a call (Remediate) the proxy is pulumi_policy's
    assert seen and set(seen) == {_LazyDictProxy}
    assert type(policy.unknown_checking_proxy({"a": {}})) is pulumi_proxy._DictProxy


def test_a_policy_changing_an_archive_in_place_is_not_seen_by_the_next(conversions: list[int]) -> None:
    # GIVEN sharing, and two policies: the first changes the function's code archive object in place
    from pulumi_policy import Policy, ResourceValidationPolicy

    from hybrid_ai_platform.cli.analyzer.encoding import to_struct

    assert share_property_conversions() is True
    seen: list[str] = []

    def changes(args: Any, report: Any) -> None:
        seen.append(args.props["code"].path)
        args.props["code"].path = "changed"

    def reads(args: Any, report: Any) -> None:
        seen.append(args.props["code"].path)

    policies: list[Policy] = [
        ResourceValidationPolicy("changes", "d", changes),
        ResourceValidationPolicy("reads", "d", reads),
    ]
    servicer = policy._PolicyAnalyzerServicer("pack", "1.0.0", policies, EnforcementLevel.ADVISORY)
    request = analyzer_pb2.AnalyzeRequest(
        type="aws:lambda/function:Function",
        urn="urn:pulumi:dev::p::aws:lambda/function:Function::f",
        name="f",
        properties=to_struct({"code": {"archive": {"path": "build/function.zip"}}, "runtime": "python3.12"}),
    )
    # WHEN a resource is analyzed
    servicer.Analyze(request, None)
    # THEN the second policy read the archive as the request has it, as each policy does as pulumi_policy ships
    assert seen == ["build/function.zip", "build/function.zip"]
