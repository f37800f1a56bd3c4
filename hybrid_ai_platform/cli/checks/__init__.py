"""System checks: the plan judged as a running system, beside the policy pack and the cost estimate.

A policy judges one resource (or the stack's resources) as the engine hands them over; a system
check judges how the parts fit together and with the world they run in: the stack's EKS version
against AWS's support calendar, and (as they are added) config against the Lambda package, a
trigger against its handler, a role against the calls its workload makes, GPU demand against
supply. Each check has a name, an id (``BP-SYS-NNN``), a one-line rationale and a remediation,
like the policies.

Results go into the plan document's ``checks`` section, which has the shape of the ``policies``
section (``checks`` metadata, ``violations`` with ``policy`` = the check's name, ``summary``), so
every renderer, ``blueprint diff`` (new and fixed findings) and the exit code treat a mandatory
finding like a mandatory policy violation. A finding also names the stack-config ``field`` that
decides it.

Adding a check: write a function ``(context) -> Iterable[Finding]`` in a module of this package,
decorate it with :func:`check`, and import the module in :data:`_MODULES`. See docs/system-checks.md.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import importlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..plandoc import PlanDocument, Resource, is_blocking

Enforcement = Literal["mandatory", "advisory"]
Severity = Literal["critical", "high", "medium", "low", "info"]

SECTION = "checks"
"""Key of the system-check section in the plan document."""
TODAY_ENV = "BLUEPRINT_TODAY"
"""Environment variable that fixes the date date-dependent checks judge against (``YYYY-MM-DD``);
unset, they use the machine's UTC date. CI and golden files set it for reproducible plans."""


class CheckInputError(ValueError):
    """A user error in what the checks were asked to judge (e.g. a malformed ``BLUEPRINT_TODAY``)."""


@dataclass(frozen=True)
class Finding:
    """One problem a check found."""

    message: str
    """What is wrong, with the values that make it wrong."""
    field: str | None = None
    """The stack-config field (dotted path, e.g. ``cluster.kubernetes_version``) that decides it."""
    resource: Resource | None = None
    """The plan resource the finding is about; None for the stack as a whole."""
    enforcement: Enforcement | None = None
    """Overrides the check's enforcement for this finding (a warning before a deadline, say)."""


@dataclass(frozen=True)
class CheckContext:
    """What a check judges: the plan document (typed), the project directory and the date."""

    document: PlanDocument
    root: Path
    today: datetime.date

    @property
    def project(self) -> str:
        """The Pulumi project name (the stack config namespace)."""
        return self.document.project or ""

    def config(self, section: str) -> Any:
        """The stack-config value ``<project>:<section>`` as the plan recorded it (None when absent)."""
        return self.document.stack_config(section)

    def resources(self, *types: str) -> Iterator[Resource]:
        """The plan's custom resources of the given Pulumi types, in plan order."""
        if len(types) == 1:
            yield from self._by_type.get(types[0], ())
            return
        for record in self.document.resources:
            if record.custom and record.type in types:
                yield record

    @functools.cached_property
    def _by_type(self) -> dict[str, list[Resource]]:
        """The plan's custom resources by type, in plan order (checks ask for one type at a time, often)."""
        by_type: dict[str, list[Resource]] = {}
        for record in self.document.resources:
            if record.custom:
                by_type.setdefault(record.type, []).append(record)
        return by_type


CheckFunction = Callable[[CheckContext], Iterable[Finding]]


@dataclass(frozen=True)
class Check:
    """A registered system check and its metadata."""

    name: str
    id: str
    description: str
    remediation: str
    severity: Severity
    enforcement: Enforcement
    resource_types: tuple[str, ...]
    function: CheckFunction = field(compare=False)

    def metadata(self) -> dict[str, Any]:
        """The entry in the plan's ``checks.checks`` list (the keys of a policy entry)."""
        return {
            "name": self.name,
            "id": self.id,
            "category": "system",
            "description": self.description,
            "severity": self.severity,
            "enforcement": self.enforcement,
            "remediation": self.remediation,
            "waivable": False,
            "equivalents": {},
            "resource_types": sorted(self.resource_types),
        }


CHECKS: dict[str, Check] = {}
"""Registered checks by name."""
_MODULES = (
    "alarm_coverage",
    "capacity",
    "data_chain",
    "helm_values",
    "kubernetes_schema",
    "lifecycle",
    "packages",
    "permissions",
    "reachability",
    "triggers",
)
"""Modules of this package that register checks."""


def check(
    *,
    name: str,
    id: str,
    description: str,
    remediation: str,
    severity: Severity = "high",
    enforcement: Enforcement = "mandatory",
    resource_types: Iterable[str] = (),
) -> Callable[[CheckFunction], CheckFunction]:
    """Register a system check (a decorator); names and ids must be unique."""

    def register(function: CheckFunction) -> CheckFunction:
        if name in CHECKS or any(c.id == id for c in CHECKS.values()):
            raise ValueError(f"system check {name} ({id}) is registered twice")
        CHECKS[name] = Check(name, id, description, remediation, severity, enforcement, tuple(resource_types), function)
        return function

    return register


def load_checks() -> dict[str, Check]:
    """Import every check module once and return the registry."""
    for module in _MODULES:
        importlib.import_module(f"{__name__}.{module}")
    return CHECKS


@contextlib.contextmanager
def warmed(root: Path, stack_config: Mapping[str, Any], project: str) -> Iterator[None]:
    """Start, before the program runs, the slow set-up the checks of this stack's plan will need, and stop
    what went unused on exit: the data-chain check's probe process (its imports take most of its time; see
    :func:`hybrid_ai_platform.cli.checks.data_chain.warm_probe`). ``stack_config`` is the raw stack config
    (``namespace:key`` → value) of ``project``. Findings are the same with or without it."""
    from .data_chain import warm_probe

    with warm_probe(root, stack_config, project):
        yield


def today_from_env() -> datetime.date:
    """The date checks judge against: ``BLUEPRINT_TODAY`` when set, else today's UTC date."""
    value = os.environ.get(TODAY_ENV)
    if not value:
        return datetime.datetime.now(datetime.UTC).date()
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise CheckInputError(f"{TODAY_ENV}={value!r} is not a date; use YYYY-MM-DD, or unset it") from None


def _violation(chk: Check, finding: Finding) -> dict[str, Any]:
    resource = finding.resource
    return {
        "policy": chk.name,
        "id": chk.id,
        "urn": (resource.urn or None) if resource else None,
        "resource_name": (resource.name or None) if resource else None,
        "resource_type": (resource.type or None) if resource else None,
        "field": finding.field,
        "message": finding.message,
        "severity": chk.severity,
        "enforcement": finding.enforcement or chk.enforcement,
        "remediation": chk.remediation,
        "exception": None,
    }


def run_checks(
    document: PlanDocument | Mapping[str, Any], root: Path, today: datetime.date | None = None
) -> dict[str, Any]:
    """Run every registered check over a plan document (typed, or its JSON); return its ``checks``
    section as JSON (:class:`~hybrid_ai_platform.cli.plandoc.ChecksSection` reads it)."""
    context = CheckContext(document=PlanDocument.coerce(document), root=root, today=today or today_from_env())
    checks = load_checks()
    violations = [_violation(chk, f) for chk in checks.values() for f in chk.function(context)]
    violations.sort(key=lambda v: (v["policy"], v["urn"] or "", v["message"]))
    return {
        "engine": "blueprint-system-checks",
        "as_of": context.today.isoformat(),
        "checks": [checks[name].metadata() for name in sorted(checks)],
        "violations": violations,
        "summary": {
            "mandatory": sum(1 for v in violations if is_blocking(v)),  # findings are never waived
            "advisory": sum(1 for v in violations if v["enforcement"] == "advisory"),
        },
    }
