"""EventBridge numeric matching on ``detail.object.size``, and whether size-split rules partition the sizes.

``placement: auto`` (docs/placement.md) sends an S3 ``Object Created`` event to one of two rules by object
size. EventBridge's numeric matching
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html) takes
``{"numeric": [op, value]}`` or a range ``{"numeric": [op, value, op, value]}`` with the operators ``<``,
``<=``, ``=``, ``>``, ``>=``; the conditions of a range must all hold, and the entries of a field's array
are alternatives (any one matches). It matches JSON numbers only. S3 sends ``detail.object.size`` as a
number of bytes (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html).

:func:`matching_rules` answers "which rules match an object of this size", :func:`partition_problems`
"do these rules together cover every size exactly once" (no gap, no overlap). Sizes are whole bytes, so
checking 0, every bound and its neighbours, and a size above every bound visits every region the bounds
cut the sizes into.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

OPERATORS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
MAX_OBJECT_BYTES = 10_000 * 5 * 2**30
"""S3's largest object: 10,000 parts of at most 5 GiB, "48.8 TiB" (it was 5 TiB;
https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html)."""
DOCUMENTED_NUMERIC_MAX = 5_000_000_000
"""EventBridge documents numeric matching for values between -5.0e9 and +5.0e9 inclusive
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html,
"Numeric matching"). Its open-source matcher, aws/event-ruler, refused such numbers until 1.8.0
(2024-09, "Improve Numeric matching to support full range of float64"; 1.7.5 widened it to +-5.0e11): an
event value outside the range was matched as a string, so no ``numeric`` condition matched it
(``ByteMachine.transitionOn``). Which matcher EventBridge runs is not documented, so beyond this value a
size rule may match nothing (``legacy=True`` below)."""

SizeCondition = list[Any] | None
"""A rule's ``detail.object.size`` array (alternatives), or None when the rule does not constrain the size."""


def numeric_matches(condition: Sequence[Any], value: Any, *, legacy: bool = False) -> bool:
    """Whether an EventBridge ``numeric`` condition (``[op, n]`` or ``[op, n, op, n]``) matches ``value``.

    ``legacy`` (defaults to False: any float64 compares): a value outside +-:data:`DOCUMENTED_NUMERIC_MAX`
    matches no condition, as in event-ruler before 1.8.0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if legacy and not -DOCUMENTED_NUMERIC_MAX <= value <= DOCUMENTED_NUMERIC_MAX:
        return False
    if len(condition) not in (2, 4):
        raise ValueError(f"numeric condition {list(condition)} must be [op, n] or [op, n, op, n]")
    for op, bound in zip(condition[::2], condition[1::2], strict=True):
        if op not in OPERATORS or isinstance(bound, bool) or not isinstance(bound, int | float):
            raise ValueError(f"numeric condition {list(condition)}: {op!r} {bound!r} is not an operator and a number")
        if not OPERATORS[op](value, bound):
            return False
    return True


def size_matches(size_condition: SizeCondition, size: int, *, legacy: bool = False) -> bool:
    """Whether a rule's ``detail.object.size`` array matches an object of ``size`` bytes (``legacy``: see
    :func:`numeric_matches`).

    None (the rule names no size) matches every size; an entry other than ``{"numeric": [...]}`` or an exact
    number is not understood and raises ``ValueError``."""
    if size_condition is None:
        return True
    for entry in size_condition:
        if isinstance(entry, Mapping) and set(entry) == {"numeric"}:
            if numeric_matches(entry["numeric"], size, legacy=legacy):
                return True
        elif isinstance(entry, int | float) and not isinstance(entry, bool):
            if entry == size and not (legacy and size > DOCUMENTED_NUMERIC_MAX):
                return True
        else:
            raise ValueError(f"detail.object.size entry {entry!r} is not a numeric condition")
    return False


def size_condition(pattern: Mapping[str, Any]) -> SizeCondition:
    """The ``detail.object.size`` array of an event pattern, or None when it has none."""
    detail = pattern.get("detail")
    obj = detail.get("object") if isinstance(detail, Mapping) else None
    size = obj.get("size") if isinstance(obj, Mapping) else None
    return list(size) if isinstance(size, list) else None


def matching_rules(patterns: Mapping[str, Mapping[str, Any]], size: int, *, legacy: bool = False) -> list[str]:
    """Names of the rules (name → event pattern) whose size condition matches an object of ``size`` bytes
    (``legacy``: see :func:`numeric_matches`)."""
    return [name for name, pattern in patterns.items() if size_matches(size_condition(pattern), size, legacy=legacy)]


def undocumented_gaps(patterns: Mapping[str, Mapping[str, Any]]) -> list[int]:
    """Probe sizes above :data:`DOCUMENTED_NUMERIC_MAX` that no rule matches when EventBridge matches numbers only
    within the documented range (``legacy``): objects that may be routed nowhere."""
    sizes = [s for s in probe_sizes(patterns) if s > DOCUMENTED_NUMERIC_MAX] + [DOCUMENTED_NUMERIC_MAX + 1]
    return sorted({s for s in sizes if not matching_rules(patterns, s, legacy=True)})


def _bounds(condition: SizeCondition) -> list[float]:
    values: list[float] = []
    for entry in condition or []:
        if isinstance(entry, Mapping):
            values += [b for b in list(entry.get("numeric") or [])[1::2] if isinstance(b, int | float)]
        elif isinstance(entry, int | float):
            values.append(entry)
    return values


def probe_sizes(patterns: Mapping[str, Mapping[str, Any]]) -> list[int]:
    """Sizes that visit every region the rules' bounds cut ``[0, MAX_OBJECT_BYTES]`` into."""
    sizes = {0, MAX_OBJECT_BYTES}
    for pattern in patterns.values():
        for bound in _bounds(size_condition(pattern)):
            for whole in (math.floor(bound), math.ceil(bound)):
                sizes.update(s for s in (whole - 1, whole, whole + 1) if 0 <= s <= MAX_OBJECT_BYTES)
    return sorted(sizes)


def partition_problems(patterns: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """What is wrong with rules meant to split one prefix's objects by size: sizes no rule matches (a gap: the
    object is never processed) and sizes several rules match (an overlap: processed twice, on both paths)."""
    problems = []
    try:
        by_size = [(size, matching_rules(patterns, size)) for size in probe_sizes(patterns)]
    except ValueError as exc:
        return [str(exc)]
    gaps = [size for size, rules in by_size if not rules]
    overlaps = [(size, rules) for size, rules in by_size if len(rules) > 1]
    if gaps:
        problems.append(f"no rule matches objects of {gaps[0]} bytes (a gap: such objects are never processed)")
    if overlaps:
        size, rules = overlaps[0]
        problems.append(
            f"objects of {size} bytes match {len(rules)} rules ({', '.join(rules)}): each would be processed twice"
        )
    return problems
