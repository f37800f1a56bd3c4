"""Helpers for reading engine properties: unknowns, nested paths, tags and IAM documents.

During ``pulumi preview`` a value that depends on an unknown output is an *unknown*;
``pulumi_policy`` raises :class:`pulumi_policy.proxy.UnknownValueError` when such a value is
read. Base classes turn that into "not applicable" for resource policies; stack policies read
each resource inside :func:`skip_unknown` so one unknown value skips one resource, not the
whole policy.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy.proxy import UnknownValueError

UNKNOWN_SENTINELS = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
        "030794c1-ac77-496b-92df-f27374a8bd58",
        "e48ece36-62e2-4504-bad9-02848725956a",
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
    }
)
"""The engine's sentinels for values not known during preview."""


class Unknown(Exception):  # noqa: N818 - reads as "the value is unknown"
    """A value needed by a policy is not known yet (preview)."""

    def __init__(self, path: str) -> None:
        super().__init__(f"{path} is not known until the update runs")
        self.path = path


def get(props: Mapping[str, Any] | None, path: str, default: Any = None) -> Any:
    """Read ``a.b.0.c`` from engine properties; ``default`` when absent.

    Raises :class:`Unknown` when the value (or a parent) is unknown during preview.
    """
    current: Any = props
    for part in path.split("."):
        try:
            if current is None:
                return default
            if isinstance(current, Mapping):
                if part not in current:
                    return default
                current = current[part]
            elif isinstance(current, Sequence) and not isinstance(current, str):
                if not part.isdigit():
                    return default
                index = int(part)
                if index >= len(current):
                    return default
                current = current[index]
            else:
                return default
        except UnknownValueError:
            raise Unknown(path) from None
        if isinstance(current, str) and current in UNKNOWN_SENTINELS:
            raise Unknown(path)
    return plain(current, path)


def plain(value: Any, path: str = "value") -> Any:
    """A deep copy as plain dicts/lists; raises :class:`Unknown` if anything inside is unknown."""
    try:
        if isinstance(value, str):
            if value in UNKNOWN_SENTINELS:
                raise Unknown(path)
            return value
        if isinstance(value, Mapping):
            return {str(k): plain(value[k], f"{path}.{k}") for k in value}
        if isinstance(value, Sequence):
            return [plain(value[i], f"{path}.{i}") for i in range(len(value))]
    except UnknownValueError:
        raise Unknown(path) from None
    return value


@contextlib.contextmanager
def skip_unknown() -> Iterator[None]:
    """Skip the rest of a block when it reads an unknown value (stack policies, per resource)."""
    with contextlib.suppress(Unknown, UnknownValueError):
        yield


def truthy(value: Any) -> bool:
    """Engine booleans may arrive as bools or the strings ``"true"``/``"false"``."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def as_list(value: Any) -> list[Any]:
    """A list for a scalar-or-list IAM field."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def policy_document(value: Any, path: str = "policy") -> dict[str, Any] | None:
    """Parse an IAM/resource policy (JSON string or object); ``None`` when absent or not JSON."""
    value = plain(value, path)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return value if isinstance(value, dict) else None


def statements(document: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The statements of a policy document, always as a list of dicts."""
    if not document:
        return []
    return [s for s in as_list(document.get("Statement")) if isinstance(s, dict)]


def principals_are_public(principal: Any) -> bool:
    """Whether a statement's Principal is everyone (``*`` or ``{"AWS": "*"}``)."""
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any(p == "*" for p in as_list(principal.get("AWS")))
    return False


def wildcard_match(value: str, patterns: list[str]) -> bool:
    """Case-sensitive ``*``/``?`` wildcard match against any pattern."""
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


def urn_name(urn: str) -> str:
    """The logical name at the end of a URN."""
    return urn.rsplit("::", 1)[-1]
