"""Exceptions as code: time-boxed, owned, ticketed waivers in ``policies/exceptions/<env>.yaml``.

File format (validated with pydantic; every problem is reported with its position)::

    exceptions:
      - policy: s3-access-logging          # policy name (required)
        resource: "landing-bucket"          # URN, or a glob on the logical name or URN (required)
        reason: "Log bucket of another account receives these logs"   # required, >= 10 chars
        owner: "ml-platform"                # required
        ticket: "SEC-1234"                  # required
        expires: 2026-06-30                 # ISO date, required; expired exceptions stop waiving

How the pack finds the file: every policy's config has the property ``exceptionsFile`` (a path
relative to the pack directory, ``policies/``), which ``policies/config/<env>.json`` sets to
``exceptions/<env>.yaml`` for every policy. ``pulumi preview --policy-pack-config
policies/config/prod.json`` therefore brings the exceptions with it.

Semantics:

- an active exception waives a violation: the policy does not report it; the advisory
  ``policy-exceptions`` policy reports it as *waived*, with the exception's details;
- an expired exception waives nothing: the violation is reported and says the exception expired;
- an exception for a non-waivable policy (residency) is refused: the violation is reported and
  says so.

"Today" is :func:`datetime.date.today`, overridden by :func:`set_today` or the environment
variable ``BLUEPRINT_POLICIES_TODAY`` (ISO date) for tests.
"""

from __future__ import annotations

import datetime
import fnmatch
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


def _default_pack_dir() -> Path:
    """The current directory when it is a pack (the engine and ``blueprint`` start the pack there), else the
    ``policies/`` pack of the nearest project at or above it, else the current directory."""
    here = Path.cwd()
    for directory in (here, *here.parents):
        for candidate in (directory, directory / "policies"):
            if (candidate / "PulumiPolicy.yaml").is_file():
                return candidate
    return here


PACK_DIR = _default_pack_dir()
"""The pack directory (``policies/``): relative exception paths are resolved against it. The pack's entry
point (``policies/__main__.py``) sets it to its own directory; defaults to :func:`_default_pack_dir`."""

TODAY_ENV = "BLUEPRINT_POLICIES_TODAY"
"""Environment variable that overrides today's date (ISO), for tests."""

WAIVED_MARKER = "waived-violation: "
"""Prefix of the JSON line in a ``policy-exceptions`` diagnostic that describes a waived violation."""

_today_override: datetime.date | None = None


def set_today(value: datetime.date | None) -> None:
    """Override today's date for expiry checks (``None`` restores the real date)."""
    global _today_override
    _today_override = value


def today() -> datetime.date:
    """Today's date: the override, else ``BLUEPRINT_POLICIES_TODAY``, else the real date."""
    if _today_override is not None:
        return _today_override
    env = os.environ.get(TODAY_ENV)
    if env:
        return datetime.date.fromisoformat(env)
    return datetime.date.today()


class PolicyException(BaseModel):
    """One waiver of one policy for the resources its selector matches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: str = Field(min_length=1)
    """Name of the waived policy. Required."""
    resource: str = Field(min_length=1)
    """A URN (exact), or a glob matched against the logical name and the URN. Required."""
    reason: str = Field(min_length=10)
    """Why the violation is acceptable, at least 10 characters. Required."""
    owner: str = Field(min_length=1)
    """Team or person accountable for the waiver. Required."""
    ticket: str = Field(min_length=1)
    """Tracking ticket of the remediation. Required."""
    expires: datetime.date
    """Last day the waiver applies (ISO date). Required: exceptions are always time-boxed."""

    def matches(self, urn: str | None, name: str | None) -> bool:
        """Whether the selector covers the resource (stack-level violations match ``stack``)."""
        if urn is None:
            return self.resource in {"stack", "*"}
        if self.resource.startswith("urn:"):
            return fnmatch.fnmatchcase(urn, self.resource)
        return fnmatch.fnmatchcase(name or "", self.resource) or fnmatch.fnmatchcase(urn, self.resource)

    def to_json(self) -> dict[str, str]:
        """The ``exception`` object of a violation record in the plan document."""
        return {"reason": self.reason, "owner": self.owner, "ticket": self.ticket, "expires": self.expires.isoformat()}


class ExceptionsFile(BaseModel):
    """The whole ``policies/exceptions/<env>.yaml`` document."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    exceptions: list[PolicyException] = Field(default_factory=list)
    """The waivers. Defaults to none."""


class ExceptionsFileError(ValueError):
    """The exceptions file is missing or does not validate; ``problems`` has one line per error."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


def parse_exceptions(document: Any, path: Path = Path("<memory>")) -> ExceptionsFile:
    """Validate a parsed YAML document; raise :class:`ExceptionsFileError` naming each bad field."""
    if document is None:
        return ExceptionsFile()
    try:
        return ExceptionsFile.model_validate(document)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            problems.append(f"{where}: {error['msg']}")
        raise ExceptionsFileError(path, problems) from None


_cache: dict[tuple[str, float], ExceptionsFile] = {}
_cache_lock = threading.Lock()


def load_exceptions(path_text: str | None) -> ExceptionsFile:
    """Load (and cache by modification time) the exceptions file named by a policy's config.

    ``None`` or an empty string means no exceptions. A relative path is resolved against
    :data:`PACK_DIR`. Raises :class:`ExceptionsFileError` for a missing or invalid file.
    """
    if not path_text:
        return ExceptionsFile()
    path = Path(path_text)
    if not path.is_absolute():
        path = PACK_DIR / path
    if not path.is_file():
        raise ExceptionsFileError(path, ["file not found"])
    key = (str(path), path.stat().st_mtime)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ExceptionsFileError(path, [f"not valid YAML: {exc}"]) from None
    parsed = parse_exceptions(document, path)
    with _cache_lock:
        _cache[key] = parsed
    return parsed


@dataclass(frozen=True)
class Decision:
    """What the exceptions say about one violation."""

    waived_by: PolicyException | None = None
    expired: PolicyException | None = None
    refused: PolicyException | None = None


def decide(
    exceptions: ExceptionsFile, policy: str, urn: str | None, name: str | None, waivable: bool, on: datetime.date
) -> Decision:
    """Find the exception covering a violation and whether it waives it on date ``on``."""
    expired = refused = None
    for exception in exceptions.exceptions:
        if exception.policy != policy or not exception.matches(urn, name):
            continue
        if not waivable:
            refused = exception
            continue
        if exception.expires < on:
            expired = exception
            continue
        return Decision(waived_by=exception)
    return Decision(expired=expired, refused=refused)


@dataclass(frozen=True)
class WaivedViolation:
    """A violation an active exception waived; reported by the ``policy-exceptions`` policy."""

    policy: str
    urn: str | None
    message: str
    exception: PolicyException

    def to_message(self) -> str:
        """The diagnostic text: a readable line, then a JSON line the CLI parses."""
        where = self.urn or "the stack"
        payload = {
            "policy": self.policy,
            "urn": self.urn,
            "message": self.message,
            "exception": self.exception.to_json(),
        }
        return (
            f"waived '{self.policy}' for {where} until {self.exception.expires.isoformat()} "
            f"(ticket {self.exception.ticket}, owner {self.exception.owner}): {self.exception.reason}\n"
            f"{WAIVED_MARKER}{json.dumps(payload, sort_keys=True)}"
        )


_waived: dict[tuple[str, str | None], list[WaivedViolation]] = {}
"""Waived violations by (policy, URN), in the order they were first recorded."""
_waived_lock = threading.Lock()


def record_waived(item: WaivedViolation) -> None:
    """Remember a waived violation until the ``policy-exceptions`` stack policy reports it."""
    with _waived_lock:
        _waived.setdefault((item.policy, item.urn), []).append(item)


def forget_waived(policy: str, urn: str | None) -> None:
    """Drop what ``policy`` recorded for ``urn`` so far: it is judging the resource again, and the latest judgement
    stands (a plan re-sends a resource it streamed before the program changed it, or a call a failed stream left
    unanswered; the engine's preview judges each resource once)."""
    if (policy, urn) not in _waived:  # nearly always (no waiver recorded): no lock; only this call records this key
        return
    with _waived_lock:
        _waived.pop((policy, urn), None)


def drain_waived() -> list[WaivedViolation]:
    """Take every waived violation recorded since the last drain (one preview per drain)."""
    with _waived_lock:
        items = [item for recorded in _waived.values() for item in recorded]
        _waived.clear()
    return items
