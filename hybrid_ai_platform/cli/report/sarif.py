"""SARIF 2.1.0 for GitHub code scanning: one run per stack, one result per policy violation.

- ``tool.driver.rules``: one rule per policy of the pack (id = policy name) with short and full
  description, ``help`` (text and Markdown) = remediation plus the checkov / cdk-nag / trivy
  equivalents, ``properties``: ``severity``, ``enforcement``, ``tags`` (``security``,
  ``checkov:CKV_AWS_145``, ...) and ``security-severity`` (GitHub's 0-10 score).
- ``results``: ``level`` ``error`` exactly for blocking results (mandatory or remediate, not waived:
  :func:`hybrid_ai_platform.cli.plandoc.is_blocking`), else from severity (high or critical →
  ``warning``, other → ``note``); waived violations carry an accepted ``suppressions`` entry
  with the exception's reason; ``locations`` point at the stack file ``stacks/Pulumi.<stack>.yaml``
  and name the resource URN as a logical location;
  ``partialFingerprints`` hash stack + policy + URN + message, so alerts are stable across runs.
- For a diff, ``baselineState`` says whether a result is ``new`` or ``unchanged`` since base.
- ``automationDetails.id`` is ``blueprint/<stack>/`` (a category per stack).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from ..diff import StackDiff
from ..plandoc import PlanDocument, Rule, Violation

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}
TAG_PREFIX = {"checkov": "checkov", "cdk_nag": "cdk-nag", "trivy": "trivy"}


def _version() -> str:
    try:
        return metadata.version("hybrid-ai-platform-blueprints")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def level(violation_or_policy: Violation | Rule) -> str:
    """SARIF level: ``error`` exactly when it blocks (:attr:`~hybrid_ai_platform.cli.plandoc.Violation.blocking`:
    mandatory or remediate, not waived; a policy's metadata has no waiver), ``none`` when disabled,
    else from severity: ``warning`` for critical or high, ``note`` otherwise (advisory, or waived:
    a waived result also carries its accepted suppression)."""
    if violation_or_policy.enforcement == "disabled":
        return "none"
    if violation_or_policy.blocking:
        return "error"
    return "warning" if violation_or_policy.severity in ("critical", "high") else "note"


def _rule_name(policy: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", policy) if part)


def rule(policy: Rule) -> dict[str, Any]:
    """A ``reportingDescriptor`` for one policy's metadata."""
    name = policy.name
    description = policy.description or name
    remediation = policy.remediation or "See the policy's documentation."
    equivalents = policy.equivalents or {}
    tags = ["security", "pulumi", "infrastructure"]
    lines = []
    for key, label in TAG_PREFIX.items():
        ids = list(equivalents.get(key) or [])
        tags.extend(f"{label}:{i}" for i in ids)
        if ids:
            lines.append(f"- {label}: {', '.join(f'`{i}`' for i in ids)}")
    markdown = f"**Remediation:** {remediation}"
    if lines:
        markdown += "\n\n**Equivalent checks:**\n" + "\n".join(lines)
    severity = policy.severity or "medium"
    return {
        "id": name,
        "name": _rule_name(name),
        "shortDescription": {"text": description.split(". ")[0][:200]},
        "fullDescription": {"text": description},
        "help": {"text": f"Remediation: {remediation}", "markdown": markdown},
        "defaultConfiguration": {"level": level(policy)},
        "properties": {
            "severity": severity,
            "enforcement": policy.enforcement or "advisory",
            "tags": tags,
            "security-severity": SECURITY_SEVERITY.get(severity, "5.5"),
        },
    }


def fingerprint(stack: str, violation: Violation) -> str:
    """Stable hash of stack + policy + URN + message."""
    policy, urn, message = violation.key
    return hashlib.sha256("\x1f".join([stack, policy, urn, message]).encode()).hexdigest()[:32]


def run(document: PlanDocument | dict[str, Any], diff: StackDiff | None = None) -> dict[str, Any]:
    """One SARIF run for a plan document (its ``policies`` and ``checks`` sections)."""
    document = PlanDocument.coerce(document)
    stack = document.stack
    pack = (document.policies.pack or "") if document.policies else ""
    policies = {p.name: p for p in document.rules}
    violations = sorted(document.violations, key=lambda v: v.key)
    for v in violations:  # a violation of a policy without metadata still needs a rule
        policies.setdefault(
            v.policy, Rule(name=v.policy, severity=v.severity, enforcement=v.enforcement, remediation=v.remediation)
        )
    rules = [rule(policies[name]) for name in sorted(policies)]
    index = {r["id"]: i for i, r in enumerate(rules)}
    new = {v.key for v in diff.policies.new} if diff else set()
    uri = f"stacks/Pulumi.{stack}.yaml"
    results = []
    for v in violations:
        where = v.resource_name or "stack"
        result: dict[str, Any] = {
            "ruleId": v.policy,
            "ruleIndex": index[v.policy],
            "level": level(v),
            "message": {"text": f"{v.message} ({where}, stack {stack})"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": 1},
                    },
                    "logicalLocations": [
                        {
                            "name": str(where),
                            "fullyQualifiedName": v.urn or f"urn:pulumi:{stack}::{document.project}",
                            "kind": "resource" if v.urn else "module",
                        }
                    ],
                }
            ],
            "partialFingerprints": {"blueprintViolation/v1": fingerprint(stack, v)},
            "properties": {
                "severity": v.severity,
                "enforcement": v.enforcement,
                "resourceType": v.resource_type,
                **({"configField": v.field} if v.field else {}),
            },
        }
        if diff is not None:
            result["baselineState"] = "new" if v.key in new else "unchanged"
        if v.exception:
            exception = v.exception
            result["suppressions"] = [
                {
                    "kind": "external",
                    "status": "accepted",
                    "justification": f"{exception.get('reason')} (owner {exception.get('owner')}, "
                    f"ticket {exception.get('ticket')}, expires {exception.get('expires')})",
                }
            ]
        results.append(result)
    return {
        "tool": {
            "driver": {
                "name": "blueprint",
                "fullName": f"Hybrid AI Platform Blueprints policy pack {pack}".strip(),
                "version": _version(),
                "semanticVersion": _version(),
                "informationUri": "https://www.pulumi.com/docs/iac/using-pulumi/crossguard/",
                "rules": rules,
            }
        },
        "automationDetails": {"id": f"blueprint/{stack}/"},
        "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The repository root."}}},
        "invocations": [{"executionSuccessful": document.policies is not None}],
        "results": results,
        "properties": {
            "stack": stack,
            "policiesEvaluated": document.policies is not None,
            "systemChecksRun": document.checks is not None,
        },
    }


def render(items: Sequence[tuple[PlanDocument | dict[str, Any], StackDiff | None]]) -> str:
    """A SARIF log with one run per (plan document, optional diff)."""
    log = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run(doc, diff) for doc, diff in items]}
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
