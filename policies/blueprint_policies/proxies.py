"""Unknown-checking property proxies that wrap a resource's nested values when a policy reads them.

``pulumi_policy`` hands each policy a resource's properties wrapped by ``unknown_checking_proxy``, which raises
``UnknownValueError`` (naming the property path) when a policy reads a value that is not known during a preview.
It builds the whole wrapper tree before the policy runs (``proxy._proxy_helper``: a proxy and a copied path list
for every nested dict and list), for every policy and every resource: in ``AnalyzeStack`` every stack policy
gets every resource's tree, although most of them read a few resource types only. On the 1,808-resource
benchmark stack that construction is about 40 % of the pack's time.

:func:`lazy_unknown_checking_proxy` gives the same proxies (subclasses of ``pulumi_policy``'s ``_DictProxy`` and
``_ListProxy``, so ``serialize_properties`` and ``isinstance`` checks treat them alike) with the same observable
behaviour, but wraps a nested value the first time it is read and keeps it, so reading it again gives the same
object. ``proxy["__target"]`` (the escape hatch ``serialize_properties`` uses) gives the proxy's own container of
wrapped values, as the eager one does; from then on, like a write or an iteration, the proxy reads and writes
that container (so a write while iterating fails as it does with the eager proxy). The dicts and lists it wraps are
never written and never handed out, so through its containers a proxy never changes what another policy reads
(:mod:`.conversions` relies on that to share one deserialized dict of plain data between policies). Nested values
are named in ``UnknownValueError`` paths by the dict's own key, and the classes are named as the ones they stand in
for, so a policy's errors read the same.
:func:`behaviour` describes what a policy can observe through a proxy; :mod:`.conversions` installs the lazy
proxy only when the two give the same description on a sample, and the tests compare them on generated values.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from typing import Any

from pulumi_policy.proxy import UnknownValueError, _DictProxy, _ListProxy, _raise_if_unknown

TARGET = "__target"
"""The key that gives a proxy's own container (``pulumi_policy.proxy``)."""


def _wrap(value: Any, path: list[str]) -> Any:
    if isinstance(value, list):
        return _LazyListProxy(value, path)
    if isinstance(value, dict):
        return _LazyDictProxy(value, path)
    return value


class _LazyDictProxy(_DictProxy):
    """A ``_DictProxy`` of ``target`` whose values are wrapped when first read."""

    def __init__(self, target: dict[str, Any], props_acc: list[str]) -> None:
        self._target = target
        self._path = props_acc
        self._wrapped: dict[Any, Any] = {}
        self._own: dict[Any, Any] | None = None

    def _child(self, key: Any) -> Any:
        if self._own is not None:
            return self._own[key]
        if key in self._wrapped:
            return self._wrapped[key]
        value = self._target[key]
        if type(key) is not str:  # the path names the dict's own key (an equal key of another type reads it too)
            key = next(k for k in self._target if k == key)
        wrapped = self._wrapped[key] = _wrap(value, [*self._path, str(key)])
        return wrapped

    def _materialized(self) -> dict[Any, Any]:
        if self._own is None:
            self._own = {key: self._child(key) for key in self._target}
        return self._own

    def __getitem__(self, key: Any) -> Any:
        if key == TARGET:
            return self._materialized()
        return _raise_if_unknown(key, self._child(key), self._path)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._materialized()[key] = value

    def __len__(self) -> int:
        return len(self._own if self._own is not None else self._target)

    def __iter__(self) -> Iterator[Any]:
        # over the proxy's own dict, so that a write while iterating fails as it does with the eager proxy
        return iter(self._materialized())

    def __copy__(self) -> _LazyDictProxy:
        # a shallow copy shares the proxy's dict, as a copy of the eager proxy does
        self._materialized()
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        return clone


class _LazyListProxy(_ListProxy):
    """A ``_ListProxy`` of ``target`` whose items are wrapped when first read."""

    def __init__(self, target: list[Any], props_acc: list[str]) -> None:
        self._target = target
        self._path = props_acc
        self._wrapped: dict[int, Any] = {}
        self._own: list[Any] | None = None

    def _child(self, index: int) -> Any:
        if index not in self._wrapped:
            self._wrapped[index] = _wrap(self._target[index], [*self._path, str(index)])
        return self._wrapped[index]

    def _materialized(self) -> list[Any]:
        if self._own is None:
            self._own = [self._child(i) for i in range(len(self._target))]
        return self._own

    def __getitem__(self, key: Any) -> Any:
        if key == TARGET:
            return self._materialized()
        if self._own is not None:
            return _raise_if_unknown(key, self._own[key], self._path)
        if isinstance(key, slice):
            return [self._child(i) for i in range(*key.indices(len(self._target)))]
        self._target[key]  # the list's own IndexError or TypeError for a key it refuses
        index = operator.index(key)
        return _raise_if_unknown(key, self._child(index + len(self._target) if index < 0 else index), self._path)

    def __len__(self) -> int:
        return len(self._own if self._own is not None else self._target)

    def __copy__(self) -> _LazyListProxy:
        self._materialized()
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        return clone


# Named as the classes they stand in for, so that a policy's errors (``'_DictProxy' object has no attribute 'pop'``)
# read the same.
_LazyDictProxy.__name__ = _LazyDictProxy.__qualname__ = "_DictProxy"
_LazyListProxy.__name__ = _LazyListProxy.__qualname__ = "_ListProxy"


def lazy_unknown_checking_proxy(props: dict[str, Any]) -> Any:
    """``pulumi_policy.proxy.unknown_checking_proxy(props)``, wrapping nested values as they are read."""
    return _wrap(props, [])


MISSING = "no such key"


def behaviour(value: Any, depth: int = 0) -> Any:
    """What a policy can observe by reading a proxied value: keys and lengths, every value read by key, index,
    negative index and slice, ``in`` and ``get`` (a key present and one absent), the ``UnknownValueError`` (path and
    message) a read raises, and whether reading again gives the same object."""
    if depth > 64:
        return "..."
    if isinstance(value, _DictProxy):
        entries = []
        for key in list(value):
            entries.append((repr(key), _read(value, key, depth), _contains(value, key)))
        absent = (_read(value, MISSING, depth), _contains(value, MISSING), value.get(MISSING, "default"))
        return ("dict", type(value).__name__, len(value), entries, absent, _again(value, list(value)))
    if isinstance(value, _ListProxy):
        size = len(value)
        reads = [_read(value, i, depth) for i in range(size)]
        ends = [_read(value, -1, depth), _read(value, size, depth)] if size else [_read(value, 0, depth)]
        window = value[0 : min(size, 2)] if size else []
        sliced = [behaviour(v, depth + 1) for v in window]
        return ("list", type(value).__name__, size, reads, ends, sliced, _again(value, list(range(size))))
    if isinstance(value, dict):  # a proxy's own dict (``__target``)
        return ("plain dict", [(repr(k), behaviour(v, depth + 1)) for k, v in value.items()])
    if isinstance(value, list):
        return ("plain list", [behaviour(v, depth + 1) for v in value])
    return ("value", repr(value))


def _contains(value: Any, key: Any) -> Any:
    try:
        return key in value
    except UnknownValueError as exc:
        return ("unknown", exc.props)


def _read(value: Any, key: Any, depth: int) -> Any:
    try:
        return behaviour(value[key], depth + 1)
    except UnknownValueError as exc:
        return ("unknown", exc.unknown_type_sentinel, exc.props, exc.message)
    except (KeyError, IndexError, TypeError) as exc:
        return ("error", type(exc).__name__, str(exc))


def _again(value: Any, keys: list[Any]) -> list[bool]:
    same = []
    for key in keys:
        try:
            child = value[key]
        except UnknownValueError:
            continue
        if isinstance(child, _DictProxy | _ListProxy):
            same.append(value[key] is child)
    return same
