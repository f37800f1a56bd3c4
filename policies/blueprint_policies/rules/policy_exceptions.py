"""Audit of the exceptions file: waived violations, expired and refused exceptions, file errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies import exceptions as exc
from hybrid_ai_platform.policies.framework import Meta, StackPolicy
from pulumi_policy import EnforcementLevel, Severity, StackValidationArgs

META = Meta(
    id="BP-GOV-001",
    name="policy-exceptions",
    description="Reports every waived violation with its exception, and exceptions that are invalid, expired, "
    "refused (non-waivable policy) or name an unknown policy.",
    severity=Severity.LOW,
    category="governance",
    resource_types=(),
    enforcement=EnforcementLevel.ADVISORY,
    remediation="Fix policies/exceptions/<stack>.yaml as the message says; renew or remove expired exceptions.",
)


def check(args: StackValidationArgs, config: Mapping[str, Any], report: Callable[..., None]) -> None:
    """Report waived violations (recorded by the other policies in this run) and file problems."""
    from hybrid_ai_platform.policies.framework import discover

    for waived in exc.drain_waived():
        report(waived.to_message(), waived.urn)
    try:
        exceptions = exc.load_exceptions(config.get("exceptionsFile"))
    except exc.ExceptionsFileError as error:
        report(f"exceptions file is invalid, so no exception applies: {error}")
        return
    policies = {p.meta.name: p.meta for p in discover()}
    on = exc.today()
    for number, entry in enumerate(exceptions.exceptions):
        where = f"exceptions[{number}] ({entry.policy} / {entry.resource}, {entry.ticket})"
        meta = policies.get(entry.policy)
        if meta is None:
            report(f"{where} names no policy of this pack; known: {', '.join(sorted(policies))}")
        elif not meta.waivable:
            report(f"{where} is refused: '{entry.policy}' is a non-waivable {meta.category} policy")
        elif entry.expires < on:
            report(f"{where} expired on {entry.expires.isoformat()}; the violation is enforced again")


POLICY = StackPolicy(META, check)
