"""Fixtures for policy authors: build the arguments the engine would pass, run a policy, inspect the outcome.

A policy test takes a few lines (``# GIVEN / # WHEN / # THEN``)::

    from hybrid_ai_platform.policies.testing import provider, resource_args, run
    from hybrid_ai_platform.policies.rules.lambda_tracing_active import POLICY

    def test_rejects_passthrough_tracing():
        args = resource_args("aws:lambda/function:Function", {"tracingConfig": {"mode": "PassThrough"}})
        outcome = run(POLICY, args)
        assert outcome.messages == ["function 'r' tracing mode is PassThrough, not Active"]

Values unknown during preview are written :data:`UNKNOWN` (the engine's sentinel); arguments
wrap properties in ``pulumi_policy``'s unknown-checking proxy, exactly as the pack does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from . import exceptions as exc
from .framework import BlueprintPolicy, ResourcePolicy

UNKNOWN = UNKNOWN_STRING_VALUE
"""The engine's sentinel for a string not known during preview."""

STACK = "test"
PROJECT = "hybrid-ai-platform"


def urn_for(resource_type: str, name: str, stack: str = STACK) -> str:
    """A URN as the engine builds it for a top-level resource."""
    return f"urn:pulumi:{stack}::{PROJECT}::{resource_type}::{name}"


def options(parent: str | None = None, protect: bool = False) -> PolicyResourceOptions:
    """Resource options with engine defaults."""
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


def provider(
    region: str | None = "eu-central-1",
    name: str = "aws",
    default_tags: Mapping[str, str] | None = None,
) -> PolicyProviderResource:
    """An AWS provider as a resource's ``provider`` (region ``None``: not set)."""
    props: dict[str, Any] = {}
    if region is not None:
        props["region"] = region
    if default_tags:
        props["defaultTags"] = {"tags": dict(default_tags)}
    return PolicyProviderResource(
        "pulumi:providers:aws", unknown_checking_proxy(props), urn_for("pulumi:providers:aws", name), name
    )


def resource_args(
    resource_type: str,
    props: Mapping[str, Any],
    name: str = "r",
    config: Mapping[str, Any] | None = None,
    provider_resource: PolicyProviderResource | None = None,
    with_provider: bool = True,
) -> ResourceValidationArgs:
    """``ResourceValidationArgs`` for one resource (a default eu-central-1 provider unless told otherwise)."""
    chosen = provider_resource if provider_resource is not None else (provider() if with_provider else None)
    return ResourceValidationArgs(
        resource_type,
        unknown_checking_proxy(dict(props)),
        urn_for(resource_type, name),
        name,
        options(),
        chosen,
        dict(config or {}),
        {},
    )


def policy_resource(
    resource_type: str,
    props: Mapping[str, Any],
    name: str,
    depends_on: Mapping[str, Sequence[PolicyResource]] | None = None,
    provider_resource: PolicyProviderResource | None = None,
    with_provider: bool = True,
) -> PolicyResource:
    """A ``PolicyResource`` for stack arguments; ``depends_on`` is ``{property: [resources it came from]}``."""
    chosen = provider_resource if provider_resource is not None else (provider() if with_provider else None)
    deps = {k: list(v) for k, v in (depends_on or {}).items()}
    flat = [r for rs in deps.values() for r in rs]
    return PolicyResource(
        resource_type,
        unknown_checking_proxy(dict(props)),
        urn_for(resource_type, name),
        name,
        options(),
        chosen,
        None,
        flat,
        deps,
    )


def stack_args(resources: Sequence[PolicyResource], config: Mapping[str, Any] | None = None) -> StackValidationArgs:
    """``StackValidationArgs`` over ``resources``."""
    return StackValidationArgs(list(resources), dict(config or {}), {})


@dataclass
class Outcome:
    """What a policy did: violations ``(message, urn)``, not-applicable reason, waived violations."""

    violations: list[tuple[str, str | None]] = field(default_factory=list)
    not_applicable: str | None = None
    waived: list[exc.WaivedViolation] = field(default_factory=list)

    @property
    def messages(self) -> list[str]:
        """Just the messages, in report order."""
        return [m for m, _ in self.violations]

    @property
    def passed(self) -> bool:
        """Applicable and no violation."""
        return self.not_applicable is None and not self.violations


def run(
    policy: BlueprintPolicy,
    args: ResourceValidationArgs | StackValidationArgs,
) -> Outcome:
    """Run ``policy`` on ``args`` as the pack would (config from the args)."""
    outcome = Outcome()
    exc.drain_waived()

    def report(message: str, urn: str | None = None) -> None:
        outcome.violations.append((message, urn))

    try:
        if isinstance(policy, ResourcePolicy):
            assert isinstance(args, ResourceValidationArgs), "resource policies take resource_args(...)"
            policy.validate(args, report)
        else:
            assert isinstance(args, StackValidationArgs), "stack policies take stack_args(...)"
            policy.validate(args, report)
    except _NotApplicableError as error:
        outcome.not_applicable = error.reason or "not applicable"
    outcome.waived = exc.drain_waived()
    return outcome
