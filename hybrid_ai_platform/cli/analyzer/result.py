"""Result shaping: the plan's ``policies`` section from the analyzer's info and diagnostics
(policy metadata from tags, waived violations unwrapped from the exceptions policy, summary)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ..plandoc import is_blocking
from ._common import _ENFORCEMENT, _SEVERITY, EXCEPTIONS_POLICY, WAIVED_MARKER


def _policy_metadata(policy: Any, enforcement: str) -> dict[str, Any]:
    equivalents: dict[str, list[str]] = {"checkov": [], "cdk_nag": [], "trivy": []}
    meta: dict[str, Any] = {"id": None, "category": None, "waivable": True}
    resource_types: set[str] = set()
    for tag in policy.tags:
        key, _, value = tag.partition(":")
        if key == "checkov":
            equivalents["checkov"].append(value)
        elif key == "cdk-nag":
            equivalents["cdk_nag"].append(value)
        elif key == "trivy":
            equivalents["trivy"].append(value)
        elif key == "type":
            resource_types.add(value)
        elif key in ("id", "category"):
            meta[key] = value
        elif tag == "non-waivable":
            meta["waivable"] = False
    return {
        "name": policy.name,
        "id": meta["id"],
        "category": meta["category"],
        "description": policy.description,
        "severity": _SEVERITY.get(policy.severity, "unspecified"),
        "enforcement": enforcement,
        "remediation": policy.remediation_steps,
        "equivalents": equivalents,
        "waivable": meta["waivable"],
        "resource_types": sorted(resource_types),
    }


def _message(diagnostic: Any) -> str:
    message = str(diagnostic.message)
    description = str(diagnostic.description)
    if description and message.startswith(description):
        message = message[len(description) :].lstrip("\n")
    return message or description


def build_section(
    pack: str,
    version: str,
    config_file: str,
    info: Any,
    reconciled: Mapping[str, Mapping[str, Any]],
    diagnostics: Iterable[Any],
    by_urn: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """The ``policies`` section from the analyzer's info and diagnostics."""
    policies = {
        p.name: _policy_metadata(
            p, str(reconciled.get(p.name, {}).get("enforcementLevel", _ENFORCEMENT[p.enforcementLevel]))
        )
        for p in info.policies
    }
    violations = []

    def record(policy: str, urn: str | None, message: str, enforcement: str, exception: Any) -> dict[str, Any]:
        meta = policies.get(policy, {})
        resource = by_urn.get(urn) if urn else None
        return {
            "policy": policy,
            "urn": urn,
            "resource_name": resource["name"] if resource else None,
            "resource_type": resource["type"] if resource else None,
            "message": message,
            "severity": meta.get("severity", "unspecified"),
            "enforcement": enforcement,
            "remediation": meta.get("remediation"),
            "exception": exception,
        }

    for diagnostic in diagnostics:
        message = _message(diagnostic)
        urn = str(diagnostic.urn) or None
        if diagnostic.policyName == EXCEPTIONS_POLICY and WAIVED_MARKER in message:
            payload = json.loads(message.split(WAIVED_MARKER, 1)[1])
            original = str(payload["policy"])
            enforcement = str(policies.get(original, {}).get("enforcement", "mandatory"))
            violations.append(
                record(original, payload.get("urn"), str(payload["message"]), enforcement, payload["exception"])
            )
            continue
        violations.append(
            record(str(diagnostic.policyName), urn, message, _ENFORCEMENT[diagnostic.enforcementLevel], None)
        )
    violations.sort(key=lambda v: (v["policy"], v["urn"] or "", v["message"]))
    summary = {
        "mandatory": sum(1 for v in violations if is_blocking(v)),  # the blocking ones
        "advisory": sum(1 for v in violations if v["enforcement"] == "advisory" and not v["exception"]),
        "excepted": sum(1 for v in violations if v["exception"]),
    }
    return {
        "pack": pack,
        "version": version,
        "config_file": config_file,
        "policies": [policies[name] for name in sorted(policies)],
        "violations": violations,
        "summary": summary,
    }
