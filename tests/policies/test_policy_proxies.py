"""Lazy unknown-checking proxies behave as ``pulumi_policy``'s eager ones (issue 17, goal 4).

Every observable read (keys, lengths, values by key, index, negative index and slice, the ``UnknownValueError``
path and message, object identity on a second read), serialization and writes are compared on generated
property values with unknowns at any depth, against ``pulumi_policy.proxy.unknown_checking_proxy`` itself.
"""

from __future__ import annotations

import contextlib
import copy
import enum
from typing import Any, cast

from hybrid_ai_platform.policies.proxies import _LazyDictProxy, behaviour, lazy_unknown_checking_proxy
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi_policy import proxy as pulumi_proxy
from pulumi_policy.deserialize import serialize_properties
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE

eager = pulumi_proxy.unknown_checking_proxy

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.text(max_size=3),
    st.sampled_from([UNKNOWN_STRING_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_ARRAY_VALUE]),
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=3) | st.just("__target"), children, max_size=4)
    ),
    max_leaves=25,
)
properties = st.dictionaries(st.text(max_size=4), values, max_size=5)


@settings(max_examples=300, deadline=None)
@given(properties)
def test_every_read_and_serialization_is_the_eager_proxys(props: dict[str, Any]) -> None:
    assert behaviour(lazy_unknown_checking_proxy(copy.deepcopy(props))) == behaviour(eager(copy.deepcopy(props)))
    assert serialize_properties(lazy_unknown_checking_proxy(copy.deepcopy(props))) == serialize_properties(
        eager(copy.deepcopy(props))
    )


def _write_everywhere(proxied: Any, depth: int = 0) -> None:
    """Write into every dict proxy (a new key, and through ``__target``), and through every list's ``__target``."""
    if isinstance(proxied, pulumi_proxy._DictProxy):
        for key in list(proxied):
            with contextlib.suppress(pulumi_proxy.UnknownValueError):
                _write_everywhere(proxied[key], depth + 1)
        proxied[f"added{depth}"] = {"new": depth}
        proxied["__target"][f"target{depth}"] = [depth]
    elif isinstance(proxied, pulumi_proxy._ListProxy):
        for i in range(len(proxied)):
            with contextlib.suppress(pulumi_proxy.UnknownValueError):
                _write_everywhere(proxied[i], depth + 1)
        proxied["__target"].append(depth)


@settings(max_examples=200, deadline=None)
@given(properties)
def test_writes_are_seen_as_through_the_eager_proxy_and_never_reach_the_wrapped_value(props: dict[str, Any]) -> None:
    # GIVEN one value wrapped by each proxy (the lazy one wraps it without copying)
    wrapped = copy.deepcopy(props)
    lazy, reference = lazy_unknown_checking_proxy(wrapped), eager(copy.deepcopy(props))
    # WHEN a policy writes everywhere it can, through both
    _write_everywhere(lazy)
    _write_everywhere(reference)
    # THEN both read the same afterwards, and the wrapped value (shared with other policies) is unchanged
    assert behaviour(lazy) == behaviour(reference)
    assert serialize_properties(lazy) == serialize_properties(reference)
    assert wrapped == props


def test_a_nested_value_is_wrapped_once_and_not_before_it_is_read() -> None:
    props = {"tags": {"team": "ml"}, "rules": [{"id": "a"}], "arn": UNKNOWN_STRING_VALUE}
    proxied = cast(_LazyDictProxy, lazy_unknown_checking_proxy(props))
    assert isinstance(proxied, pulumi_proxy._DictProxy)
    assert proxied._wrapped == {}  # nothing wrapped before a read
    tags = proxied["tags"]
    assert isinstance(tags, pulumi_proxy._DictProxy) and proxied["tags"] is tags
    assert list(proxied._wrapped) == ["tags"]
    assert isinstance(proxied["rules"], pulumi_proxy._ListProxy) and proxied["rules"][0]["id"] == "a"
    try:
        proxied["arn"]
    except pulumi_proxy.UnknownValueError as exc:
        assert exc.props == ["arn"] and "can't be known during preview" in exc.message
    else:
        raise AssertionError("an unknown value was read without UnknownValueError")


def test_a_write_while_iterating_fails_as_with_the_eager_proxy() -> None:
    for make in (eager, lazy_unknown_checking_proxy):
        proxied = make({"a": 1, "b": {"c": 2}})
        try:
            for key in proxied:
                proxied[f"{key}_x"] = 1
        except RuntimeError as exc:
            assert "changed size during iteration" in str(exc)
        else:
            raise AssertionError(f"{make.__name__}: a write while iterating went on")


def test_a_shallow_copy_shares_the_proxys_dict_as_with_the_eager_proxy() -> None:
    results = []
    for make in (eager, lazy_unknown_checking_proxy):
        proxied = make({"a": {"b": 1}})
        clone = copy.copy(proxied)
        clone["new"] = 2
        results.append((sorted(proxied), proxied["new"], clone["a"] is proxied["a"]))
    assert results[0] == results[1] == (["a", "new"], 2, True)


class _Key(str, enum.Enum):  # noqa: UP042 - str() of this key is "_Key.TAGS", not the value
    TAGS = "tags"


def test_an_unknown_under_a_key_read_with_an_equal_key_of_another_type_names_the_dicts_key() -> None:
    paths = []
    for make in (eager, lazy_unknown_checking_proxy):
        proxied = make({"tags": {"owner": UNKNOWN_STRING_VALUE}})
        try:
            proxied[_Key.TAGS]["owner"]
        except pulumi_proxy.UnknownValueError as exc:
            paths.append(exc.props)
    assert paths == [["tags", "owner"], ["tags", "owner"]]


def test_errors_name_the_classes_as_the_eager_proxy_does() -> None:
    messages = []
    for make in (eager, lazy_unknown_checking_proxy):
        try:
            make({"a": 1}).pop("a")
        except AttributeError as exc:
            messages.append(str(exc))
    assert messages[0] == messages[1] == "'_DictProxy' object has no attribute 'pop'"
