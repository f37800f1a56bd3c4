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
STACK_TYPE = "pulumi:pulumi:Stack"


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
    NESTED: ClassVar[Mapping[str, type[Record]]] = {}
    """Named keys whose value is a model: a JSON object is read as that model, a list as a list of them; any other
    value (a section that is ``null``, say) is kept as read."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ready", True)

    def __setattr__(self, name: str, value: Any) -> None:
        """Assigning a named key of a record read from JSON (a stage adding its section) writes the
        key after the keys read, in the order of assignment, as a ``dict`` would."""
        object.__setattr__(self, name, value)
        if (
            self.__dict__.get("_ready")
            and self.present is not None
            and name not in self.key_order
            and name in self._named()
        ):
            object.__setattr__(self, "key_order", (*self.key_order, name))

    @classmethod
    def _named(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.name not in ("extras", "key_order", "present")]

    @classmethod
    def _convert(cls, name: str, value: Any) -> Any:
        """The typed value of key ``name``: plain JSON unless :attr:`NESTED` names its model."""
        model = cls.NESTED.get(name)
        if model is None:
            return value
        if isinstance(value, Mapping):
            return model.from_json(value)
        if isinstance(value, list):
            return [model.from_json(item) for item in value]
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
        if isinstance(value, dict) and value and isinstance(next(iter(value.values())), Record):
            return {key: item.to_json() for key, item in value.items()}
        return value

    def _written(self, name: str) -> bool:
        if self.present is not None:
            return name in self.present or (name in self.key_order and getattr(self, name) is not None)
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
    def key(self) -> tuple[str, str, str]:
        """Identity across plans: policy + URN + message."""
        return (self.policy, self.urn or "", self.message)

    @property
    def waived(self) -> bool:
        """An exception waives this violation."""
        return bool(self.exception)

    @property
    def blocking(self) -> bool:
        """Blocks a deployment (see :func:`is_blocking`)."""
        return self.enforcement in BLOCKING_ENFORCEMENTS and not self.waived


@dataclass
class Rule(Record):
    """A policy's (or system check's) metadata: one entry of ``policies.policies`` or ``checks.checks``
    (``category``, ``waivable``, ... in ``extras``). Every key but ``name`` is written only when present."""

    name: str
    id: str | None = None
    description: str | None = None
    severity: str | None = None
    enforcement: str | None = None
    remediation: str | None = None
    equivalents: dict[str, list[str]] | None = None
    """Equivalent checks of other tools (``checkov``, ``cdk_nag``, ``trivy``) by tool."""
    resource_types: list[str] | None = None
    """The resource types the rule evaluates: ``[]`` the stack as a whole, ``None`` not declared (an older pack)."""

    OPTIONAL: ClassVar[frozenset[str]] = frozenset(
        {"id", "description", "severity", "enforcement", "remediation", "equivalents", "resource_types"}
    )

    @property
    def blocking(self) -> bool:
        """Its violations block a deployment unless waived (metadata has no waiver of its own)."""
        return self.enforcement in BLOCKING_ENFORCEMENTS


@dataclass
class RuleSection(Record):
    """The ``policies`` section (the pack's) or the ``checks`` section (the system checks')."""

    violations: list[Violation] = dataclasses.field(default_factory=list)
    summary: dict[str, int] = dataclasses.field(default_factory=dict)
    rules_key: ClassVar[str] = "policies"

    NESTED: ClassVar[Mapping[str, type[Record]]] = {"violations": Violation}

    @property
    def rules(self) -> list[Rule]:
        """Metadata of every policy (or check) of the section (read from its ``policies`` or ``checks`` key)."""
        return [Rule.from_json(r) for r in self.extras.get(self.rules_key) or []]

    @property
    def blocking(self) -> list[Violation]:
        """The section's blocking violations."""
        return [v for v in self.violations if v.blocking]


@dataclass
class PoliciesSection(RuleSection):
    """The policy pack's results (its ``policies`` metadata: :attr:`rules`)."""

    pack: str | None = None
    version: str | None = None
    config_file: str | None = None
    """The policy config the pack ran with (``policies/config/<stack>.json``)."""

    rules_key: ClassVar[str] = "policies"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"pack", "version", "config_file"})


@dataclass
class ChecksSection(RuleSection):
    """The system checks' results (their ``checks`` metadata: :attr:`rules`)."""

    engine: str | None = None
    as_of: str | None = None
    """The date date-dependent checks judged against (``YYYY-MM-DD``)."""

    rules_key: ClassVar[str] = "checks"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"engine", "as_of"})


@dataclass
class Resource(Record):
    """One resource of the program, as registered with the (mock) engine."""

    urn: str
    type: str
    name: str = ""
    """The logical name (the URN's last part)."""
    custom: bool = True
    id: str | None = None
    """The mock's physical id (custom resources only)."""
    parent: str | None = None
    """The URN of the parent (a component, or the stack)."""
    provider: str | None = None
    """The provider reference (``urn::id``) of a custom resource, when not the default."""
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Resource options that change the deploy (``protect``, ``replace_on_changes``, ...)."""
    inputs: dict[str, Any] = dataclasses.field(default_factory=dict)
    """The resource's inputs (camelCase, as the engine receives them)."""
    dependencies: list[str] = dataclasses.field(default_factory=list)
    property_dependencies: dict[str, list[str]] = dataclasses.field(default_factory=dict)

    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"id", "parent", "provider"})

    @property
    def is_cloud_resource(self) -> bool:
        """Created in AWS or Kubernetes by the deploy: custom and not a provider (the one definition
        behind every "resources" count of every report; components and providers are counted apart)."""
        return self.custom and not self.type.startswith("pulumi:")

    @property
    def is_component(self) -> bool:
        """A ComponentResource (not custom, not the stack itself)."""
        return not self.custom and self.type != STACK_TYPE

    @property
    def is_provider(self) -> bool:
        """An explicit provider resource."""
        return self.type.startswith("pulumi:providers:")


@dataclass
class ResourceCost(Record):
    """One priced resource of the ``cost`` section (its line ``items`` in ``extras``)."""

    urn: str
    name: str = ""
    type: str = ""
    monthly: float | None = None
    """Monthly cost in the section's currency (``None``: not priced)."""


@dataclass
class CostSection(Record):
    """The monthly cost estimate (``price_table`` provenance in ``extras``)."""

    currency: str = "USD"
    region: str | None = None
    total_monthly: float | None = None
    resources: list[ResourceCost] = dataclasses.field(default_factory=list)

    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"region"})

    NESTED: ClassVar[Mapping[str, type[Record]]] = {"resources": ResourceCost}

    def by_urn(self) -> dict[str, ResourceCost]:
        """The priced resources by URN."""
        return {r.urn: r for r in self.resources}


@dataclass
class PlacementUsage(Record):
    """The usage profile a placement entry was priced for (``architecture``, ... in ``extras``)."""

    requests_per_month: float = 0.0
    duration_ms: float = 0.0
    memory_mb: float = 0.0
    peak_to_mean: float = 1.0


@dataclass
class PlacementCost(Record):
    """A placement and its monthly cost (the ``current`` and ``cheapest`` of an entry)."""

    placement: str
    monthly: float


@dataclass
class PlacementAdvice(Record):
    """One preprocessing function's entry of the ``placement`` section (docs/placement.md): its
    monthly cost per placement, the current and the cheapest one, and the break-even rate between
    Lambda on-demand and the cluster (``cluster`` sizing, ``calibrated_from``, ... in ``extras``)."""

    function: str
    usage: PlacementUsage
    current: PlacementCost
    cheapest: PlacementCost
    monthly: dict[str, float] = dataclasses.field(default_factory=dict)
    """Monthly cost per placement (``lambda``, ``lambda-provisioned``, ``cluster``)."""
    overspend_percent: float | None = None
    """How much costlier the current placement is than the cheapest (``None``: infinitely)."""
    break_even_requests_per_month: float | None = None
    """Requests per month above which the cluster is cheaper than Lambda on-demand (``None``: never)."""

    NESTED: ClassVar[Mapping[str, type[Record]]] = {
        "usage": PlacementUsage,
        "current": PlacementCost,
        "cheapest": PlacementCost,
    }

    @property
    def cheaper_side(self) -> str:
        """Which of Lambda on-demand and the cluster is cheaper at the entry's rate (the cluster's node
        steps can make Lambda cheaper again just above the first break-even, so the costs decide)."""
        return "cluster" if self.monthly["cluster"] < self.monthly["lambda"] else "lambda"


@dataclass
class PlacementSection(Record):
    """The break-even advisor's ``placement`` section: one entry per preprocessing function."""

    region: str = ""
    currency: str = "USD"
    functions: list[PlacementAdvice] = dataclasses.field(default_factory=list)

    NESTED: ClassVar[Mapping[str, type[Record]]] = {"functions": PlacementAdvice}


@dataclass
class QuotaNeed(Record):
    """One service quota the stack needs, with the value and the reasons."""

    service_code: str
    quota_code: str
    quota_name: str = ""
    unit: str = ""
    needed: float = 0
    reasons: list[str] = dataclasses.field(default_factory=list)


@dataclass
class QuotasSection(Record):
    """The ``quotas`` section: what ``blueprint preflight`` compares with the account."""

    region: str = ""
    required: list[QuotaNeed] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)

    NESTED: ClassVar[Mapping[str, type[Record]]] = {"required": QuotaNeed}


@dataclass
class PlanDocument(Record):
    """The whole plan. ``policies``, ``checks``, ``cost``, ``placement``, ``quotas``, ``bootstrap`` are
    ``None`` when the stage did not run (the key is then absent from the JSON); a stage that runs on a
    document read from JSON assigns its section, which is then written after the keys read, where the
    stage put it. Other sections (a newer writer's) travel in ``extras``."""

    stack: str
    project: str | None = None
    format_version: int | None = None
    config: dict[str, Any] | None = None
    """The stack config as the program saw it (``aws:region``, ``<project>:<section>``, ...)."""
    resources: list[Resource] = dataclasses.field(default_factory=list)
    outputs: dict[str, Any] | None = None
    policies: PoliciesSection | None = None
    checks: ChecksSection | None = None
    cost: CostSection | None = None
    placement: PlacementSection | None = None
    quotas: QuotasSection | None = None
    bootstrap: Any = None
    """The fresh-account bootstrap section (:mod:`hybrid_ai_platform.cli.bootstrap`), as JSON."""

    OPTIONAL: ClassVar[frozenset[str]] = frozenset(
        {
            "project",
            "format_version",
            "config",
            "outputs",
            "policies",
            "checks",
            "cost",
            "placement",
            "quotas",
            "bootstrap",
        }
    )

    NESTED: ClassVar[Mapping[str, type[Record]]] = {
        "resources": Resource,
        "policies": PoliciesSection,
        "checks": ChecksSection,
        "cost": CostSection,
        "placement": PlacementSection,
        "quotas": QuotasSection,
    }

    @classmethod
    def coerce(cls, document: PlanDocument | Mapping[str, Any]) -> PlanDocument:
        """``document`` itself when typed, else its model (:meth:`from_json`)."""
        return document if isinstance(document, PlanDocument) else cls.from_json(document)

    def stack_config(self, section: str) -> Any:
        """The stack-config value ``<project>:<section>`` as the plan recorded it (``None`` when absent)."""
        return (self.config or {}).get(f"{self.project}:{section}")

    @property
    def region(self) -> str | None:
        """``aws:region`` of the plan's config (``None`` when unset)."""
        value = (self.config or {}).get("aws:region")
        return None if value is None else str(value)

    @property
    def cloud_resources(self) -> list[Resource]:
        """The resources the deploy creates (:attr:`Resource.is_cloud_resource`)."""
        return [r for r in self.resources if r.is_cloud_resource]

    def resource_counts(self) -> dict[str, int]:
        """``cloud`` resources, ``components`` and ``providers`` (the stack itself is never counted)."""
        return {
            "cloud": sum(1 for r in self.resources if r.is_cloud_resource),
            "components": sum(1 for r in self.resources if r.is_component),
            "providers": sum(1 for r in self.resources if r.is_provider),
        }

    @property
    def rules(self) -> list[Rule]:
        """Metadata of every policy and system check the plan was judged by (policies first)."""
        return [rule for section in self.rule_sections for rule in section.rules]

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
    "PlacementAdvice",
    "PlacementCost",
    "PlacementSection",
    "PlacementUsage",
    "PlanDocument",
    "PoliciesSection",
    "QuotaNeed",
    "QuotasSection",
    "Record",
    "Resource",
    "ResourceCost",
    "Rule",
    "RuleSection",
    "Violation",
    "is_blocking",
    "outcome",
]
