"""Policy metadata, the two base classes every policy uses, and the registry.

A policy is one module in :mod:`hybrid_ai_platform.policies.rules` exposing ``POLICY``: a
:class:`ResourcePolicy` (judges one resource, ``Analyze``) or a :class:`StackPolicy` (judges
the whole stack and joins sibling resources through property dependencies, ``AnalyzeStack``).
Both wrap ``pulumi_policy`` classes and add what a security team needs:

- metadata: stable id, severity, default enforcement, remediation, the resource types it judges,
  Checkov/cdk-nag/Trivy equivalents (sent to the engine as ``PolicyInfo.tags`` ``id:...``,
  ``type:...``, ``checkov:...``, ...);
- a JSON-schema config (``PolicyConfigSchema``), always including ``exceptionsFile``;
- unknown values during preview become *not applicable*, never a false violation;
- exceptions (:mod:`hybrid_ai_platform.policies.exceptions`) waive violations, except for
  non-waivable policies.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from . import exceptions as exc
from .props import Unknown, urn_name

EXCEPTIONS_FILE_PROPERTY: dict[str, Any] = {
    "type": "string",
    "description": "Exceptions file, relative to the pack directory (e.g. exceptions/prod.yaml). "
    "Defaults to none: no exceptions.",
}


@dataclass(frozen=True)
class Equivalents:
    """The same control in other tools (empty where none exists)."""

    checkov: tuple[str, ...] = ()
    cdk_nag: tuple[str, ...] = ()
    trivy: tuple[str, ...] = ()

    def to_json(self) -> dict[str, list[str]]:
        """As in the plan document's ``policies[].equivalents``."""
        return {"checkov": list(self.checkov), "cdk_nag": list(self.cdk_nag), "trivy": list(self.trivy)}

    def to_tags(self) -> list[str]:
        """As ``PolicyInfo.tags`` entries (``checkov:CKV_AWS_145``, ...)."""
        return (
            [f"checkov:{i}" for i in self.checkov]
            + [f"cdk-nag:{i}" for i in self.cdk_nag]
            + [f"trivy:{i}" for i in self.trivy]
        )


@dataclass(frozen=True)
class Meta:
    """Everything a security team needs to know about a policy besides its code."""

    id: str
    """Stable identifier, ``BP-<AREA>-<NNN>``; never reused."""
    name: str
    """Policy name (kebab-case), the key in ``--policy-pack-config`` and exceptions."""
    description: str
    """One sentence: what must hold."""
    severity: Severity
    """Impact of a violation."""
    remediation: str
    """How to fix a violation, naming the component argument or resource property."""
    category: str
    """``residency``, ``tagging``, ``budget``, ``security`` or ``governance``."""
    resource_types: tuple[str, ...]
    """The Pulumi type tokens the policy judges (``aws:s3/bucket:Bucket``, ...); for a stack policy,
    the types of the resources it reports violations on. A :class:`ResourcePolicy` runs on exactly
    these types (every other type is not applicable). ``("*",)`` is not allowed: list the types
    (tagging policies use the taggable list of ``data/aws_types.json``). Empty only for a stack
    policy that judges the stack as a whole; reports render it as one ``(stack)`` case. Sent as
    ``type:<token>`` tags."""
    enforcement: EnforcementLevel = EnforcementLevel.MANDATORY
    """Default enforcement level. Defaults to mandatory; config may change it per stack."""
    equivalents: Equivalents = field(default_factory=Equivalents)
    """Equivalent rule ids in Checkov, cdk-nag and Trivy. Defaults to none."""
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """JSON-schema properties of the policy's config (``exceptionsFile`` is added). Defaults to none."""
    required: tuple[str, ...] = ()
    """Config properties that must be given. Defaults to none."""
    waivable: bool = True
    """Whether exceptions may waive it. Defaults to true; residency policies are not."""
    standard: str = ""
    """The control of a published standard the policy implements, e.g. ``Kubernetes Pod Security Standards
    (restricted): Seccomp``. Sent as a ``standard:...`` tag. Defaults to none."""

    def __post_init__(self) -> None:
        if isinstance(self.resource_types, str):
            raise TypeError(f"{self.name}: resource_types must be a tuple of type tokens, not a string")
        if any("*" in t or ":" not in t for t in self.resource_types):
            raise ValueError(f"{self.name}: resource_types must list Pulumi type tokens, no wildcards")

    def schema(self) -> PolicyConfigSchema:
        """The ``PolicyConfigSchema`` sent to the engine."""
        properties = {k: dict(v) for k, v in self.config.items()}
        properties["exceptionsFile"] = dict(EXCEPTIONS_FILE_PROPERTY)
        return PolicyConfigSchema(properties=properties, required=list(self.required) or None)

    def tags(self) -> list[str]:
        """``PolicyInfo.tags``: id, category, waivability, equivalents and resource types."""
        tags = [f"id:{self.id}", f"category:{self.category}"]
        if not self.waivable:
            tags.append("non-waivable")
        if self.standard:
            tags.append(f"standard:{self.standard}")
        return tags + self.equivalents.to_tags() + [f"type:{t}" for t in sorted(set(self.resource_types))]


def config_defaults(meta: Meta, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """Config as the engine hands it over: schema defaults overlaid with the given values."""
    result = {k: v["default"] for k, v in meta.config.items() if "default" in v}
    result.update(dict(given or {}))
    return result


class _Reporter:
    """Wraps ``report_violation`` to apply exceptions and name the resource in each message."""

    def __init__(self, meta: Meta, config: Mapping[str, Any], report: ReportViolation, default_urn: str | None) -> None:
        self.meta = meta
        self.report = report
        self.default_urn = default_urn
        self.count = 0
        self._exceptions_file = config.get("exceptionsFile")

    @functools.cached_property
    def exceptions(self) -> exc.ExceptionsFile:
        """The exceptions file, read when the first violation is reported (most checks report none). A file
        that cannot be read waives nothing here; the ``policy-exceptions`` policy reports why."""
        try:
            return exc.load_exceptions(self._exceptions_file)
        except exc.ExceptionsFileError:
            return exc.ExceptionsFile()

    def __call__(self, message: str, urn: str | None = None) -> None:
        urn = urn or self.default_urn
        name = urn_name(urn) if urn else None
        decision = exc.decide(self.exceptions, self.meta.name, urn, name, self.meta.waivable, exc.today())
        if decision.waived_by is not None:
            exc.record_waived(exc.WaivedViolation(self.meta.name, urn, message, decision.waived_by))
            return
        if decision.expired is not None:
            message += (
                f" [exception {decision.expired.ticket} expired on {decision.expired.expires.isoformat()}; "
                "renew it or fix the resource]"
            )
        if decision.refused is not None:
            message += f" [exception {decision.refused.ticket} refused: '{self.meta.name}' is non-waivable]"
        self.count += 1
        self.report(message, urn)


ResourceCheck = Callable[[ResourceValidationArgs, Mapping[str, Any], Callable[[str], None]], None]
"""``check(args, config, report)``: call ``report(message)`` per violation, or
``args.not_applicable(reason)``."""

StackCheck = Callable[[StackValidationArgs, Mapping[str, Any], Callable[..., None]], None]
"""``check(args, config, report)``: call ``report(message, urn)`` per violation (``urn=None``
for the stack as a whole)."""


class ResourcePolicy(ResourceValidationPolicy):
    """A policy over one resource at a time, limited to ``meta.resource_types`` (the one list both
    the engine filter and the reports use, so they cannot drift apart)."""

    def __init__(self, meta: Meta, check: ResourceCheck) -> None:
        if not meta.resource_types:
            raise ValueError(f"{meta.name}: a resource policy must list the resource_types it judges")
        self.meta = meta
        self._check = check
        self._types = frozenset(meta.resource_types)
        super().__init__(
            name=meta.name,
            description=meta.description,
            validate=self._validate,
            enforcement_level=meta.enforcement,
            config_schema=meta.schema(),
            severity=meta.severity,
            tags=meta.tags(),
            remediation_steps=meta.remediation,
        )

    def applies_to(self, resource_type: str) -> bool:
        """Whether the policy judges resources of this type."""
        return resource_type in self._types

    def _validate(self, args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        exc.forget_waived(self.meta.name, args.urn)  # this judgement replaces an earlier one of the same resource
        if args.resource_type not in self._types:
            args.not_applicable(f"{args.resource_type} is not judged by {self.meta.name}")
        config = config_defaults(self.meta, args.get_config())
        reporter = _Reporter(self.meta, config, report_violation, args.urn)
        try:
            self._check(args, config, lambda message: reporter(message))
        except (Unknown, UnknownValueError) as error:
            args.not_applicable(f"not applicable during preview: {error}")


class StackPolicy(StackValidationPolicy):
    """A policy over the whole stack (joins sibling resources through property dependencies)."""

    def __init__(self, meta: Meta, check: StackCheck) -> None:
        self.meta = meta
        self._check = check
        super().__init__(
            name=meta.name,
            description=meta.description,
            validate=self._validate,
            enforcement_level=meta.enforcement,
            config_schema=meta.schema(),
            severity=meta.severity,
            tags=meta.tags(),
            remediation_steps=meta.remediation,
        )

    def _validate(self, args: StackValidationArgs, report_violation: ReportViolation) -> None:
        config = config_defaults(self.meta, args.get_config())
        reporter = _Reporter(self.meta, config, report_violation, None)
        try:
            self._check(args, config, reporter)
        except (Unknown, UnknownValueError) as error:
            args.not_applicable(f"not applicable during preview: {error}")


BlueprintPolicy = ResourcePolicy | StackPolicy


class DuplicatePolicyError(ValueError):
    """Two policies share a name or an id."""


def discover(package: str = "hybrid_ai_platform.policies.rules") -> list[BlueprintPolicy]:
    """Import every module of the rules package and collect its ``POLICY``, sorted by id.

    Raises :class:`DuplicatePolicyError` when a name or an id is used twice, and
    ``TypeError`` when a module has no ``POLICY``.
    """
    module = importlib.import_module(package)
    policies: list[BlueprintPolicy] = []
    for info in sorted(pkgutil.iter_modules(module.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        rule = importlib.import_module(f"{package}.{info.name}")
        policy = getattr(rule, "POLICY", None)
        if not isinstance(policy, ResourcePolicy | StackPolicy):
            raise TypeError(f"{package}.{info.name} must define POLICY as a ResourcePolicy or StackPolicy")
        policies.append(policy)
    return check_unique(policies)


def check_unique(policies: list[BlueprintPolicy]) -> list[BlueprintPolicy]:
    """Reject duplicate names and ids; return the policies sorted by id."""
    seen_names: dict[str, str] = {}
    seen_ids: dict[str, str] = {}
    for policy in policies:
        if policy.meta.name in seen_names:
            raise DuplicatePolicyError(f"policy name '{policy.meta.name}' is used twice")
        if policy.meta.id in seen_ids:
            raise DuplicatePolicyError(
                f"policy id '{policy.meta.id}' is used by '{seen_ids[policy.meta.id]}' and '{policy.meta.name}'"
            )
        seen_names[policy.meta.name] = policy.meta.id
        seen_ids[policy.meta.id] = policy.meta.name
    return sorted(policies, key=lambda p: p.meta.id)


def pack_policies() -> list[BlueprintPolicy]:
    """The pack's policies in the order the pack runs them (``policy-exceptions`` last)."""
    policies = discover()
    return [p for p in policies if p.meta.name != "policy-exceptions"] + [
        p for p in policies if p.meta.name == "policy-exceptions"
    ]
