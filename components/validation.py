"""Construction-time checks of the components' flat Args.

Each Args dataclass calls these from ``__post_init__``, so a bad value raises at once with one message
naming the Args field, the value given and what is allowed (``GpuNodeGroupArgs.max_size: 0 is below
the minimum of 1``), instead of registering a wrong resource. Wrong types raise :class:`TypeError`,
wrong values :class:`ValueError`. Output-typed (``pulumi.Input``) fields are not checked here: their
values are only known at deployment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, get_args

NAME_PATTERN = r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$"
"""Short names (models, node groups, batch jobs): lower-case DNS labels of 3 to 32 characters, usable as a
Kubernetes namespace, EKS node-group name and part of IAM role names."""
FEATURE_SET_PATTERN = r"^[a-z][a-z0-9_]{1,62}$"
"""Feature-set names: lower-case letters, digits and ``_``, 2 to 63 characters (an S3 key prefix and a
Python module name of ``lambda_src/preprocessing/feature_sets/``)."""


class ArgsError(ValueError):
    """An Args field with a value the component cannot build from."""


def _where(owner: object, field: str) -> str:
    return f"{type(owner).__name__}.{field}"


def check_type(owner: object, field: str, value: Any, kind: type | tuple[type, ...]) -> None:
    """``value`` is a ``kind`` (a bool is not an int)."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise TypeError(f"{_where(owner, field)}: {value!r} is a {type(value).__name__}, not a {names}")


def check_int(owner: object, field: str, value: Any, low: int, high: int) -> None:
    """``value`` is an int in ``[low, high]``."""
    check_type(owner, field, value, int)
    if value < low:
        raise ArgsError(f"{_where(owner, field)}: {value} is below the minimum of {low}")
    if value > high:
        raise ArgsError(f"{_where(owner, field)}: {value} is above the maximum of {high}")


def check_number(owner: object, field: str, value: Any, low: float, high: float) -> None:
    """``value`` is an int or float in ``[low, high]``."""
    check_type(owner, field, value, (int, float))
    if not low <= value <= high:
        raise ArgsError(f"{_where(owner, field)}: {value} is outside {low} to {high}")


def check_choice(owner: object, field: str, value: Any, allowed: Any) -> None:
    """``value`` is one of ``allowed`` (a ``Literal`` type or a sequence)."""
    choices = get_args(allowed) or tuple(allowed)
    if value not in choices:
        raise ArgsError(f"{_where(owner, field)}: {value!r} is not one of {', '.join(map(repr, choices))}")


def check_pattern(owner: object, field: str, value: Any, pattern: str, what: str) -> None:
    """``value`` is a string matching ``pattern`` (``what`` describes it for the message)."""
    check_type(owner, field, value, str)
    if not re.fullmatch(pattern, value):
        raise ArgsError(f"{_where(owner, field)}: {value!r} is not {what}")


def check_name(owner: object, field: str, value: Any) -> None:
    """``value`` matches :data:`NAME_PATTERN`."""
    check_pattern(owner, field, value, NAME_PATTERN, "a lower-case name of 3 to 32 letters, digits and dashes")


def check_strings(owner: object, field: str, value: Any, *, non_empty: bool = False) -> None:
    """``value`` is a sequence of strings (not a single string)."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"{_where(owner, field)}: {value!r} is a {type(value).__name__}, not a list of strings")
    bad = [v for v in value if not isinstance(v, str)]
    if bad:
        raise TypeError(f"{_where(owner, field)}: {bad!r} are not strings")
    if non_empty and not value:
        raise ArgsError(f"{_where(owner, field)}: is empty; list at least one")


def check_mapping(owner: object, field: str, value: Any) -> None:
    """``value`` is a mapping of strings to strings."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise TypeError(f"{_where(owner, field)}: {value!r} is not a mapping of strings to strings")


def check_sizes(owner: object, min_size: int, desired_size: int, max_size: int) -> None:
    """``min_size <= desired_size <= max_size`` (after each is range-checked)."""
    if not min_size <= desired_size <= max_size:
        raise ArgsError(
            f"{_where(owner, 'desired_size')}: {desired_size} must lie between min_size {min_size} and "
            f"max_size {max_size}"
        )


def fail(owner: object, field: str, problem: str) -> None:
    """Raise :class:`ArgsError` for ``field`` with ``problem``."""
    raise ArgsError(f"{_where(owner, field)}: {problem}")
