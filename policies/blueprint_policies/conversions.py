"""One property conversion per message and analyzer call, instead of one per policy.

``pulumi_policy``'s analyzer servicer converts a resource's properties from the protobuf ``Struct`` the
engine sends to a dict (``json_format.MessageToDict``) inside its loop over the policies: for every policy,
for every resource. With this pack's 47 resource policies an ``Analyze`` call converts the same properties
(and the same provider's) 47 times, and ``AnalyzeStack`` converts every resource once per stack policy (18);
the conversion is pure Python and is nearly all of the pack's time (pulumi_policy 1.21, ``policy.py``
``Analyze``, ``AnalyzeStack`` and ``_get_provider_resource``).

:func:`share_property_conversions` makes each ``Analyze`` and ``AnalyzeStack`` call convert each message
once, and deserialize each converted dict once: within the call, a message converted before hands back the same
dict, and that dict deserialized before the same deserialized dict. That is safe because ``pulumi_policy``
passes the converted dict only to ``deserialize_properties``, which reads it and builds new dicts and lists, and
passes what that returns only to ``unknown_checking_proxy``, whose proxies never hand a policy one of the dicts
and lists they wrap nor write into them (both checked on the installed version before anything is shared; the
equivalence test runs the pack with and without sharing on the prod plan's requests and compares every answer).
A deserialized dict is shared only when it holds plain data (strings, numbers, booleans, None): an asset or
archive object could be changed in place by one policy, so a resource with one is deserialized for each policy,
as ``pulumi_policy`` ships. Nothing is kept between calls, and calls on other threads (the analyzer serves four at
once) have their own memo.

Within those calls, policies also get :mod:`.proxies`' lazy unknown-checking proxies instead of the eager ones
``pulumi_policy`` builds for every policy and resource, when the two behave alike on a sample (checked at
start-up). Every other use (``Configure``, ``Remediate``) is unchanged.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable
from typing import Any

from .proxies import TARGET

_local = threading.local()


class _SharedJsonFormat:
    """Stands in for ``json_format`` inside ``pulumi_policy.policy``: ``MessageToDict`` of a message
    already converted in the current analyzer call (with default options) returns the first result;
    everything else is the real module."""

    def __init__(self, json_format: Any) -> None:
        self._json_format = json_format

    def __getattr__(self, name: str) -> Any:
        return getattr(self._json_format, name)

    def MessageToDict(self, message: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N802 - the module's name
        if args or kwargs:
            return self._json_format.MessageToDict(message, *args, **kwargs)
        return _once(self._json_format.MessageToDict, message)


def _once(convert: Callable[[Any], Any], value: Any) -> Any:
    """``convert(value)``, or inside an analyzer call what it returned for the same ``value`` object before."""
    memo: dict[tuple[int, int], tuple[Any, Any]] | None = getattr(_local, "memo", None)
    if memo is None:
        return convert(value)
    key = (id(convert), id(value))
    seen = memo.get(key)
    if seen is not None and seen[0] is value:  # the memo holds the value: its id is not reused
        return seen[1]
    converted = convert(value)
    memo[key] = (value, converted)
    return converted


def _plain_data(value: Any) -> bool:
    """Whether ``value`` holds only dicts, lists, strings, numbers, booleans and None (no asset or archive object,
    which a policy could change in place)."""
    if isinstance(value, dict):
        return all(_plain_data(v) for v in value.values())
    if isinstance(value, list):
        return all(_plain_data(v) for v in value)
    return value is None or isinstance(value, str | int | float)


def _shared_deserialization(deserialize: Callable[..., Any]) -> Callable[..., Any]:
    """Stands in for ``pulumi_policy.policy.deserialize_properties``: a dict deserialized before in the current
    analyzer call (with default options) gives the first result, unless that holds an asset or archive object
    (each policy then gets its own, as it ships)."""

    def deserialize_plain(props: Any) -> Any:
        result = deserialize(props)
        return result if _plain_data(result) else None

    @functools.wraps(deserialize)
    def deserialize_properties(props: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:
            return deserialize(props, *args, **kwargs)
        shared = _once(deserialize_plain, props)
        return shared if shared is not None else deserialize(props)

    deserialize_properties.__shared_within_calls__ = True  # type: ignore[attr-defined]
    return deserialize_properties


def _one_conversion_per_call(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: Any, request: Any, context: Any) -> Any:
        if getattr(_local, "memo", None) is not None:  # already inside a call on this thread
            return method(self, request, context)
        _local.memo = {}
        try:
            return method(self, request, context)
        finally:
            _local.memo = None

    call.__wrapped_for_shared_conversions__ = True  # type: ignore[attr-defined]
    return call


def _deserialization_reads_only(deserialize: Callable[..., Any] | None) -> bool:
    """Whether ``pulumi_policy``'s ``deserialize_properties`` leaves the dict it is given as it was, and returns new
    containers (what sharing the converted dict relies on), on the installed version: checked on a sample with a
    nested map, a list, a secret and an asset."""
    if deserialize is None:
        return False
    from pulumi_policy.deserialize import SPECIAL_ASSET_SIG, SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY

    sample = {
        "tags": {"team": "ml"},
        "rules": [{"id": "a", "ports": [1, 2]}],
        "token": {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": {"k": ["v"]}},
        "code": {SPECIAL_SIG_KEY: SPECIAL_ASSET_SIG, "text": "print()"},
    }
    before = copy.deepcopy(sample)
    try:
        result = deserialize(sample)
    except Exception:
        return False
    return bool(sample == before and result["tags"] is not sample["tags"] and result["rules"] is not sample["rules"])


def _containers(value: Any) -> list[Any]:
    """Every dict and list in ``value``, itself included, through ``pulumi_policy``'s proxies (read by key and
    through ``__target``)."""
    from pulumi_policy.proxy import _DictProxy, _ListProxy

    if isinstance(value, _DictProxy):
        return [*_containers(value[TARGET]), *(c for key in value for c in _containers(value[key]))]
    if isinstance(value, _ListProxy):
        return [*_containers(value[TARGET]), *(c for i in range(len(value)) for c in _containers(value[i]))]
    if isinstance(value, dict):
        return [value, *(c for v in value.values() for c in _containers(v))]
    if isinstance(value, list):
        return [value, *(c for v in value for c in _containers(v))]
    return []


def _proxying_copies(proxy: Callable[..., Any] | None) -> bool:
    """Whether ``proxy`` (``unknown_checking_proxy``) never hands a policy a dict or list of what it wraps, nor writes
    into them (what sharing a deserialized dict between policies relies on), on the installed version."""
    if proxy is None:
        return False
    sample: dict[str, Any] = {"tags": {"team": "ml"}, "rules": [{"id": "a", "ports": [1, 2]}], "empty": {}}
    before = copy.deepcopy(sample)
    try:
        originals = {id(c) for c in _containers(sample)}
        proxied = proxy(sample)
        exposed = any(id(c) in originals for c in _containers(proxied))
        proxied["tags"]["team"] = "changed"
        proxied["rules"][0]["id"] = "changed"
        proxied[TARGET]["empty"] = "changed"
    except Exception:
        return False
    return not exposed and sample == before


def _lazy_proxies_equivalent(eager: Callable[..., Any] | None) -> bool:
    """Whether :func:`.proxies.lazy_unknown_checking_proxy` behaves as the installed ``unknown_checking_proxy``
    (``eager``) on a sample with unknowns in maps and lists, nested and empty containers, and serializes alike."""
    if eager is None:
        return False
    from pulumi_policy.deserialize import serialize_properties
    from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE

    from .proxies import behaviour, lazy_unknown_checking_proxy

    sample: dict[str, Any] = {
        "name": "bucket",
        "arn": UNKNOWN_STRING_VALUE,
        "tags": {"team": "ml", "owner": UNKNOWN_STRING_VALUE},
        "rules": [{"id": "a", "ports": [1, UNKNOWN_NUMBER_VALUE]}, [], {}, UNKNOWN_STRING_VALUE, None],
        "empty": {},
    }
    try:
        same = behaviour(eager(copy.deepcopy(sample))) == behaviour(lazy_unknown_checking_proxy(copy.deepcopy(sample)))
        serialized = serialize_properties(eager(copy.deepcopy(sample)))
        return bool(same and serialized == serialize_properties(lazy_unknown_checking_proxy(copy.deepcopy(sample))))
    except Exception:
        return False


def _proxy_within_calls(lazy: Callable[..., Any], eager: Callable[..., Any]) -> Callable[..., Any]:
    """Stands in for ``pulumi_policy.policy.unknown_checking_proxy``: the lazy proxy inside an analyzer call, the
    installed one elsewhere (``Remediate``)."""

    @functools.wraps(eager)
    def unknown_checking_proxy(props: Any) -> Any:
        return lazy(props) if getattr(_local, "memo", None) is not None else eager(props)

    unknown_checking_proxy.__shared_within_calls__ = True  # type: ignore[attr-defined]
    return unknown_checking_proxy


def share_property_conversions() -> bool:
    """Convert each message, and deserialize each converted dict, once per ``Analyze``/``AnalyzeStack`` call in this
    process (see the module).

    Returns whether it is in effect: false, with nothing changed, when the installed ``pulumi_policy``
    does not have the shape this was written against (a ``json_format`` module reference, an
    ``_PolicyAnalyzerServicer`` with both methods, a ``deserialize_properties`` that reads its argument only), so
    another version runs as it ships. Lazy proxies are used only when they behave as its ``unknown_checking_proxy``
    on a sample; deserializations are shared only when the proxy policies get never hands out or writes into what it
    wraps (else each policy deserializes, as it ships). Calling it again changes nothing more.
    """
    from pulumi_policy import policy

    servicer = getattr(policy, "_PolicyAnalyzerServicer", None)
    json_format = getattr(policy, "json_format", None)
    if servicer is None or json_format is None or not hasattr(json_format, "MessageToDict"):
        return False
    deserialize = getattr(policy, "deserialize_properties", None)
    if getattr(deserialize, "__shared_within_calls__", False):
        deserialize = getattr(deserialize, "__wrapped__", None)
    if not _deserialization_reads_only(deserialize):
        return False
    eager = getattr(policy, "unknown_checking_proxy", None)
    if getattr(eager, "__shared_within_calls__", False):
        eager = getattr(eager, "__wrapped__", None)
    from .proxies import lazy_unknown_checking_proxy

    lazy = lazy_unknown_checking_proxy if _lazy_proxies_equivalent(eager) else None
    share_deserialized = _proxying_copies(lazy or eager)
    methods: dict[str, Callable[..., Any]] = {}
    for name in ("Analyze", "AnalyzeStack"):
        method = getattr(servicer, name, None)
        if not callable(method):
            return False
        methods[name] = method
    if not isinstance(json_format, _SharedJsonFormat):
        setattr(policy, "json_format", _SharedJsonFormat(json_format))  # noqa: B010 - replaces a module
    if share_deserialized and deserialize is policy.deserialize_properties:
        policy.deserialize_properties = _shared_deserialization(deserialize)
    if lazy is not None and eager is not None and eager is policy.unknown_checking_proxy:
        policy.unknown_checking_proxy = _proxy_within_calls(lazy, eager)
    for name, method in methods.items():
        if not getattr(method, "__wrapped_for_shared_conversions__", False):
            setattr(servicer, name, _one_conversion_per_call(method))
    return True
