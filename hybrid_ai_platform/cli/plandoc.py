"""The plan document, typed: what ``blueprint plan --format json`` writes and ``diff`` reads.

:class:`PlanDocument` and its sections (:class:`Resource`, :class:`RuleSection` for the policy
pack's ``policies`` and the system checks' ``checks``, :class:`Violation`, :class:`CostSection`,
quotas and bootstrap) are dataclasses over the JSON of ``docs/plan-format.md``. The JSON stays
the exchange format (``data/plan.schema.json`` validates the files ``diff`` reads):
``PlanDocument.from_json(doc).to_json()`` gives back a document equal to ``doc`` key for key and
in the same key order, so ``json.dumps`` of either is byte-identical. Keys a model does not name
(a newer writer's, or an extra section such as a placement advisor's) are kept in ``extras`` and
written back where they were.

The one definition of "blocking" lives here (:func:`is_blocking`, :attr:`Violation.blocking`):
the exit code, SARIF, JUnit, Markdown and text reports all ask it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

BLOCKING_ENFORCEMENTS = frozenset({"mandatory", "remediate"})
"""Enforcement levels whose unwaived violations block a deployment. ``remediate`` is "stronger than
both" advisory and mandatory (https://github.com/pulumi/pulumi-policy#readme): a remediate
violation the engine still reports is one its remediation did not fix, and it fails the update like
a mandatory one. ``advisory`` only warns and ``disabled`` never runs."""


def is_blocking(violation: Mapping[str, Any] | Violation) -> bool:
    """Whether a violation (or system-check finding) blocks a deployment: the one definition.

    Blocking means: enforcement ``mandatory`` (or ``remediate``, see :data:`BLOCKING_ENFORCEMENTS`)
    and no exception waiving it. A waived violation never blocks, whatever its enforcement; an
    advisory one never blocks; a system check's finding follows the same rule as a policy's.
    """
    if isinstance(violation, Violation):
        return violation.blocking
    return violation.get("enforcement") in BLOCKING_ENFORCEMENTS and not violation.get("exception")


def outcome(violation: Mapping[str, Any] | Violation) -> str:
    """``blocking``, ``waived`` or ``advisory`` (anything not blocking and not waived): what every
    renderer shows (SARIF level, JUnit failure/skipped/passed, Markdown status column)."""
    raw = violation.to_json() if isinstance(violation, Violation) else violation
    if raw.get("exception"):
        return "waived"
    return "blocking" if is_blocking(raw) else "advisory"


R = TypeVar("R", bound="Record")


@dataclass
class Record:
    """A JSON object with named, typed keys; other keys kept in ``extras``, key order kept."""

    extras: dict[str, Any] = field(default_factory=dict, kw_only=True)
    """Keys this model does not name, with their values, as read."""
    key_order: tuple[str, ...] = field(default=(), kw_only=True, repr=False, compare=False)
    """The order the keys were read in (empty: the fields' order, then ``extras``)."""
    present: frozenset[str] | None = field(default=None, kw_only=True, repr=False, compare=False)
    """The named keys the JSON had (``None``: built in code; optional keys written unless ``None``)."""

    OPTIONAL: ClassVar[frozenset[str]] = frozenset()
    """Named keys written only when present (absent on read: ``None`` and not written)."""

    @classmethod
    def _named(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.name not in ("extras", "key_order", "present")]

    @classmethod
    def _convert(cls, name: str, value: Any) -> Any:
        """The typed value of key ``name`` (plain JSON unless a subclass says otherwise)."""
        return value

    @classmethod
    def from_json(cls: type[R], raw: Mapping[str, Any]) -> R:
        """The model of a JSON object (``raw`` is not modified)."""
        named = cls._named()
        values = {name: cls._convert(name, raw[name]) for name in named if name in raw}
        extras = {key: value for key, value in raw.items() if key not in named}
        return cls(
            **values,
            extras=extras,
            key_order=tuple(raw),
            present=frozenset(name for name in named if name in raw),
        )

    def _value(self, name: str) -> Any:
        value = getattr(self, name)
        if isinstance(value, Record):
            return value.to_json()
        if isinstance(value, list) and value and isinstance(value[0], Record):
            return [item.to_json() for item in value]
        return value

    def _written(self, name: str) -> bool:
        if self.present is not None:
            return name in self.present
        return name not in self.OPTIONAL or getattr(self, name) is not None

    def to_json(self) -> dict[str, Any]:
        """The JSON object (keys in the order read, new keys last)."""
        named = [name for name in self._named() if self._written(name)]
        order = [key for key in self.key_order if key in named or key in self.extras]
        order += [key for key in [*named, *self.extras] if key not in order]
        return {key: self._value(key) if key in named else self.extras[key] for key in order}


@dataclass
class Violation(Record):
    """A policy violation or a system-check finding."""

    policy: str
    urn: str | None = None
    resource_name: str | None = None
    resource_type: str | None = None
    message: str = ""
    severity: str = "unspecified"
    enforcement: str = "advisory"
    remediation: str | None = None
    exception: dict[str, Any] | None = None
    """The waiver (``reason``, ``owner``, ``ticket``, ``expires``); ``None``: not waived."""
    id: str | None = None
    """System checks only: the check's ``BP-SYS-nnn`` id."""
    field: str | None = None
    """System checks only: the stack-config field the finding is about."""

    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"id", "field"})

    @property
    def waived(self) -> bool:
        """An exception waives this violation."""
        return bool(self.exception)

    @property
    def blocking(self) -> bool:
        """Blocks a deployment (see :func:`is_blocking`)."""
        return self.enforcement in BLOCKING_ENFORCEMENTS and not self.waived


@dataclass
class RuleSection(Record):
    """The ``policies`` section (the pack's) or the ``checks`` section (the system checks')."""

    violations: list[Violation] = dataclasses.field(default_factory=list)
    summary: dict[str, int] = dataclasses.field(default_factory=dict)
    rules_key: ClassVar[str] = "policies"

    @classmethod
    def _convert(cls, name: str, value: Any) -> Any:
        if name == "violations":
            return [Violation.from_json(v) for v in value]
        return value

    @property
    def rules(self) -> list[dict[str, Any]]:
        """Metadata of every policy (or check) of the section."""
        return list(self.extras.get(self.rules_key) or [])

    @property
    def blocking(self) -> list[Violation]:
        """The section's blocking violations."""
        return [v for v in self.violations if v.blocking]


@dataclass
class PoliciesSection(RuleSection):
    """The policy pack's results: ``pack``, ``version``, ``config_file``, ``policies`` metadata."""

    rules_key: ClassVar[str] = "policies"


@dataclass
class ChecksSection(RuleSection):
    """The system checks' results: ``engine``, ``as_of``, ``checks`` metadata."""

    rules_key: ClassVar[str] = "checks"


@dataclass
class Resource(Record):
    """One resource of the program (``urn``, ``type``, ``name``, ``custom``; inputs and options in ``extras``)."""

    urn: str
    type: str
    name: str
    custom: bool = True

    @property
    def is_cloud_resource(self) -> bool:
        """Created in AWS or Kubernetes by the deploy: custom and not a provider."""
        return self.custom and not self.type.startswith("pulumi:")


@dataclass
class CostSection(Record):
    """The monthly cost estimate: ``currency``, ``total_monthly``; per-resource lines in ``extras``."""

    currency: str = "USD"
    total_monthly: float | None = None


@dataclass
class PlanDocument(Record):
    """The whole plan. ``policies``, ``checks``, ``cost``, ``quotas``, ``bootstrap`` are ``None`` when
    the stage did not run (the key is then absent from the JSON); other sections (a newer writer's,
    or an optional extra one) travel in ``extras``."""

    stack: str
    project: str | None = None
    format_version: int | None = None
    resources: list[Resource] = dataclasses.field(default_factory=list)
    policies: PoliciesSection | None = None
    checks: ChecksSection | None = None
    cost: CostSection | None = None
    quotas: Any = None
    bootstrap: Any = None

    OPTIONAL: ClassVar[frozenset[str]] = frozenset(
        {"project", "format_version", "policies", "checks", "cost", "quotas", "bootstrap"}
    )

    @classmethod
    def _convert(cls, name: str, value: Any) -> Any:
        if name == "resources":
            return [Resource.from_json(r) for r in value]
        if name == "policies" and isinstance(value, Mapping):
            return PoliciesSection.from_json(value)
        if name == "checks" and isinstance(value, Mapping):
            return ChecksSection.from_json(value)
        if name == "cost" and isinstance(value, Mapping):
            return CostSection.from_json(value)
        return value

    @property
    def rule_sections(self) -> list[RuleSection]:
        """The sections holding rule results that ran (policies, then checks)."""
        return [s for s in (self.policies, self.checks) if isinstance(s, RuleSection)]

    @property
    def violations(self) -> list[Violation]:
        """Policy violations and system-check findings, in one list."""
        return [v for section in self.rule_sections for v in section.violations]

    @property
    def blocking(self) -> list[Violation]:
        """Every blocking violation or finding (the exit code's, and every report's, count)."""
        return [v for v in self.violations if v.blocking]


__all__ = [
    "BLOCKING_ENFORCEMENTS",
    "ChecksSection",
    "CostSection",
    "PlanDocument",
    "PoliciesSection",
    "Record",
    "Resource",
    "RuleSection",
    "Violation",
    "is_blocking",
    "outcome",
]
